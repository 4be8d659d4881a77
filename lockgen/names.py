"""Package names as PEP 503 compares them: ``Foo_Bar.baz`` is ``foo-bar-baz``.

The same rule as ``packaging.utils.canonicalize_name``, without importing
``packaging.tags`` into every command's start-up.
"""

from __future__ import annotations

import functools
import re

_SEPARATORS = re.compile(r"[-_.]+")


@functools.lru_cache(maxsize=4096)  # a compile asks for the same ~100 names thousands of times
def canonical(name: str) -> str:
    return _SEPARATORS.sub("-", name).lower()

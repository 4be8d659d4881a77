"""TOML reading: ``tomli`` where it is compiled (about three times faster than the
standard library's parser on a 40 kB lock, which every compile reads back), else
stdlib ``tomllib`` (3.11+)."""

from __future__ import annotations

import sys

try:
    import tomli as tomllib
except ImportError:  # pragma: no cover - tomli is a dependency; stdlib as a fallback
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        raise

TOMLDecodeError = tomllib.TOMLDecodeError
loads = tomllib.loads

__all__ = ["TOMLDecodeError", "loads"]

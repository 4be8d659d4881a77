"""TOML reading, TOML 1.0 exactly: what PEP 751 locks are written in and what Python's
``tomllib`` and pip read. ``tomli`` where it is a 1.0 parser (below 2.4; compiled, about
twice as fast as the standard library's and quicker to import), else the standard
library's ``tomllib`` (3.11+). tomli 2.4 reads TOML 1.1 too (``"\\e"``, newlines in
inline tables, times without seconds): a lock using those would pass ``check`` and fail
in pip."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def _parser() -> ModuleType:
    tomli: ModuleType | None
    try:
        import tomli
    except ImportError:  # pragma: no cover - tomli is a dependency
        tomli = None
    if tomli is not None and tuple(int(p) for p in tomli.__version__.split(".")[:2]) < (2, 4):
        return tomli
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    if tomli is None:  # pragma: no cover - 3.10 without its dependency
        raise ImportError("lockgen needs tomli on Python 3.10")
    return tomli  # pragma: no cover - 3.10 with a tomli that someone forced past 2.4


_TOML = _parser()
TOMLDecodeError: type[ValueError] = _TOML.TOMLDecodeError
_loads = _TOML.loads
_DEEP = "arrays or tables nested too deeply to read"


def loads(text: str) -> dict[str, Any]:
    """``text`` read as TOML; TOMLDecodeError for what is not TOML, as for what nests
    deeper than the parser goes (tomli raises RecursionError there, which read as a bug)."""
    try:
        return _loads(text)  # type: ignore[no-any-return]
    except RecursionError:
        err = TOMLDecodeError(_DEEP, text, 0)  # tomli's (and Python 3.14's) form: where, in words
        raise (err if hasattr(err, "lineno") else TOMLDecodeError(_DEEP)) from None


__all__ = ["TOMLDecodeError", "loads"]

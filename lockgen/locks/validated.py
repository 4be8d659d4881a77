"""What validating a lock found, remembered under the sha256 of its text.

Validating through ``packaging.pylock`` costs ~20 ms a lock (and ~60 ms to import);
every command reads locks. The summary :func:`lockgen.locks.pylock.parse` builds is
kept in lockgen's cache folder, keyed by the text and by what validated it (another
lockgen or packaging validates afresh): text validated once is read back from
there, and any edit is new text, validated again.

A lock laid out as lockgen writes it (its packages, then ``[tool.lockgen]`` last) is
also remembered by its packages alone: a compile after an input edit changes the table
(its input digest) and, mostly, none of the packages, and validating those again cost
~80 ms of every such compile. The two kinds of key hash different prefixes and never
meet. The folder is the user's own and private (see :func:`lockgen.files.cache_folder`):
what it says is lockgen's doing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from lockgen import __version__, files
from lockgen._toml import TOMLDecodeError, loads
from lockgen.exceptions import LockgenError

_KEYS = {"meta", "versions", "dependencies", "artifacts", "places", "markers", "directories"}
_TOOL_TABLE = "\n[tool.lockgen]\n"


def recall(text: str) -> dict[str, Any] | None:
    """What validating ``text`` found, if its packages or the whole text were validated
    before (then only its ``[tool.lockgen]`` table is read, and must be exactly that)."""
    head, tail = split(text)
    if tail is not None:
        summary = _get(_packages_key(head))
        meta = _table_of(tail) if summary is not None else None
        if summary is not None and meta is not None:
            return {**summary, "meta": meta}
    return _get(_text_key(text))


def remember(text: str, summary: dict[str, Any]) -> None:
    """Keep what validating ``text`` found: by its packages where they stand on their
    own (then any ``[tool.lockgen]`` after them only adds that table), else whole."""
    head, tail = split(text)
    if tail is not None and _standalone(head) and _table_of(tail) is not None:
        _put(_packages_key(head), {**summary, "meta": {}})
    else:
        _put(_text_key(text), summary)


def split(text: str) -> tuple[str, str | None]:
    """The text before a last ``[tool.lockgen]`` table, and that table; (text, None)
    where there is none."""
    at = text.rfind(_TOOL_TABLE)
    return (text, None) if at == -1 else (text[: at + 1], text[at + 1 :])


def _text_key(text: str) -> str:
    return hashlib.sha256(b"text\0" + text.encode()).hexdigest()


def _packages_key(head: str) -> str:
    return hashlib.sha256(b"packages\0" + head.encode()).hexdigest()


def _standalone(head: str) -> bool:
    """Is the part before ``[tool.lockgen]`` a whole TOML document with no ``tool`` of
    its own? Then any such table after it only adds ``tool.lockgen`` to it: the
    packages, and their validity, are the same whatever the table says."""
    try:
        return "tool" not in loads(head)
    except TOMLDecodeError:
        return False


def _table_of(tail: str) -> dict[str, Any] | None:
    """``[tool.lockgen]`` read on its own; None unless it is exactly that one table."""
    try:
        data = loads(tail)
    except TOMLDecodeError:
        return None
    tool = data.get("tool")
    if data.keys() != {"tool"} or not isinstance(tool, dict) or tool.keys() != {"lockgen"}:
        return None
    meta = tool["lockgen"]
    return meta if isinstance(meta, dict) else None


def _get(key: str) -> dict[str, Any] | None:
    """The summary kept under ``key``; None if there is none."""
    path = _path(key)
    if path is None:
        return None
    data = files.read_json(path)
    return data if isinstance(data, dict) and data.keys() >= _KEYS else None


def _put(key: str, summary: dict[str, Any]) -> None:
    """Keep ``summary`` under ``key`` (quietly not, where it cannot)."""
    path = _path(key)
    if path is None:
        return
    try:
        text = json.dumps(summary, separators=(",", ":"))
    except (TypeError, ValueError):
        return  # a hand-written [tool.lockgen] with dates or the like: validate every time
    with contextlib.suppress(OSError, LockgenError):
        files.write_atomic(path, text)
        files.prune(path.parent, keep=2000)


def _path(key: str) -> Path | None:
    import packaging

    folder = files.cache_folder("parsed")
    if folder is None:
        return None
    validator = hashlib.sha256(f"{__version__} {packaging.__version__}".encode()).hexdigest()[:12]
    return folder / f"{validator}-{key}.json"

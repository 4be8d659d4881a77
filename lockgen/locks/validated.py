"""What validating a lock found, remembered under the sha256 of its text.

Validating through ``packaging.pylock`` costs ~20 ms a lock (and ~60 ms to import);
every command reads locks. The summary :func:`lockgen.locks.pylock.parse` builds is
kept in lockgen's cache folder, keyed by the text and by what validated it (another
lockgen or packaging validates afresh): text validated once is read back from
there, and any edit is new text, validated again. :func:`lockgen.locks.pylock.parse`
also keys a lock's packages alone (the text before its ``[tool.lockgen]`` table), so a
new table over known packages is not validated again; the two kinds of key hash
different prefixes and never meet. The folder is the user's own and private (see
:func:`lockgen.files.cache_folder`): what it says is lockgen's doing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from lockgen import __version__, files
from lockgen.exceptions import LockgenError

_KEYS = {"meta", "versions", "dependencies", "artifacts", "places"}


def get(key: str) -> dict[str, Any] | None:
    """The summary kept for the text whose sha256 is ``key``; None if there is none."""
    path = _path(key)
    if path is None:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.keys() >= _KEYS else None


def put(key: str, summary: dict[str, Any]) -> None:
    """Keep ``summary`` for the text whose sha256 is ``key`` (quietly not, where it cannot)."""
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

"""Private folders in the temporary folder, and what killed runs left there.

A compile copies intent files (which may hold credentials) into such a folder, a
check pins a version there, a sync rewrites a lock there. Each is removed after
use; one a killed run left is removed by a later run on the same host once that
process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_PRIVATE = "lockgen-"


def _host() -> str:
    """This machine, in a folder name: a shared temporary folder (NFS, a container's
    bind mount) may hold another host's live runs, whose pids mean nothing here."""
    node = os.uname().nodename if hasattr(os, "uname") else ""
    return hashlib.sha256(node.encode()).hexdigest()[:8]


@contextlib.contextmanager
def folder(kind: str) -> Iterator[Path]:
    """A new folder only this user can read, in the temporary folder, removed after use.
    Named ``lockgen-<kind>-<host>-<pid>-…``: should this process be killed, a later run
    on this host sees the process is gone and removes it (:func:`clean`)."""
    with tempfile.TemporaryDirectory(prefix=f"{_PRIVATE}{kind}-{_host()}-{os.getpid()}-") as path:
        yield Path(path)


def clean() -> None:
    """Remove the private folders of this user's lockgen processes on this host that
    are gone. Not on Windows, whose temporary folder is the user's own and whose
    ``os.kill`` would end the process rather than ask about it."""
    if not hasattr(os, "getuid"):
        return
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return
    host = _host()
    for entry in entries:
        parts = entry.name.removeprefix(_PRIVATE).split("-")
        if not entry.name.startswith(_PRIVATE) or len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
            continue
        try:
            mine = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue
        if mine and not _alive(int(parts[2])):
            import shutil

            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # there, and another user's
        return True
    return True

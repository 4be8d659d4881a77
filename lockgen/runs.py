"""One run at a time: the run locks of compile, sync and wheelhouse.

A run lock is a file in lockgen's cache folder (``runs/``), locked while a run holds it,
and naming its holder and the programs it runs; the folder the run works in is locked
too where the system can lock folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lockgen import files
from lockgen.exceptions import LockgenError


def _lock_folder() -> Path:
    folder = files.cache_folder("runs")
    if folder is None:
        raise LockgenError("no writable folder for lockgen's run locks (set LOCKGEN_CACHE_DIR)")
    return folder


@contextlib.contextmanager
def run_lock(kind: str, key: Path, *, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the ``kind`` lock (``compile`` or ``sync``) of ``key`` (a project's locks
    folder, an environment). A second run waits, saying once whom it waits for.

    The lock is a file in lockgen's cache folder, which records its holder for that
    message, and the programs it runs (:func:`started`): a holder killed with -9 lets go
    of the lock at once while the uv it started goes on changing the environment, and
    the next run waits for that uv too. The folder ``key`` itself is locked as well
    (POSIX, once it exists), so that runs whose cache folders differ (another
    ``LOCKGEN_CACHE_DIR``, ``sudo``) wait for each other."""
    resolved = os.path.realpath(key)
    name = f"{kind}-{hashlib.sha256(resolved.encode()).hexdigest()[:20]}.lock"
    path = _lock_folder() / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    held: int | None = None
    try:
        if not _try_lock(fd):
            holder = _read_holder(fd).split(_RUNNING, 1)[0] or "another lockgen process"
            say(f"waiting for {holder} to finish with {resolved}")
            _lock(fd)
        _outlived(_read_holder(fd), resolved, say)
        held = _lock_itself(resolved, say)
        me = f"process {os.getpid()} (lockgen {kind}, since {time.strftime('%H:%M:%S')})"
        with _GUARD:
            _HOLDING[fd] = me
            _write_holder(fd, me)
        yield
    finally:
        with _GUARD:
            _HOLDING.pop(fd, None)
        if held is not None:
            os.close(held)
        os.close(fd)  # closing releases the lock, also when the process is killed


# The run locks this process holds (descriptor → its holder line), and the programs it runs
# (pid → "pid:start"), which those lines list while they run.
_HOLDING: dict[int, str] = {}
_CHILDREN: dict[int, str] = {}
_GUARD = threading.Lock()  # compile starts and ends programs in several threads
_RUNNING = " running "


def started(pid: int) -> None:
    """A program lockgen just started (lockgen.command): listed in every run lock held."""
    with _GUARD:
        if _HOLDING:
            _CHILDREN[pid] = f"{pid}:{_start_time(pid)}"
            _note()


def ended(pid: int) -> None:
    with _GUARD:
        if _CHILDREN.pop(pid, None) is not None:
            _note()


def _note() -> None:
    running = _RUNNING + " ".join(_CHILDREN.values()) if _CHILDREN else ""
    for fd, me in _HOLDING.items():
        _write_holder(fd, me + running)


def _outlived(holder: str, resolved: str, say: Callable[[str], None]) -> None:
    """Wait for the programs a killed holder left running (a uv still installing); not
    for what they started in turn, which may be a daemon that never ends."""
    me, _, running = holder.partition(_RUNNING)
    said = False
    for entry in running.split():
        pid, _, start = entry.partition(":")
        while pid.isdigit() and _start_time(int(pid)) == start and _runs(int(pid)):
            if not said:
                say(f"waiting for process {pid}, which {me} started, and which outlived it, to finish with {resolved}")
                said = True
            time.sleep(0.1)


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command's name (Linux; none where
    there is no such file): the state first, the start time at 19."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot), telling it from a
    later process given its number; "" where that cannot be read."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""


def _runs(pid: int) -> bool:
    """Does process ``pid`` run? One that has ended but that no parent has reaped (a
    container whose first process reaps nothing) is a zombie: it runs no more."""
    if sys.platform == "win32":  # pragma: no cover - there, signal 0 would end the process
        return False
    if _stat_fields(pid)[:1] in (["Z"], ["X"]):  # without /proc, signal 0 alone tells
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: it runs
        return True
    return True


def _lock_itself(folder: str, say: Callable[[str], None]) -> int | None:
    """An open, locked descriptor of ``folder``; None where it does not exist (yet, or
    no longer once waited for), or cannot be locked (Windows, a filesystem without
    locks): the run lock alone then."""
    if sys.platform == "win32":  # pragma: no cover - no locks on folders there
        return None
    said = False
    while True:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return None
        try:
            if not _try_lock(fd):
                if not said:
                    say(f"waiting for another lockgen run to finish with {folder} (its run locks are kept elsewhere)")
                    said = True
                _lock(fd)
            if _same_file(os.fstat(fd), folder):
                return fd
        except OSError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        # The run waited for removed the folder (another may have made it again): lock what is there now.
        os.close(fd)


def _same_file(opened: os.stat_result, path: str) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _HOLDER_AT = 1  # byte 0 is the lock; the holder's description follows it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _lock(fd: int) -> None:
        while not _try_lock(fd):
            time.sleep(0.1)

else:
    import fcntl

    _HOLDER_AT = 0

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 1 << 16, _HOLDER_AT).decode("utf-8", "replace").strip("\0 \n")
    except (OSError, AttributeError):
        return ""


def _write_holder(fd: int, text: str) -> None:
    data = text.encode()
    with contextlib.suppress(OSError, AttributeError):  # written, then cut to length: never empty in between
        os.pwrite(fd, data, _HOLDER_AT)
        os.ftruncate(fd, _HOLDER_AT + len(data))

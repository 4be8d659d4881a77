"""Writing files so that no failure or kill leaves a half-written one.

* :func:`write_atomic`: one file, old or new at every instant (temp file,
  fsync, rename, fsync of the folder). Several files that change together:
  :mod:`lockgen.fileset`.
* :func:`run_lock`: one lockgen run at a time per project or environment.
* :func:`clean_stale`: what killed runs left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lockgen.exceptions import InputError, LockgenError

PREFIX = ".lockgen-"  # every temporary name lockgen makes in a project's folders
JOURNAL = f"{PREFIX}commit.json"


def failure(exc: OSError, doing: str, path: Path | str | None = None) -> LockgenError:
    """One clear line for a filesystem error: what failed, on which path, and why."""
    where = str(path) if path is not None else exc.filename or ""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = f"not writable ({exc.strerror})"
    return LockgenError(f"cannot {doing}{f' {where}' if where else ''}: {reason}")


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover - Windows has no directory fsync
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(path: Path, text: str) -> Path:
    """``text`` in a new temporary file beside ``path``, flushed to disk."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{PREFIX}{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def sha256(path: str | os.PathLike[str]) -> bytes:
    """The sha256 digest of a file's bytes, read a MiB at a time (unbuffered: a third
    faster over thousands of small files, as an environment's are)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        while block := os.read(fd, 1 << 20):
            h.update(block)
    finally:
        os.close(fd)
    return h.digest()


def unreachable(path: Path) -> str | None:
    """Why the system cannot even look for ``path`` (a name too long, a loop of links, a
    folder it may not enter); None where it can, whether or not it is there. Every later
    look at it (is it a file? a folder?) would raise, and be no line naming the key or
    flag it came from."""
    if any(len(os.fsencode(part)) > 255 for part in path.parts):  # even below a folder not there yet
        return os.strerror(errno.ENAMETOOLONG)
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError:  # a NUL
        return "it holds a NUL byte"
    return None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see old or new, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = write_temp(path, text)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
    except OSError as exc:
        raise failure(exc, "write", path) from None


def make_folder(folder: Path) -> Path | None:
    """Create ``folder`` (and its parents) if needed; the topmost folder this call
    created (None: it was there). Another run making it at the same moment is no error."""
    missing = [p for p in (folder, *folder.parents) if not p.is_dir()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise failure(exc, "create") from None
    return missing[-1] if missing else None


def remove_if_empty(folder: Path, *, up_to: Path | None = None) -> None:
    """Remove ``folder`` if empty, and then each parent up to ``up_to`` that is left empty."""
    for level in (folder, *folder.parents):
        try:
            level.rmdir()
        except OSError:
            return
        if up_to is None or level == up_to:
            return


@contextlib.contextmanager
def made_folder(folder: Path) -> Iterator[Callable[[], None]]:
    """``folder``, made if missing, for the block, which gets a function that removes
    again what was made here, where left empty (a dry run, a run where nothing was
    written; call it while still holding the run lock). A failure removes it too."""
    created = make_folder(folder)

    def undo() -> None:
        if created is not None:
            remove_if_empty(folder, up_to=created)

    try:
        yield undo
    except BaseException:
        undo()
        raise


def probe_writable(folder: Path, *, doing: str = "write to") -> None:
    """Fail early, in one line, when ``folder`` cannot take new files. A byte is written:
    a full file system still makes an empty file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{PREFIX}probe-")
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise failure(exc, doing, folder) from None


def read_json(path: Path) -> object:
    """The JSON document at ``path``; None where it is missing, unreadable or no JSON
    Python reads (nested past its depth among them: RecursionError, not ValueError)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def clean_stale(folder: Path, *, prefix: str | tuple[str, ...] = PREFIX) -> None:
    """Remove what killed runs left in ``folder``: temporary files and folders whose
    names start with ``prefix``. Call it only while holding the run lock that
    guards those names."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix) or entry.name == JOURNAL:
            continue
        if entry.is_dir() and not entry.is_symlink():
            import shutil

            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


# --- one run at a time ----------------------------------------------------------


def cache_folder(name: str) -> Path | None:
    """A writable folder of lockgen's own: in the user's cache, else a private temporary
    one; None when neither can be made. ``LOCKGEN_CACHE_DIR`` names it instead: used, or
    bad input saying why not, never passed over."""
    if os.environ.get("LOCKGEN_CACHE_DIR"):
        return _asked_for(Path(os.environ["LOCKGEN_CACHE_DIR"]) / name)
    candidates = []
    with contextlib.suppress(Exception):
        import platformdirs

        candidates.append(platformdirs.user_cache_path("lockgen") / name)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    candidates.append(Path(tempfile.gettempdir()) / f"lockgen-{uid}" / name)
    for folder in candidates:
        if folder in _FOLDERS:
            return folder
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.access(folder, os.W_OK) and _private(folder):
                _FOLDERS.add(folder)
                return folder
        except OSError:
            continue
    return None


def require_asked_cache() -> None:
    """An unusable ``LOCKGEN_CACHE_DIR`` is bad input before any work begins: found by a
    step that reads the cache for one variant, it would read as that variant's failure."""
    if os.environ.get("LOCKGEN_CACHE_DIR"):
        cache_folder("runs")


def _asked_for(folder: Path) -> Path:
    """``LOCKGEN_CACHE_DIR``'s folder, or bad input saying why it cannot be used: falling
    back to another would move the run locks that keep two runs apart without a word."""
    if folder in _FOLDERS:
        return folder
    try:
        chain = (folder, *folder.parents)
        missing = [p for p in chain if not p.exists()]
        if _open_to_all(chain[len(missing)]):  # it and every folder above; refused before anything is made there
            why = "writable by every user, without /tmp's sticky bit: anyone could replace what lockgen keeps in it"
        else:
            for level in reversed(missing):  # each made private, not as the umask says: parents=True would
                level.mkdir(mode=0o700, exist_ok=True)
            if not os.access(folder, os.W_OK):
                why = "not writable"
            elif not _private(folder):
                why = "writable by other users, or not theirs who runs lockgen"
            else:
                _FOLDERS.add(folder)
                return folder
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = getattr(exc, "strerror", None) or str(exc)
    raise InputError(f"LOCKGEN_CACHE_DIR: {folder.parent} cannot hold lockgen's cache ({why})")


def _private(folder: Path) -> bool:
    """Owned by this user and writable by no one else, up to (not including) the shared
    temporary folder: what lockgen trusts there (a validated lock, a passed check)
    must be its own doing."""
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows: per-user folders
        return True
    shared = Path(tempfile.gettempdir())
    path = folder
    while True:
        st = path.lstat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return False
        if not path.is_relative_to(shared) or path.parent == shared or path.parent == path:
            return True
        path = path.parent


def _open_to_all(folder: Path) -> bool:
    """Is ``folder``, or a folder above it, writable by every user and not sticky (as
    ``/tmp`` is, where no user may rename another's entries)? Anyone could rename the
    folder below it, lockgen's among them, and put their own."""
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows: per-user folders
        return False
    for level in (folder, *folder.resolve().parents):
        mode = level.stat().st_mode
        if mode & 0o002 and not mode & 0o1000:
            return True
    return False


_FOLDERS: set[Path] = set()


def prune(folder: Path, *, keep: int) -> None:
    """Keep the ``keep`` newest files of a cache folder (checked now and then, cheaply)."""
    if hash(os.getpid() + int(time.time())) % 50:  # about one write in fifty looks
        return
    entries = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    for old in entries[: max(0, len(entries) - keep)]:
        old.unlink(missing_ok=True)

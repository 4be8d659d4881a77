"""Files of one folder that change together (a compile's locks), or not at all.

Each new file is written beside its target; then a journal naming every rename, with
the sha256 of what each target holds and is to hold, is made durable; then the renames
run.

* A run killed after the journal is finished by the next one (:func:`recover`).
* A run stopped by Ctrl-C or SIGTERM during the renames finishes them before it
  stops; the files the journal names are never removed while it stands.
* A rename that fails (a target made immutable, say) puts back what the run had
  replaced, the journal first turned into that undoing.

The set is old or new, never a mix. A journal is carried out only where its folder is
as the interrupted run left it: written by a run of this user on this machine (it names
a token that run kept in lockgen's cache, outside the project: a journal that came with
a commit names none there), for this very folder (its device and inode); every name in
it a plain file name of that folder (the renamed ones lockgen's own
temporary names), a regular file; every rename not yet done with its file as written
and its target as it was; every one done with its target as the journal says. Any
other journal is dropped, the folder left as it is: one that came with a commit (``git
add locks`` after a kill), one written by anything else, or one whose folder changed
since (``git checkout -- locks`` after a kill, a switch of branch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from lockgen.exceptions import InputError, LockgenError
from lockgen.files import (
    JOURNAL,
    PREFIX,
    cache_folder,
    failure,
    fsync_dir,
    probe_writable,
    prune,
    read_json,
    sha256,
    write_temp,
)

# What a killed commit leaves besides its journal: its new files, the second names of
# replaced ones, and a journal not yet renamed into place.
LEFT = (f"{PREFIX}old.", f"{PREFIX}{JOURNAL}.")
_SHA = re.compile(r"[0-9a-f]{64}")
_TOKEN = re.compile(r"[0-9a-f]{32}")

# from, to, sha256 of the file renamed, sha256 of what the target held before ("": nothing)
Entry = tuple[str, str, str, str]


class FileSet:
    """Files of one folder that are replaced together, or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[Path, Path, str]] = []  # (temporary, target, sha256 of the text)
        self._journalled = False

    def add(self, path: Path, text: str) -> None:
        try:
            tmp = write_temp(path, text)
        except OSError as exc:
            self.discard()
            raise failure(exc, "write", path) from None
        self.pending.append((tmp, path, hashlib.sha256(text.encode("utf-8")).hexdigest()))

    def discard(self) -> None:
        """Remove the new files, unless a journal names them: the next run needs them."""
        if not self._journalled:
            for tmp, _, _ in self.pending:
                tmp.unlink(missing_ok=True)
        self.pending.clear()

    def commit(self) -> None:
        if not self.pending:
            return
        journal = self.folder / JOURNAL
        renames = [(tmp.name, target.name, sha, _sha_of(target) or "") for tmp, target, sha in self.pending]
        token = os.urandom(16).hex()  # what secrets.token_hex does, without loading hmac and base64 into every compile
        replaced: list[tuple[Path, Path | None, str]] = []  # target, a second name for what it held, new sha
        self._journalled = True  # from the journal's first byte, the new files are what it promises: kept
        try:
            _write_journal(journal, renames, token=token)
            for tmp, target, sha in self.pending:
                old = _keep(target)
                try:
                    os.replace(tmp, target)
                except OSError:
                    if old is not None:
                        old.unlink(missing_ok=True)
                    raise
                replaced.append((target, old, sha))
        except OSError as exc:
            undone = self._roll_back(replaced, journal, token)
            said = "no lock was changed" if undone else "the set is part old, part new: run lockgen compile"
            raise LockgenError(f"{failure(exc, 'replace', target)}; {said}") from None
        except BaseException:  # Ctrl-C, SIGTERM; or the journal could not be written (a full disk)
            if _names(journal, token):  # it is in place, renames begun or not: what it promises is done first
                with contextlib.suppress(OSError, LockgenError):
                    _finish(self.folder, renames)
                    _forget(token)
                    self._forget_old()
            else:  # nothing promised: the new files go
                self._journalled = False
                _forget(token)
            raise
        _finish(self.folder, renames)
        _forget(token)
        self._forget_old()

    def _forget_old(self) -> None:
        """After the commit: the second names of the files it replaced go."""
        for _, target, _ in self.pending:
            _second_name(target).unlink(missing_ok=True)
        self.pending.clear()

    def _roll_back(self, replaced: list[tuple[Path, Path | None, str]], journal: Path, token: str) -> bool:
        """Put back what a failed commit replaced and forget the commit; False when that
        fails too (the journal stays: the next compile finishes the set). The journal is
        first turned into the undoing, so that a kill midway is undone by the next run."""
        try:
            renames = [(old.name, target.name, sha256(old).hex(), new) for target, old, new in replaced if old]
            removals = [(target.name, sha) for target, old, sha in replaced if old is None]
            undoing = _write_journal(journal, renames, removals)
            _forget(token)  # the commit's journal is gone: replaced by the undoing
            _finish(self.folder, renames, removals)
            _forget(undoing)
        except (OSError, LockgenError):
            self.pending.clear()
            return False
        self._journalled = False
        self.discard()
        return True


def _write_journal(
    journal: Path, renames: Sequence[Entry], removals: Sequence[tuple[str, str]] | None = None, *, token: str = ""
) -> str:
    """Write the journal, durably; its token (``token``, or a new one), kept in lockgen's
    cache meanwhile with the sha256 of the journal's exact text: only that journal, not
    another naming the token (one copied from a journal committed by mistake), is ever
    carried out."""
    token = token or os.urandom(16).hex()
    tokens = _tokens()
    data: dict[str, object] = {"run": token, "folder": identity(journal.parent)}
    data["renames"] = [list(entry) for entry in renames]
    if removals is not None:
        data["remove"] = [list(entry) for entry in removals]
    text = json.dumps(data)
    if tokens is not None:
        try:
            write_temp(tokens / token, hashlib.sha256(text.encode()).hexdigest()).replace(tokens / token)
        except OSError as exc:  # lockgen's cache, not the locks folder: named as such
            raise failure(exc, "write lockgen's cache file", tokens / token) from None
    try:
        tmp = write_temp(journal, text)
        os.replace(tmp, journal)
        fsync_dir(journal.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):  # in place, but not known durable: nothing is promised, no rename done
            if _names(journal, token):
                journal.unlink()
        raise failure(exc, "write", journal) from None
    return token


def probe() -> None:
    """Fail now, in one line naming it, where lockgen's cache cannot keep a commit's token
    (a full disk there): found at the commit, after every resolution, it read as the locks
    folder's failure."""
    tokens = _tokens()
    if tokens is not None:
        probe_writable(tokens, doing="write lockgen's cache file")


def _names(journal: Path, token: str) -> bool:
    """Is ``journal`` in place, and the one that names ``token``?"""
    data = read_json(journal)
    return isinstance(data, dict) and data.get("run") == token


def _in_repository(tokens: Path, folder: Path) -> bool:
    """Is the token folder (``LOCKGEN_CACHE_DIR`` set inside the project, or a link into
    it) in the repository that holds ``folder``? A commit could bring tokens there."""
    real, top = tokens.resolve(), folder.resolve()
    for candidate in (top, *top.parents):
        if (candidate / ".git").exists():
            return real.is_relative_to(candidate)
    return real.is_relative_to(top)


def _tokens() -> Path | None:
    """Where a run keeps the token its journal names: lockgen's cache (never in a
    project, so never in a commit); None without one (every journal is then dropped)."""
    folder = cache_folder("journals")
    if folder is not None:
        prune(folder, keep=500)
    return folder


def _forget(token: object) -> None:
    tokens = _tokens()
    if tokens is not None and isinstance(token, str) and _TOKEN.fullmatch(token):
        (tokens / token).unlink(missing_ok=True)


def _keep(target: Path) -> Path | None:
    """A second name for ``target``'s current file (None: there is none), so that a
    failed commit can put it back: a hard link, which costs no copy, or a copy where
    the file cannot be linked (a filesystem without links, an immutable file)."""
    if not target.exists():
        return None
    old = _second_name(target)
    old.unlink(missing_ok=True)
    try:
        os.link(target, old)
    except OSError:
        import shutil

        shutil.copyfile(target, old)
    return old


def _second_name(target: Path) -> Path:
    return target.with_name(f"{LEFT[0]}{target.name}")


def _finish(folder: Path, renames: Sequence[Entry], removals: Sequence[tuple[str, str | None]] = ()) -> None:
    """Carry out a journal's renames (those not done yet) and removals (a rolled-back
    commit's new files), then remove it."""
    try:
        for tmp, target, _, _ in renames:
            if (folder / tmp).exists():
                os.replace(folder / tmp, folder / target)
        for name, _ in removals:
            (folder / name).unlink(missing_ok=True)
        fsync_dir(folder)
        (folder / JOURNAL).unlink(missing_ok=True)
        fsync_dir(folder)
    except OSError as exc:
        raise failure(exc, "finish writing") from None


def interrupted(folder: Path) -> bool:
    """Did a run die between writing its journal and finishing its renames? (Or is
    something else under the journal's name: the next compile says what.)"""
    return os.path.lexists(folder / JOURNAL)


def recover(folder: Path) -> str | None:
    """Finish an interrupted commit in ``folder``: ``"finished"``; ``"dropped"`` where
    the journal is not one a killed run left in this very folder (one that came with a
    commit names another), or no longer describes the folder (which is left as it is);
    None without one."""
    journal = folder / JOURNAL
    try:
        st = journal.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise failure(exc, "read", journal) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{journal}: a folder under the name of lockgen's commit journal; remove it")
    if not stat.S_ISREG(st.st_mode) or st.st_size > _JOURNAL_LIMIT:
        journal.unlink(missing_ok=True)  # a link, a device: no run left it
        return "dropped"
    try:
        text = journal.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError, RecursionError):
        journal.unlink(missing_ok=True)  # torn before it was made durable: nothing was renamed
        return None
    entries = _entries(data) if _ours(data, text, folder) else None
    run = data.get("run") if isinstance(data, dict) else None
    if entries is None or not _describes(folder, *entries):
        for tmp, _, _, _ in entries[0] if entries else ():
            (folder / tmp).unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        _forget(run)
        return "dropped"
    _finish(folder, *entries)
    _forget(run)
    return "finished"


def _ours(data: object, text: str, folder: Path) -> bool:
    """Did a run of this user on this machine write this very journal, for this very
    folder? Its token is in lockgen's cache with the journal's sha256 (a journal that
    came with a commit names a token this cache never held, or one of another journal's
    text), its folder this one."""
    if not isinstance(data, dict) or data.get("folder") != identity(folder):
        return False
    run, tokens = data.get("run"), _tokens()
    if not isinstance(run, str) or _TOKEN.fullmatch(run) is None or tokens is None or _in_repository(tokens, folder):
        return False
    try:
        kept = (tokens / run).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return kept == hashlib.sha256(text.encode()).hexdigest()


_JOURNAL_LIMIT = 1 << 20  # a commit's journal names a few hundred files at most


def identity(folder: Path) -> list[int]:
    """The folder itself, not its name: device and inode, which a journal committed
    elsewhere cannot know, and a bind mount of the same folder (a CI container) keeps."""
    st = folder.stat()
    return [st.st_dev, st.st_ino]


def _entries(data: object) -> tuple[list[Entry], list[tuple[str, str]]] | None:
    """The journal's renames and removals, or None where it is not one a commit of this
    folder writes: a name with a path in it, a rename of anything but lockgen's own
    temporary file or onto one, an entry without its sha256 (lockgen 0.3's)."""
    if not isinstance(data, dict):
        return None
    renames_data, removals_data = data.get("renames"), data.get("remove", [])
    if not isinstance(renames_data, list) or not isinstance(removals_data, list):
        return None
    renames: list[Entry] = []
    for entry in renames_data:
        if not isinstance(entry, list) or len(entry) != 4:
            return None
        source, target, sha, before = entry
        if not (_plain(source) and _plain(target) and _sha(sha) and (before == "" or _sha(before))):
            return None
        if not source.startswith(PREFIX) or target.startswith(PREFIX):
            return None
        renames.append((source, target, sha, before))
    removals: list[tuple[str, str]] = []
    for entry in removals_data:
        if not isinstance(entry, list) or len(entry) != 2:
            return None
        name, sha = entry
        if not (_plain(name) and _sha(sha)) or name.startswith(PREFIX):
            return None
        removals.append((name, sha))
    return renames, removals


def _plain(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and os.path.basename(name) == name
        and not any(c in name for c in "/\\\0")
    )


def _sha(sha: object) -> bool:
    return isinstance(sha, str) and _SHA.fullmatch(sha) is not None


def _describes(folder: Path, renames: Sequence[Entry], removals: Sequence[tuple[str, str]]) -> bool:
    """Is the folder as the journal's commit left it: each rename still to do has its
    file as written and its target as it was, each one done left its target as the
    journal says, and each file to remove is the one the commit wrote? Regular files
    only: a link or a folder under any of these names is no commit's doing."""
    for source, target, sha, before in renames:
        if _kind(folder / source) == "file":  # not renamed yet
            if _sha_of(folder / source) != sha or (_kind(folder / target) not in ("file", None)):
                return False
            if (_sha_of(folder / target) or "") != before:
                return False
        elif _kind(folder / source) is not None or _kind(folder / target) != "file" or _sha_of(folder / target) != sha:
            return False
    for name, sha in removals:
        kind = _kind(folder / name)
        if kind not in ("file", None) or (kind == "file" and _sha_of(folder / name) != sha):
            return False
    return True


def _kind(path: Path) -> str | None:
    """ "file" for a regular file, None for nothing, else "other" (a link, a folder)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "other"
    return "file" if stat.S_ISREG(mode) else "other"


def _sha_of(path: Path) -> str | None:
    try:
        return sha256(path).hex()
    except OSError:
        return None

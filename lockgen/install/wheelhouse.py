"""``lockgen wheelhouse DIR``: every artifact of the locks, in one folder that serves them.

The folder is flat (``uv pip install --no-index --find-links DIR``, ``pip install
--no-index --find-links DIR``) and holds a PEP 503 simple index under ``simple/``
(``--index-url file:///…/DIR/simple`` or any static web server). A file shared by
several variants is stored once.

Downloads use Python's own ``urllib`` (no new dependency; proxies from the
environment, the system's certificates): uv has no download command, and its
cache keeps unpacked wheels, not the files. Credentials come from the
configuration's index URLs (matched by host) and ``~/.netrc``. Each file is
streamed to ``<name>.lockgen-part``, hashed on the way, checked against the
lock's sha256 and size, then renamed into place: a file in the folder is always
whole and right. An interrupted download resumes where it stopped (HTTP Range).
``.lockgen-wheelhouse.json`` remembers the size, times and sha256 of every file it
verified, and its package, so a second run re-hashes nothing that did not change
and the simple index serves what earlier runs (other variants) put there too. One
run fills a folder at a time (the run lock of :mod:`lockgen.files`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import netrc
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import files, runs
from lockgen.exceptions import InputError, LockgenError
from lockgen.install import simple
from lockgen.locks import pylock
from lockgen.names import canonical
from lockgen.redact import realm, redact, userinfo_for

if TYPE_CHECKING:
    from lockgen.project.config import Config

MANIFEST = ".lockgen-wheelhouse.json"
PART = ".lockgen-part"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """One artifact a wheelhouse needs, and the variants that need it."""

    filename: str
    package: str
    sha256: str
    size: int | None
    source: str  # a URL, or an absolute path for a lock's local artifact
    variants: tuple[str, ...]


@dataclass(slots=True)
class Summary:
    """What filling a wheelhouse did."""

    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    per_variant: dict[str, tuple[int, int]] = field(default_factory=dict)  # files, bytes
    total_bytes: int = 0


def filenames(config: Config) -> set[str]:
    """Every file any readable lock of the project names (whichever variants a run fills)."""
    out: set[str] = set()
    for v in config.variants:
        with contextlib.suppress(InputError):
            lock = pylock.read(pylock.lock_file(config.locks_dir, v.name))
            if lock is not None:
                out.update(a.filename for a in lock.artifacts())
    return out


def wanted(locks: Mapping[str, pylock.Lock]) -> list[Wanted]:
    """Every artifact of these locks (variant → lock), each file once. A package that
    comes from a VCS checkout is an error: no file of it can be put in a wheelhouse."""
    found: dict[str, Wanted] = {}
    for variant, lock in locks.items():
        if lock.unfiled:
            raise LockgenError(
                f"{lock.path.name}: {', '.join(lock.unfiled)} installs from a VCS checkout (git …), which a wheelhouse "
                "cannot hold and which needs the network: lock a wheel or sdist of it instead (uv build makes one)"
            )
        for a in lock.artifacts():
            if not a.sha256:
                raise InputError(f"{lock.path}: {a.package} {a.filename} has no sha256; lockgen cannot check it")
            if a.url:
                source = a.url
            elif a.path:
                source = str((lock.path.parent / a.path).resolve())
            else:
                continue
            seen = found.get(a.filename)
            if seen is not None and seen.sha256 != a.sha256:
                raise LockgenError(
                    f"{a.filename} has sha256 {seen.sha256[:12]}… in {seen.variants[0]} and {a.sha256[:12]}… in "
                    f"{variant}: one folder cannot hold both (the same file name with other bytes)"
                )
            variants = (*seen.variants, variant) if seen else (variant,)
            found[a.filename] = Wanted(filename=a.filename, package=a.package, sha256=a.sha256, size=a.size,
                                       source=source, variants=variants)  # fmt: skip
    return sorted(found.values(), key=lambda w: w.filename)


def build(
    folder: Path,
    items: list[Wanted],
    *,
    credentials: Iterable[str] = (),
    jobs: int = 8,
    progress: Callable[[str], None] | None = None,
    say: Callable[[str], None] = lambda _: None,
    wanted_anywhere: Iterable[str] = (),
) -> Summary:
    """Make ``folder`` hold every wanted file, checked; then write its simple index.
    A second run into the same folder waits for the first. A partial download no lock
    wants (``wanted_anywhere``: every file any lock of the project names) is removed."""
    with files.made_folder(folder), runs.run_lock("wheelhouse", folder, say=say):
        return _build(folder, items, credentials=credentials, jobs=jobs, progress=progress,
                      keep={*wanted_anywhere, *(i.filename for i in items)})  # fmt: skip


def _build(
    folder: Path,
    items: list[Wanted],
    *,
    credentials: Iterable[str],
    jobs: int,
    progress: Callable[[str], None] | None,
    keep: set[str],
) -> Summary:
    manifest = _Manifest(folder)
    simple.refuse_foreign(folder, manifest.packages())
    summary = Summary()
    todo = []
    for item in items:
        if manifest.valid(item):
            summary.present.append(item.filename)
        else:
            todo.append(item)
    auth = _Auth(credentials)
    done = 0
    lock = threading.Lock()

    stop = threading.Event()  # Ctrl-C: no new download starts, and each one stops at its next block

    def fetch(item: Wanted) -> tuple[Wanted, int]:
        nonlocal done
        if stop.is_set():
            raise _Stopped
        size = _download(item, folder, auth, stop)
        with lock:
            done += 1
            if progress:
                progress(f"[{done}/{len(todo)}] {item.filename} ({_mb(size)})")
        return item, size

    errors: list[str] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(fetch, item) for item in todo]
        for future in futures:
            try:
                item, size = future.result()
            except LockgenError as exc:
                errors.append(str(exc))
                continue
            manifest.remember(item)
            summary.downloaded.append(item.filename)
            summary.bytes_downloaded += size
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # what runs stops at its next block: the wait is short
        manifest.save()  # what was verified stays verified, even when interrupted
    if errors:
        raise LockgenError(f"{len(errors)} file(s) could not be fetched:\n" + "\n".join(errors))
    for part in folder.glob(f"*{PART}"):  # a cut download of a file no lock wants: never resumed
        if part.name.removesuffix(PART) not in keep and part.is_file():
            part.unlink(missing_ok=True)
    simple.write(folder, [*items, *manifest.others(folder, {item.filename for item in items})])
    for item in items:
        size = item.size or (folder / item.filename).stat().st_size
        summary.total_bytes += size
        for variant in item.variants:
            count, total = summary.per_variant.get(variant, (0, 0))
            summary.per_variant[variant] = (count + 1, total + size)
    return summary


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


class _Stopped(BaseException):
    """Ctrl-C (or SIGTERM) in the main thread: a download not yet begun is not begun."""


class _Manifest:
    """What this folder's files were verified to be: name → [size, mtime_ns, ctime_ns,
    sha256, package]. The change time catches a file rewritten with its modification
    time set back (``rsync -a`` of a bad copy), which no program can set."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST
        data = files.read_json(self.path)
        self.entries: dict[str, list[object]] = data if isinstance(data, dict) else {}

    def valid(self, item: Wanted) -> bool:
        path = self.folder / item.filename
        try:
            st = path.stat()
        except OSError:
            return False
        if item.size is not None and st.st_size != item.size:
            return False
        if self.entries.get(item.filename) == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, item.sha256, item.package]:
            return True  # verified before, and unchanged since
        if files.sha256(path).hex() != item.sha256:
            return False  # corrupt or truncated: fetched again
        self.remember(item)
        return True

    def remember(self, item: Wanted) -> None:
        st = (self.folder / item.filename).stat()
        self.entries[item.filename] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, item.sha256, item.package]

    def packages(self) -> set[str]:
        """Every package a file of it was verified for: those its simple index has pages of."""
        return {canonical(e[4]) for e in self.entries.values() if isinstance(e, list) and len(e) == 5
                and isinstance(e[4], str)}  # fmt: skip

    def others(self, folder: Path, names: set[str]) -> list[Wanted]:
        """Files an earlier run verified (for other variants), still there at their size
        (a copied or chmod-ed folder changes their times, not their bytes; the index's
        links carry each sha256, which installers check): the simple index serves them
        too, as ``--find-links`` does."""
        out = []
        for name, entry in self.entries.items():
            if name in names or len(entry) != 5 or not isinstance(entry[4], str) or not isinstance(entry[3], str):
                continue
            try:
                st = (folder / name).stat()
            except OSError:
                continue
            if st.st_size == entry[0]:
                out.append(Wanted(filename=name, package=entry[4], sha256=entry[3], size=st.st_size, source="",
                                  variants=()))  # fmt: skip
        return out

    def save(self) -> None:
        files.write_atomic(self.path, json.dumps(self.entries, sort_keys=True, indent=0) + "\n")


def _download(item: Wanted, folder: Path, auth: _Auth, stop: threading.Event) -> int:
    """Fetch one file into ``folder``, checked; returns its size."""
    final = folder / item.filename
    part = folder / (item.filename + PART)
    try:
        if item.source.startswith(("http://", "https://")):
            digest = _fetch_http(item.source, part, auth, stop)
        else:
            digest = _copy_local(item.source, part)
    except _Resumable as exc:
        raise LockgenError(f"{item.filename}: {exc}") from None
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise LockgenError(f"{item.filename}: {redact(str(exc.strerror or exc))}") from None
    size = part.stat().st_size
    if digest != item.sha256 or (item.size is not None and size != item.size):
        part.unlink(missing_ok=True)
        raise LockgenError(
            f"{item.filename}: the download does not match the lock (sha256 {digest[:12]}…, "
            f"the lock says {item.sha256[:12]}…; {size} bytes); not kept"
        )
    try:
        os.replace(part, final)
    except OSError as exc:
        raise files.failure(exc, "write") from None
    return size


def _copy_local(source: str, part: Path) -> str:
    """A ``file://`` URL or a local path: copied, and hashed on the way."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path)) if "://" in source else Path(source)
    h = hashlib.sha256()
    with open(path, "rb") as fin, open(part, "wb") as fout:
        for block in iter(lambda: fin.read(_CHUNK), b""):
            h.update(block)
            fout.write(block)
    return h.hexdigest()


class _Resumable(OSError):
    """A download cut short: its partial file stays for the next run to resume."""


def _fetch_http(url: str, part: Path, auth: _Auth, stop: threading.Event) -> str:
    """Download ``url`` into ``part``, continuing a partial file; its sha256."""
    have = part.stat().st_size if part.exists() else 0
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:  # the lock holds "***" where a URL requirement had credentials: _Auth adds them
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    request = urllib.request.Request(url, headers={"User-Agent": "lockgen"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = auth.opener.open(request, timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already whole
            return files.sha256(part).hex()
        raise OSError(f"HTTP {exc.code} {exc.reason} from {redact(url)}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"{exc.reason} ({redact(url)})") from None
    h = hashlib.sha256()
    with response:
        resuming = have > 0 and response.status == 206
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        if resuming:
            with open(part, "rb") as f:  # what an interrupted run already fetched
                for block in iter(lambda: f.read(_CHUNK), b""):
                    h.update(block)
        try:
            with open(part, "ab" if resuming else "wb") as out:
                for block in iter(lambda: response.read1(_CHUNK), b""):  # what has come: Ctrl-C is seen soon
                    h.update(block)
                    out.write(block)
                    received += len(block)
                    if stop.is_set():  # kept: the next run resumes it
                        raise _Stopped
        except (OSError, TimeoutError, http.client.HTTPException) as exc:
            raise _Resumable(f"cut short ({exc}); the next run resumes it") from None
        if expected is not None and received < expected:
            raise _Resumable(f"cut short after {received} of {expected} bytes; the next run resumes it")
    return h.hexdigest()


class _Auth(urllib.request.BaseHandler):
    """Basic credentials for every request, redirected ones included, from the URL of
    its scheme, host and port that fits it best (:func:`lockgen.redact.userinfo_for`, as
    sync lends them), or from ~/.netrc for that exact host. Chosen per request by its
    own URL: a redirect within the index keeps them, one to another host (a CDN, S3)
    never carries them."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.urls = [u for u in urls if "@" in u]
        self.netrc = None
        with contextlib.suppress(OSError, netrc.NetrcParseError):
            self.netrc = netrc.netrc(os.environ.get("NETRC") or None)  # the file uv and pip read too
        self.opener = urllib.request.build_opener(self)

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        userinfo = userinfo_for(request.full_url, self.urls)
        found = None
        if userinfo is not None:
            user, _, password = userinfo.partition(":")
            found = (urllib.parse.unquote(user), urllib.parse.unquote(password))
        host = realm(request.full_url)[1]
        if found is None and self.netrc is not None and host in self.netrc.hosts:  # not netrc's "default"
            entry = self.netrc.authenticators(host)
            if entry:
                found = (entry[0], entry[2] or "")
        if found:
            token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode()
            # Unredirected: urllib copies no such header to a redirect; this method decides again.
            request.add_unredirected_header("Authorization", f"Basic {token}")
        return request

    https_request = http_request

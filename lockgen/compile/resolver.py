"""The resolver seam: the only code that asks uv to resolve.

``resolve(request)`` runs one ``uv pip compile`` and returns a :class:`Resolution`:
uv's PEP 751 lock and the dependency graph of that same resolution. The graph is
read from uv's own account of the resolution (its ``uv_resolver`` debug lines,
``Adding transitive dependency for torch==2.8.0: triton...``), which uv writes in the
same call; where that account does not explain every package (a bare URL
requirement, a uv that words it differently), lockgen asks uv once more, offline
and pinned to the lock's versions, for the ``# via`` annotations instead.

``resolve_all`` shares the network work between variants: see :mod:`.strategy`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockgen import private, uv
from lockgen._toml import TOMLDecodeError, loads
from lockgen.compile import uvlog
from lockgen.exceptions import CommandError, Killed, LockgenError
from lockgen.locks import graph as graphs
from lockgen.locks import pylock
from lockgen.names import canonical
from lockgen.project.intentfile import INCLUDED

_LOG_ENV = {"RUST_LOG": "uv_resolver=debug", **uv.RESOLVING}
_PATH = re.compile(r'(\bpath = ")([^"\\]+)"')
_PIN_FILE = "lockgen-pins.txt"
_BASE_FILE = "lockgen-base.txt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What to resolve, in uv's terms: nothing here knows about accelerators."""

    name: str  # the lock's name (``pylock.<name>.toml``) and what messages call it
    project: Path  # where uv runs: the intent and constraint paths are relative to it
    output_dir: Path  # the lock's folder: artifact paths come back relative to it
    inputs: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    python: str
    platform: str
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    intent_indexes: tuple[tuple[str, str], ...] = ()  # (option, value): those the intent files name
    exclude_newer: str | None = None
    roots: Mapping[str, frozenset[str]] = field(default_factory=dict)  # names each intent file requires
    roots_complete: bool = True  # False: some requirement's name is known only after resolving
    preferences: str = ""  # a pylock whose pins uv keeps unless the inputs force a change
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    requirements: bool = False  # also the requirements.txt form: pins, hashes, ``# via``
    pins: Mapping[str, str] = field(default_factory=dict)  # name → version every result must keep (a base)
    prerelease: bool = False  # an intent file says --pre, which uv ignores in a file: asked for on its command line
    # Copies of the intent files uv reads (rel → text, includes as NUL-quoted targets): the
    # bytes the input digest was taken of. Empty: uv reads the files themselves.
    sources: Mapping[str, str] = field(default_factory=dict)
    anchors: Mapping[str, str] = field(default_factory=dict)  # a -f folder made absolute in them → as written

    @property
    def indexes(self) -> tuple[object, ...]:
        """Everything that decides which index pages the resolution reads: the
        configuration's indexes and those its intent files name."""
        return (self.index_url, self.extra_index_urls, self.find_links, self.intent_indexes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """What one resolution found: uv's lock, the graph, the versions, what it read."""

    pylock: str  # uv's lock body; artifact paths relative to ``output_dir``
    graph: dict[str, tuple[str, ...]]  # package → what requires it (packages or intent files)
    versions: dict[str, str]  # canonical name → version
    read: frozenset[str] | None  # every package whose index page it may have read; None: unknown
    requirements: str | None = None
    # Offline: what uv passed over for want of its metadata in the cache ("pkg 2.0"), in
    # the order uv met them. Empty: the result is the one the cache's pages allow.
    uncached: tuple[str, ...] = ()


class ResolveError(LockgenError):
    """uv could not resolve a request; carries uv's explanation."""


def uv_args(request: Request, output: Path, *, fmt: str, offline: bool) -> list[str]:
    """``uv pip compile`` for ``request``, run from ``request.project``."""
    args = ["pip", "compile", *request.inputs]
    for c in request.constraints:
        args += ["--constraint", c]
    args += [
        "--output-file", str(output), "--format", fmt,
        "--python-version", request.python, "--python-platform", request.platform,
        # Resolving for a version needs no interpreter of it: hand uv ours so it
        # never searches for (or downloads) one.
        "--python", sys.executable, "--no-python-downloads",
        "--generate-hashes", "--no-header", "--no-config", "--quiet", "--color", "never",
    ]  # fmt: skip
    if fmt == "requirements.txt":
        args += ["--annotation-style", "split", "--emit-index-url", "--emit-find-links"]
    if request.index_url:
        args += ["--default-index", request.index_url]
    for url in request.extra_index_urls:
        args += ["--index", url]
    for link in request.find_links:
        args += ["--find-links", link]
    if request.exclude_newer:
        args += ["--exclude-newer", request.exclude_newer]
    if request.prerelease:
        args += ["--prerelease", "allow"]
    if offline:
        args.append("--offline")
    if request.upgrade:
        args.append("--upgrade")
    for name in request.upgrade_packages:
        args += ["--upgrade-package", name]
    return args


def resolve(request: Request, *, offline: bool) -> Resolution:
    """One resolution of ``request``; ResolveError with uv's reason when there is none."""
    with _workspace(request.output_dir) as tmp, private.folder("src") as src:
        # The copies of intent files live outside the project: they may hold credentials.
        request = _with_sources(_with_pins(request, tmp), src)
        output = pylock.lock_file(tmp, request.name)  # uv wants the name pylock.<name>.toml
        if request.preferences and not request.upgrade:
            try:
                output.write_text(request.preferences, encoding="utf-8")
            except OSError as exc:  # a full disk: one line naming the file, as every write failure
                from lockgen.files import failure

                raise failure(exc, "write", output) from None
        try:
            run = uv.run_full(uv_args(request, output, fmt="pylock.toml", offline=offline), cwd=request.project,
                              env=_LOG_ENV, message="DEBUG ", spool=tmp)  # fmt: skip
        except CommandError as exc:
            _room(request.output_dir, exc)
            reason = _unsourced(str(exc), src, request.project)
            raise ResolveError(f"uv failed to resolve:\n{reason}") from None  # the caller names the variant
        # uv wrote paths relative to tmp/, one folder below the lock's own.
        body = output.read_text(encoding="utf-8")
        if 'path = "' in body:  # the regex alone costs ~1 ms a lock, mostly for no match
            body = _relative_paths(body, request)
        versions = graphs.versions_of(body)
        graph, read = uvlog.from_log(run.stderr, versions, request.roots)
        if not versions:  # nothing resolved: nothing read, nothing to explain
            graph, read = {}, frozenset()
        requirements = None
        if request.requirements or not request.roots_complete or graph is None:
            requirements = _requirements(request, versions, tmp, src, offline=offline)
            graph = graphs.parse(requirements, _local_names(body, request))
        return Resolution(
            pylock=body,
            graph=graph,
            versions=versions,
            read=read,
            requirements=requirements,
            uncached=uvlog.uncached(run.stderr) if offline else (),
        )


def _relative_paths(body: str, request: Request) -> str:
    """Local paths in uv's lock relative to the lock's own folder, so that a clone
    elsewhere reads the same lock: uv wrote them relative to the workspace, one folder
    below (``../x``), or absolute for a ``file:`` URL (kept only outside the project)."""

    def fixed(m: re.Match[str]) -> str:
        path = m[2]
        if path.startswith("../"):
            path = path[3:]
        elif os.path.isabs(path) and Path(path).is_relative_to(request.project):
            path = Path(os.path.relpath(path, request.output_dir)).as_posix()
        return f'{m[1]}{path}"'

    return _PATH.sub(fixed, body)


def _local_names(body: str, request: Request) -> Callable[[str], str | None]:
    """Names a local project uv wrote by its path alone (relative to the project, where
    uv runs) by the lock's package at that path (relative to the lock's folder). A folder
    or archive a local project's ``[tool.uv.sources]`` names, uv writes relative to that
    project (``../y``): it is named by its last part, where one package of the lock has it."""
    by_path: dict[str, str] = {}
    by_file: dict[str, str | None] = {}
    try:
        packages = loads(body).get("packages", []) if 'path = "' in body else []
    except TOMLDecodeError:  # rendering the lock says what is wrong with it
        packages = []
    for package in packages:
        for kind in ("directory", "archive"):
            place = package.get(kind)
            if isinstance(place, dict) and isinstance(place.get("path"), str) and isinstance(package.get("name"), str):
                name = canonical(package["name"])
                by_path[os.path.normpath(request.output_dir / place["path"])] = name
                file = os.path.basename(os.path.normpath(place["path"]))
                by_file[file] = name if by_file.get(file, name) == name else None  # two of one name: neither

    def name_of(written: str) -> str | None:
        if written.startswith("file:"):
            from lockgen.project.places import url_path

            written = url_path(written)
        return by_path.get(os.path.normpath(request.project / written)) or by_file.get(
            os.path.basename(os.path.normpath(written))
        )

    return name_of


def _with_pins(request: Request, tmp: Path) -> Request:
    """The request with its pins written as a constraints file in the workspace."""
    if not request.pins:
        return request
    path = tmp / _BASE_FILE
    path.write_text("".join(f"{n}=={v}\n" for n, v in sorted(request.pins.items())), encoding="utf-8")
    return replace(request, constraints=(*request.constraints, str(path)), pins={})


_SOURCES = "src"
_UP = "_up_"


def _source_path(src: Path, rel: str) -> Path:
    return src / _SOURCES / "/".join(_UP if part == ".." else part for part in rel.split("/"))


def _with_sources(request: Request, src: Path) -> Request:
    """The request reading the normalized copies of its intent files, where it has some."""
    if not request.sources:
        return request
    for rel, text in request.sources.items():
        path = _source_path(src, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(INCLUDED.sub(lambda m: str(_source_path(src, m[1])), text), encoding="utf-8")

    def moved(paths: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(_source_path(src, p)) if p in request.sources else p for p in paths)

    return replace(request, inputs=moved(request.inputs), constraints=moved(request.constraints), sources={})


def _unsourced(text: str, src: Path, project: Path) -> str:
    """``# via -r`` annotations (and uv's messages) naming the copies name the
    project's files again."""
    copies = src / _SOURCES
    for prefix in (f"{copies}/", f"{os.path.relpath(copies, project)}/"):
        # A position uv gives counts in the copy (comments dropped, lines joined): not shown.
        text = re.sub(
            rf"{re.escape(prefix)}([^\s`'\"]+)(`?)(?: at position \d+)?", lambda m: _restored(m[1]) + m[2], text
        )
    return text


def _restored(rel: str) -> str:
    return "/".join(".." if part == _UP else part for part in rel.split("/"))


def _requirements(request: Request, versions: Mapping[str, str], tmp: Path, src: Path, *, offline: bool) -> str:
    """uv's requirements.txt form of exactly these versions: hashes and ``# via``.
    Pinned, it reads only what the resolution just read: offline first."""
    pins = tmp / _PIN_FILE
    pins.write_text(graphs.pin_lines(versions), encoding="utf-8")
    pinned = replace(request, constraints=(*request.constraints, str(pins)), upgrade=False, upgrade_packages=())
    out = tmp / "requirements.txt"
    for attempt_offline in dict.fromkeys((True, offline)):
        try:
            uv.run(uv_args(pinned, out, fmt="requirements.txt", offline=attempt_offline), cwd=request.project,
                   env=uv.RESOLVING)  # fmt: skip
            break
        except CommandError as exc:
            if attempt_offline == offline:
                _room(request.output_dir, exc)
                raise ResolveError(f"uv could not write the requirements form:\n{exc}") from None
    text = graphs.tidy(out.read_text(encoding="utf-8"), pins=_PIN_FILE)
    return _unanchored(_unsourced(graphs.tidy(text, pins=_BASE_FILE), src, request.project), request.anchors)


# Less room than this where uv writes its lock and log (~50 KB a resolution, ~100 KB a big
# lock) is what made it fail, whatever it managed to say.
_ROOM = 1 << 20


def _room(folder: Path, exc: CommandError) -> None:
    """After uv failed: where the folder its output and log go to is (nearly) full, that
    is the reason, in one line naming it. uv aborts (SIGABRT) when it cannot write its
    log, and "uv failed to resolve: ended by SIGABRT" named neither disk nor folder."""
    said = str(exc)
    from lockgen import files

    files.probe_writable(folder)
    if not isinstance(exc, Killed) and "os error 28" not in said and "No space left" not in said:
        return  # uv said why, and it was not the disk: a resolution that failed at 600 KiB free
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < _ROOM:
        last = (said.strip().splitlines() or [""])[-1]
        raise LockgenError(f"cannot write to {folder}: {free // 1024} KiB left on the device (uv: {last})")


def _unanchored(text: str, anchors: Mapping[str, str]) -> str:
    """``--find-links`` lines of an export naming the folders relative to the project
    root, as the export's other paths are, not as the copies uv read had them (absolute:
    a path of this machine's, which changes with every clone and names the user's home).
    pip reads such a folder from where it runs when the export's own folder lacks it."""
    if not anchors:
        return text

    def written(m: re.Match[str]) -> str:
        value = m["value"].strip('"')
        if value not in anchors:
            return m[0]
        folder = anchors[value]
        return f"{m['option']}" + (f'"{folder}"' if " " in folder else folder)

    return re.sub(r"^(?P<option>--find-links[ =])(?P<value>.+)$", written, text, flags=re.MULTILINE)


class _workspace:
    """A temporary folder inside the lock's folder (so relative paths stay right),
    named so that the next compile removes it should this process be killed. Private
    (``mkdtemp``: 0700), and ignored by git whatever the project's ``.gitignore`` says:
    uv writes there what it resolved, a URL's password among it, and a uv that outlives
    a killed lockgen still does (``git add -A`` after a kill must not commit it)."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.path: Path | None = None

    def __enter__(self) -> Path:
        try:
            self.path = Path(tempfile.mkdtemp(prefix=".lockgen-tmp-", dir=self.parent))
            (self.path / ".gitignore").write_text("*\n", encoding="utf-8")
        except OSError as exc:
            self.__exit__()
            from lockgen.files import failure

            raise failure(exc, "create a temporary folder in", self.parent) from None
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)

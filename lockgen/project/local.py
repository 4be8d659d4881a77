"""Local projects an intent file installs (``-e ./libs/x``, ``x @ file:./libs/x``): which
of their files decide what uv resolves for them (the input digest), and which make uv
build them again (sync's check of an installed local project).

What decides the metadata: the ``pyproject.toml``, ``setup.cfg`` and ``setup.py``; the
files setuptools' ``[tool.setuptools.dynamic]`` reads dependencies or a version from
(``dependencies = {file = ["requirements.txt"]}``); and the single files
``[tool.uv] cache-keys`` names (``{file = "requirements.txt"}``), which a project lists
for uv because its metadata comes from them. A cache-keys glob (``src/**/*.py``) names
sources, not metadata: it makes uv build again, and sync with it, but an edited source
file leaves every lock current.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgen.exceptions import InputError
from lockgen.files import sha256

PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
# [project] keys that, left dynamic, a build backend fills from its own [tool] table.
_FROM_TOOLS = {"version", "dependencies", "optional-dependencies", "requires-python"}
_GLOB = frozenset("*?[")
# What of [tool.setuptools.dynamic] decides a resolution (a readme or classifiers read from a file do not).
_RESOLVED = ("version", "dependencies", "optional-dependencies")
_MAX_FILES = 10_000  # of one cache-keys glob: a whole tree is not read for every sync


@dataclass(slots=True)
class Projects:
    """A run's local projects (paths relative to ``root``): which a set of them reaches
    through ``[tool.uv.sources]``, their metadata files and digests, each read once, and
    which of those files were written since."""

    root: Path
    boundary: Path | None
    _files: dict[str, dict[str, str]] = field(default_factory=dict)  # project → {its file: sha256}
    _stats: dict[str, tuple[int, ...]] = field(default_factory=dict)  # such a file → its stat when digested
    _sources: dict[str, list[Path]] = field(default_factory=dict)  # project → the folders its sources name
    _archives: dict[str, str] = field(default_factory=dict)  # a wheel or sdist installed by path → its sha256

    def reached(self, projects: set[str]) -> list[str]:
        """``projects`` and those their ``[tool.uv.sources]`` install from a folder in
        turn, sorted: ``x`` with ``y = { path = "../y" }``. An edit to y's dependencies
        left every lock current, and a sync installed what ``uv pip check`` then failed."""
        from lockgen.project.places import inside

        found = set(projects)
        todo = list(found)
        while todo:
            project = todo.pop()
            if project not in self._sources:
                self._sources[project] = path_sources(self.root / project)
            for place in self._sources[project]:
                if not place.is_dir() or (self.boundary is not None and not inside(place, self.boundary)):
                    continue  # an archive, or outside the repository: no clone has it (uv reads it all the same)
                rel = Path(os.path.relpath(place, self.root)).as_posix()
                if rel not in found:
                    found.add(rel)
                    todo.append(rel)
        return sorted(found)

    def archives(self, projects: list[str]) -> list[str]:
        """The wheels and sdists ``projects`` install through ``[tool.uv.sources]`` by path,
        relative to the root (those in the repository: no clone has the others)."""
        from lockgen.project.places import inside

        out = set()
        for project in projects:
            if project not in self._sources:
                self._sources[project] = path_sources(self.root / project)
            for place in self._sources[project]:
                if place.is_file() and (self.boundary is None or inside(place, self.boundary)):
                    out.add(Path(os.path.relpath(place, self.root)).as_posix())
        return sorted(out)

    def files(self, project: str) -> dict[str, str]:
        """A local project's metadata files and their digests."""
        if project not in self._files:
            names = metadata_files(self.root / project, self.boundary)
            self._files[project] = {f"{project}/{n}": self.file_sha(f"{project}/{n}") for n in names}
        return self._files[project]

    def changed(self, projects: list[str], archives: Iterable[str] = ()) -> list[str]:
        """The metadata files of ``projects``, and ``archives``, written since they were
        digested. uv reads a local project's files where they are, not copies: a ``git
        stash`` and ``pop`` while it resolved left a lock resolved from one text and
        labelled with the other's digest. Any write since shows in the file's ctime."""
        paths = [rel for project in projects for rel in self.files(project)] + list(archives)
        return [rel for rel in paths if _stat(self.root / rel) != self._stats.get(rel)]

    def archive_sha(self, rel: str) -> str:
        """sha256 of a wheel or sdist an intent file installs by path (``vend @
        file:./vendor/vend-1.0-py3-none-any.whl``): rebuilt under the same name, it is
        another resolution (its hash, perhaps its dependencies), and the lock is stale."""
        if rel not in self._archives:
            try:
                self._stats[rel] = _stat(self.root / rel)
                self._archives[rel] = sha256(self.root / rel).hex()
            except OSError as exc:
                raise InputError(f"{rel}: cannot read: {exc.strerror}") from None
        return self._archives[rel]

    def file_sha(self, rel: str) -> str:
        try:
            self._stats[rel] = _stat(self.root / rel)  # before reading: a write after it shows
            return file_sha(self.root / rel)
        except OSError as exc:
            raise InputError(f"{rel}: cannot read: {exc.strerror}") from None


def _stat(path: Path) -> tuple[int, ...]:
    try:
        st = path.stat()
    except OSError:
        return ()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def metadata_files(folder: Path, boundary: Path | None = None) -> list[str]:
    """The files of the project in ``folder`` that decide its metadata, relative to it
    (posix), sorted. Only regular files inside ``folder`` (and the repository) count."""
    keys, dynamic = _declared(folder)
    return _existing(folder, [*PROJECT_FILES, *dynamic, *(k for k in keys if not _GLOB & set(k))], boundary or folder)


def rebuild_files(folder: Path) -> list[str]:
    """The files whose change makes uv build the project again: its metadata files and
    every file its cache-keys name, globs included, wherever a link in it leads (this
    machine's own check: nothing of it is written anywhere)."""
    keys, dynamic = _declared(folder)
    return _existing(folder, [*PROJECT_FILES, *dynamic, *keys], None)


def _declared(folder: Path) -> tuple[list[str], list[str]]:
    """The ``[tool.uv] cache-keys`` files and globs, and the ``[tool.setuptools.dynamic]``
    files, as written."""
    tool = _table(_pyproject(folder), "tool")
    keys = _list(_table(tool, "uv").get("cache-keys"))  # "path", {file = "glob"}, {git = …}, {env = …}
    cache = [key.get("file") if isinstance(key, dict) else key for key in keys]
    dynamic: list[object] = []
    declared = _table(_table(tool, "setuptools"), "dynamic")
    for spec in (declared.get(key) for key in _RESOLVED):
        if isinstance(spec, dict):  # dependencies = {file = [...]}; optional-dependencies = {dev = {file = ...}}
            for entry in (spec, *(v for v in spec.values() if isinstance(v, dict))):
                dynamic.extend(_list(entry.get("file")))
    return _strings(cache), _strings(dynamic)


def _existing(folder: Path, patterns: list[str], fence: Path | None) -> list[str]:
    """The regular files ``patterns`` match in ``folder``, sorted, by their path there.
    A file may be a link to another inside ``fence`` (the repository; anywhere where
    None): a monorepo's shared requirements are read through one."""
    out: set[str] = set()
    folder = Path(os.path.normpath(folder))
    try:
        fence = fence.resolve() if fence is not None else None
    except (OSError, RuntimeError):
        return []
    for pattern in patterns:
        try:
            matches = (
                sorted(itertools.islice(folder.glob(pattern), _MAX_FILES))
                if _GLOB & set(pattern)
                else [folder / pattern]
            )
            for path in matches:
                inside = Path(os.path.normpath(path)).is_relative_to(folder)
                if inside and path.is_file() and (fence is None or path.resolve().is_relative_to(fence)):
                    out.add(path.relative_to(folder).as_posix())
        except (ValueError, OSError, RuntimeError):  # a NUL, a name too long, a link loop: not a file of it
            continue
    return sorted(out)


def _strings(values: list[object]) -> list[str]:
    """The relative paths among ``values`` (a cache key of another kind, or a number, is none)."""
    return [v for v in values if isinstance(v, str) and v and not Path(v).is_absolute()]


def file_sha(path: Path) -> str:
    """sha256 of what in a local project's file decides its resolution: of a
    ``pyproject.toml``, its ``[project]``, ``[build-system]`` and ``[tool.uv]`` tables
    (uv reads a project's ``sources`` even with ``--no-config``; a linter's settings
    edited beside them change nothing), unless ``[project]`` is missing or leaves its
    version or dependencies dynamic, when a backend's ``[tool]`` table may state them
    and the whole file counts; any other file whole. OSError if unreadable."""
    data = path.read_bytes()
    if path.name == "pyproject.toml":
        document = _parsed(data)
        project = document.get("project")
        dynamic = project.get("dynamic", []) if isinstance(project, dict) else None
        if isinstance(dynamic, list) and not _FROM_TOOLS & {str(d) for d in dynamic}:
            tool = document.get("tool")
            uv = tool.get("uv") if isinstance(tool, dict) else None
            stated = {"project": project, "build-system": document.get("build-system"), "tool.uv": uv}
            data = json.dumps(stated, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()


def path_sources(folder: Path) -> list[Path]:
    """The local projects this one's ``[tool.uv.sources]`` installs from a folder
    (``y = { path = "../y" }``), which uv applies as it builds it: their metadata decides
    the resolution as this one's does; and the wheels and sdists they install by path
    (``vend = { path = "vendor/vend-1.0-py3-none-any.whl" }``), whose bytes do."""
    out = []
    for source in _table(_table(_table(_pyproject(folder), "tool"), "uv"), "sources").values():
        for entry in _list(source):  # one source, or a list of them under markers
            path = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(path, str) and path:
                place = Path(os.path.normpath(folder / path))
                if place.is_dir() or place.is_file():
                    out.append(place)
    return out


def _pyproject(folder: Path) -> dict[str, Any]:
    try:
        return _parsed((folder / "pyproject.toml").read_bytes())
    except OSError:
        return {}


def _parsed(data: bytes) -> dict[str, Any]:
    from lockgen._toml import TOMLDecodeError, loads

    try:
        document: dict[str, Any] = loads(data.decode("utf-8"))
    except (UnicodeDecodeError, TOMLDecodeError):
        return {}
    return document


def _table(document: object, key: str) -> dict[str, Any]:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    """A TOML value that may be one item or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

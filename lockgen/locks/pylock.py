"""PEP 751 lock files: their names, and reading them through ``packaging.pylock``.
Writing one is :mod:`lockgen.locks.writer`'s."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lockgen._toml import TOMLDecodeError, loads
from lockgen.exceptions import InputError
from lockgen.locks import validated
from lockgen.names import canonical

# --- names ------------------------------------------------------------------------


def lock_file(locks_dir: Path, variant: str) -> Path:
    return locks_dir / f"pylock.{variant}.toml"


def requirements_file(locks_dir: Path, variant: str) -> Path:
    return locks_dir / f"requirements.{variant}.txt"


def variant_of(path: Path) -> str | None:
    """The variant a lock or requirements file is named for; None for other files."""
    name = path.name
    for prefix, suffix in (("pylock.", ".toml"), ("requirements.", ".txt")):
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            return name[len(prefix) : -len(suffix)]
    return None


def lock_files(locks_dir: Path) -> list[Path]:
    """Every file of the locks folder named like a lock or requirements export."""
    if not locks_dir.is_dir():
        return []
    found = [*locks_dir.glob("pylock.*.toml"), *locks_dir.glob("requirements.*.txt")]
    return sorted(p for p in found if variant_of(p) is not None)


def orphans(locks_dir: Path, variants: set[str], formats: Sequence[str]) -> dict[Path, str]:
    """Files of the locks folder lockgen no longer writes, each with why: a variant not
    in ``variants``, or an export in a format not in ``formats`` (left stale, it would
    still be installed from)."""
    out = {}
    for path in lock_files(locks_dir):
        if variant_of(path) not in variants:
            out[path] = "no such variant is configured"
        elif path.name.startswith("requirements.") and "requirements" not in formats:
            out[path] = 'formats does not include "requirements"'
    return out


# What a lock records its variant is built for; its name is only what it is called.
BUILT_FOR = ("python", "platform", "cuda", "gpu-archs", "base")


def paired(
    gone: Mapping[str, Mapping[str, object]], came: Mapping[str, Mapping[str, object]], keys: Sequence[str]
) -> dict[str, str]:
    """Names in ``gone`` → names in ``came`` whose records agree on ``keys``, where no
    other of either shares that record: what was renamed, told by what it is."""

    def by_record(records: Mapping[str, Mapping[str, object]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in sorted(records):
            out.setdefault(repr([records[name].get(k) for k in keys]), []).append(name)
        return out

    came_by = by_record(came)
    return {
        a[0]: b[0] for record, a in by_record(gone).items() if len(a) == 1 and len(b := came_by.get(record, [])) == 1
    }


# --- reading ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """One file a lock names for a package, with what checks it."""

    package: str
    version: str
    kind: str  # "wheel", "sdist" or "archive"
    filename: str
    url: str | None
    path: str | None  # relative to the lock's folder, as PEP 751 writes it
    size: int | None
    sha256: str | None


@dataclass(frozen=True, kw_only=True)  # not slotted: graph is computed once, on first use
class Lock:
    """A lock file lockgen wrote, read and validated."""

    path: Path
    text: str
    meta: Mapping[str, Any]  # the lock's [tool.lockgen] table
    versions: Mapping[str, str]  # canonical package name → version, as written ("": none, a local project)
    dependencies: Mapping[str, tuple[str, ...]]  # package → the packages it requires (PEP 751 dependencies)
    files: tuple[Artifact, ...]
    places: tuple[str, ...] = ()  # local paths and file: URLs the lock installs from (not an index's files)
    markers: Mapping[str, str] = field(default_factory=dict)  # package → its PEP 751 marker, where it has one
    directories: Mapping[str, str] = field(default_factory=dict)  # a local project → its folder, as the lock says

    @property
    def digest(self) -> str | None:
        value = self.meta.get("input-digest")
        return value if isinstance(value, str) else None

    @property
    def roots(self) -> dict[str, tuple[str, ...]]:
        roots = self.meta.get("roots")
        if not isinstance(roots, dict):
            return {}
        return {
            k: tuple(canonical(n) for n in v if isinstance(n, str)) for k, v in roots.items() if isinstance(v, list)
        }

    @functools.cached_property
    def graph(self) -> dict[str, tuple[str, ...]] | None:
        """{package: what requires it} (packages or intent files), from the lock itself:
        its dependencies and [tool.lockgen.roots]; None if lockgen did not write it."""
        if not isinstance(self.meta.get("roots"), dict):
            return None
        parents: dict[str, list[str]] = {name: [] for name in self.versions}
        for package, deps in self.dependencies.items():
            for dep in deps:
                if dep in parents:
                    parents[dep].append(package)
        for source, names in self.roots.items():
            for name in names:
                if name in parents:
                    parents[name].append(source)
        return {k: tuple(sorted(v)) for k, v in parents.items()}

    def artifacts(self) -> list[Artifact]:
        return list(self.files)

    @property
    def unfiled(self) -> list[str]:
        """Packages installed from neither a file nor a local folder: VCS checkouts,
        which no wheelhouse can hold and which need the network to install."""
        filed = {a.package for a in self.files}
        return sorted(n for n in self.versions if n not in filed and n not in self.directories)


def applicable(lock: Lock, python: str) -> Lock:
    """The lock as it applies to an environment on this machine whose interpreter is
    ``python`` (a full version, ``3.11.7``): without the packages whose marker is false
    there, which an installer skips (``async-timeout ; python_full_version < '3.11.3'``
    in a lock for 3.11). PEP 751 markers, evaluated as ``packaging`` does for locks,
    in this machine's environment with the target's version (a variant's interpreter
    is CPython on this platform). A marker that cannot be evaluated (a hand edit:
    ``extra == 'x'``, which a lock's markers do not use) is an error naming it."""
    if not lock.markers:
        return lock
    from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName, default_environment

    environment: dict[str, str | frozenset[str]] = {
        **{key: str(value) for key, value in default_environment().items()},
        "python_full_version": python,
        "python_version": ".".join(python.split(".")[:2]),
        "implementation_version": python,
        "extras": frozenset(),
        "dependency_groups": frozenset(),
    }
    skipped = set()
    for name, marker in lock.markers.items():
        try:
            if not Marker(marker).evaluate(environment, context="lock_file"):
                skipped.add(name)
        except (UndefinedComparison, UndefinedEnvironmentName) as exc:
            raise InputError(f"{lock.path}: packages: {name}: marker {marker!r} cannot be evaluated: {exc}") from None
    if not skipped:
        return lock
    return replace(
        lock,
        versions={n: v for n, v in lock.versions.items() if n not in skipped},
        files=tuple(a for a in lock.files if a.package not in skipped),
        directories={n: d for n, d in lock.directories.items() if n not in skipped},
        markers={n: m for n, m in lock.markers.items() if n not in skipped},
    )


def satisfies(installed: str | None, locked: str) -> bool:
    """Is a package installed at ``installed`` the lock's? A package the lock gives no
    version (a local project, which PEP 751 lets go without one) is, at any version."""
    return installed is not None and (installed == locked or not locked)


def shown(version: str) -> str:
    """A locked version as the user reads it; a local project without one says so."""
    return version or "(a local project)"


def file_name(location: str) -> str:
    """The file a URL or path names, as a file name: ``torch-2.8.0%2Bcu128-….whl`` (as
    PyTorch's index writes it in a URL) is ``torch-2.8.0+cu128-….whl``."""
    from urllib.parse import unquote

    return unquote(location.rsplit("/", 1)[-1])


def _artifacts_of(package: Any) -> list[Artifact]:
    name, version = canonical(package.name), str(package.version or "")
    out = []
    items: list[tuple[str, Any]] = [("wheel", w) for w in package.wheels or ()]
    items += [("sdist", package.sdist), ("archive", package.archive)]
    for kind, item in items:
        if item is None:
            continue
        where = getattr(item, "name", None) or item.url or item.path or ""
        filename = file_name(str(where))
        if filename in ("", ".", "..") or any(c in filename for c in "/\\\0"):  # %2F..: a wheelhouse writes it
            raise ValueError(f"packages: {name}: {kind} {str(where)!r} does not name a file")
        out.append(
            Artifact(
                package=name,
                version=version,
                kind=kind,
                filename=filename,
                url=item.url,
                path=item.path,
                size=item.size,
                sha256=(item.hashes or {}).get("sha256"),
            )
        )
    return out


def parse(path: Path, text: str) -> Lock:
    """Validate ``text`` as a PEP 751 lock; InputError names the file and key. Packages
    validated before (:mod:`.validated`) are read back, not validated again."""
    summary = validated.recall(text)
    if summary is None:
        summary = _validate(path, text)
        validated.remember(text, summary)
    return Lock(
        path=path,
        text=text,
        meta=summary["meta"],
        versions=summary["versions"],
        dependencies={k: tuple(v) for k, v in summary["dependencies"].items()},
        files=tuple(Artifact(**a) for a in summary["artifacts"]),
        places=tuple(summary["places"]),
        markers=summary["markers"],
        directories=summary["directories"],
    )


def _validate(path: Path, text: str) -> dict[str, Any]:
    from packaging.pylock import Pylock, PylockValidationError  # 25 ms: only for text not seen before

    try:
        data = loads(text)
    except TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as exc:  # its message may hold the value and a caret under it: one line
        where = f" in {exc.context!r}" if exc.context else ""
        raise InputError(f"{path}: not a valid PEP 751 lock: {exc.message.splitlines()[0]}{where}") from None
    tool = data.get("tool", {})
    meta = tool.get("lockgen", {}) if isinstance(tool, dict) else {}
    dependencies = {}
    for p in lock.packages:
        names = [canonical(d["name"]) for d in p.dependencies or () if isinstance(d.get("name"), str)]
        dependencies[canonical(p.name)] = names
    try:
        artifacts = [
            {k: getattr(a, k) for k in Artifact.__dataclass_fields__} for p in lock.packages for a in _artifacts_of(p)
        ]
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return {
        "meta": meta if isinstance(meta, dict) else {},
        "versions": {canonical(p.name): str(p.version or "") for p in lock.packages},
        "dependencies": dependencies,
        "artifacts": artifacts,
        "places": [where for p in lock.packages for where in _places_of(p)],
        "markers": {canonical(p.name): str(p.marker) for p in lock.packages if p.marker is not None},
        "directories": {canonical(p.name): p.directory.path for p in lock.packages if p.directory is not None},
    }


def outside(lock: Lock, boundary: Path) -> list[str]:
    """The lock's local sources that lie outside ``boundary`` (however the intent
    files named them: this reads what uv wrote). compile and check judge a lock by
    it; sync and verify refuse one."""
    import os

    from lockgen.project.places import inside, url_path

    found = []
    for place in lock.places:
        path = Path(url_path(place)) if place.lower().startswith("file:") else lock.path.parent / place
        if not inside(Path(os.path.normpath(path)), boundary):
            found.append(place)
    return found


def _places_of(package: Any) -> list[str]:
    """The local sources a package installs from: every ``path`` (of a wheel, sdist,
    archive, directory or VCS checkout) and a VCS or archive ``file:`` URL."""
    items = [*(package.wheels or ()), package.sdist, package.archive, package.directory, package.vcs]
    out = [item.path for item in items if item is not None and getattr(item, "path", None)]
    for item in (package.archive, package.vcs):
        url = getattr(item, "url", None) or ""
        if url.lower().startswith("file:"):
            out.append(url)
    return out


def read(path: Path) -> Lock | None:
    """The lock at ``path``; None when there is none."""
    text = read_text(path)
    return None if text is None else parse(path, text)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a lock") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


def read_meta(path: Path) -> Mapping[str, Any] | None:
    """Only a lock's ``[tool.lockgen]`` table (what selection needs), without reading
    its packages; None when there is no lock or no such table."""
    text = read_text(path)
    if text is None:
        return None
    _, tail = validated.split(text)
    if tail is None:
        return None
    try:
        data = loads(tail)
    except TOMLDecodeError:
        return None
    meta = data.get("tool", {}).get("lockgen")
    return meta if isinstance(meta, dict) else None


def preferences(locks: Sequence[Lock]) -> tuple[str, dict[str, str]]:
    """A pylock uv reads as its preferences: the first lock's pins, then for any
    package it lacks, the next one's, and so on. Also the merged versions."""
    merged: dict[str, str] = {}
    versions: dict[str, str] = {}
    for lock in locks:
        for name, block in blocks(lock.text).items():
            merged.setdefault(name, block)
        for name, version in lock.versions.items():
            versions.setdefault(name, version)
    if not merged:
        return "", {}
    return 'lock-version = "1.0"\ncreated-by = "lockgen"\n\n' + "\n".join(merged.values()), versions


def blocks(text: str) -> dict[str, str]:
    """``{name: "[[packages]] ..." text}`` of a lock lockgen (or uv) wrote."""
    out: dict[str, str] = {}
    for chunk in text.split("\n[[packages]]\n")[1:]:
        chunk = chunk.split("\n[tool", 1)[0].rstrip("\n")
        name = chunk.split("\n", 1)[0].removeprefix('name = "').removesuffix('"')
        out.setdefault(name, f"[[packages]]\n{chunk}\n")
    return out

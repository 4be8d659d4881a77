"""The distributions installed in an environment, read from disk, and their files
checked against their ``RECORD`` (PEP 376 / PEP 627)."""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import os
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen import files
from lockgen.names import canonical

_DIST_INFO = re.compile(r"(?P<name>.+?)-(?P<version>[^-]+)\.(?:dist|egg)-info")
_REQUIRES = re.compile(r"^Requires-Dist:\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<rest>.*)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Dist:
    """One installed distribution (a ``.dist-info`` or ``.egg-info``)."""

    name: str  # canonical
    version: str
    path: Path  # the metadata folder (or file, for an old egg-info)
    site: Path  # the folder RECORD paths are relative to
    requires: tuple[str, ...]  # canonical names of its unconditional Requires-Dist
    problem: str | None = None  # why the metadata cannot be trusted, if it cannot
    folder_version: str | None = None  # what a .dist-info folder's own name says, which uv reads


def scan(sites: Iterable[Path]) -> list[Dist]:
    """Every distribution in these site-packages folders, broken ones included."""
    found: list[Dist] = []
    for site in sites:
        try:
            entries = sorted(os.scandir(site), key=lambda e: e.name)  # the same answer every time
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith((".dist-info", ".egg-info")):
                dist = _read(Path(entry.path), site)
                if dist is not None:
                    found.append(dist)
    return found


def versions(dists: Iterable[Dist]) -> dict[str, str]:
    return {d.name: d.version for d in dists}


def _read(path: Path, site: Path) -> Dist | None:
    guess = _DIST_INFO.fullmatch(path.name)
    meta = path / ("METADATA" if path.name.endswith(".dist-info") else "PKG-INFO") if path.is_dir() else path
    name = version = None
    requires: list[str] = []
    problem = None
    try:
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line in ("\n", "\r\n"):
                    break
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                elif line.startswith("Requires-Dist:"):
                    m = _REQUIRES.match(line.rstrip())
                    if m and "extra" not in m["rest"]:
                        requires.append(canonical(m["name"]))
    except FileNotFoundError:
        problem = f"{path.name} has no {meta.name}"
    except OSError as exc:
        problem = f"cannot read {meta}: {exc.strerror}"
    if not (name and version):
        if guess is None:
            return None
        name, version = name or guess["name"], version or guess["version"]
        problem = problem or f"{path.name}: its {meta.name} names no package or version"
    if problem is None and path.name.endswith(".dist-info") and not (path / "RECORD").is_file():
        problem = f"{path.name} has no RECORD"
    if problem is None and path.is_dir() and path.name.endswith(".egg-info") and not (path / "top_level.txt").is_file():
        problem = f"{path.name} has no top_level.txt (uv cannot uninstall it)"  # what setup.py install of old left
    return Dist(
        name=canonical(name),
        version=version,
        path=path,
        site=site,
        requires=tuple(requires),
        problem=problem,
        folder_version=guess["version"] if guess is not None and path.name.endswith(".dist-info") else None,
    )


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What checking an installed distribution's files against its RECORD found."""

    problems: list[str]
    files: int
    bytes_hashed: int
    altered: bool = False  # a file is there with other contents (not only missing)
    unreadable: bool = False  # RECORD itself is malformed (cut short by a kill): uv cannot read it
    fingerprint: str = ""  # of RECORD's paths and hashes: which build is installed, whatever its version says
    paths: tuple[str, ...] = ()  # what RECORD names, relative to the site-packages folder


def record_rows(dist: Dist) -> Iterator[tuple[str, str, str]]:
    """(path, hash, size) of each RECORD row, forgiving short rows; nothing for a dist
    without RECORD."""
    for row in _raw_rows(dist):
        yield row[0], row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else ""


def _raw_rows(dist: Dist) -> Iterator[list[str]]:
    try:
        with open(dist.path / "RECORD", encoding="utf-8", newline="") as f:
            for row in csv.reader(f):
                if row:
                    yield row
    except (OSError, csv.Error, UnicodeDecodeError):
        return


def check_files(dist: Dist, *, hashes: bool = False, edited_after: int | None = None) -> FileCheck:
    """Every file RECORD lists: present, of its recorded size (and sha256 with ``hashes``,
    or where its modification time is later than ``edited_after``, in ns).

    Bytecode is a cache: a missing ``.pyc`` breaks nothing, and one in ``__pycache__``
    is only looked for, since installers compile it again after unpacking (pip
    rewrites the ones a wheel ships, leaving their RECORD rows as they were). A path
    RECORD lists twice with different rows is only looked for too: no row is the truth.
    """
    problems: list[str] = []
    files = hashed = 0
    altered = False
    if dist.problem:
        return FileCheck([dist.problem], 0, 0)
    rows: dict[str, tuple[str, str] | None] = {}
    built: list[str] = []
    launchers: set[str] | None = None
    for number, fields in enumerate(_raw_rows(dist), 1):
        if len(fields) != 3:  # a RECORD cut short mid-row: uv refuses to read it (nor will it uninstall)
            problems.append(f"RECORD is malformed at row {number} ({len(fields)} fields, not 3)")
            return FileCheck(problems, files, hashed, altered, unreadable=True)
        rel, digest, size = fields
        rows[rel] = (digest, size) if rows.get(rel, (digest, size)) == (digest, size) else None
        if rel.startswith("../") and launchers is None:
            launchers = _launchers(dist)
        if digest and not _installers(rel, launchers or set()):
            built.append(f"{rel}\0{digest}\n")
    for rel, row in rows.items():
        files += 1
        path = os.path.join(dist.site, rel)
        try:
            st = os.stat(path)
        except OSError:
            # bytecode need not be there, nor its folder (virtualenv's seeder lists those in RECORD)
            if not rel.endswith(".pyc") and not rel.rstrip("/").endswith("__pycache__"):
                problems.append(f"{rel} is missing")
            continue
        if row is None or (rel.endswith(".pyc") and "__pycache__/" in rel):
            continue
        digest, size = row
        if size and size.isdigit() and st.st_size != int(size):
            problems.append(f"{rel} has {st.st_size} bytes, RECORD says {size}")
            altered = True
            continue
        if (hashes or (edited_after is not None and st.st_mtime_ns > edited_after)) and digest.startswith("sha256="):
            hashed += st.st_size
            if _sha256(path) != digest[7:]:
                problems.append(f"{rel} does not match its sha256 in RECORD")
                altered = True
    fingerprint = FINGERPRINT + hashlib.sha256("".join(sorted(built)).encode()).hexdigest()
    return FileCheck(problems, files, hashed, altered, fingerprint=fingerprint, paths=tuple(rows))


# Which rows a fingerprint covers; one recorded under another scheme is not compared.
FINGERPRINT = "2:"
# Files an installer writes itself, not the wheel: which build is installed does not show there.
_INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json"})


def _installers(rel: str, launchers: set[str]) -> bool:
    """Bytecode (compiled on the spot), a dist-info file the installer writes, or an
    entry point's launcher (each installer writes its own). A wheel's own files outside
    site-packages (a binary in its scripts, data, headers) are the build's."""
    folder, _, name = rel.rpartition("/")
    return (
        rel.endswith(".pyc")
        or (folder.endswith(".dist-info") and "/" not in folder and name in _INSTALLER_FILES)
        or (rel.startswith("../") and name.removesuffix(".exe") in launchers)
    )


def _launchers(dist: Dist) -> set[str]:
    """The scripts an installer writes for ``dist``'s console and GUI entry points."""
    names: set[str] = set()
    section = ""
    try:
        text = (dist.path / "entry_points.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return names
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif "=" in line and section in ("console_scripts", "gui_scripts"):
            names.add(line.split("=", 1)[0].strip())
    return names


def _sha256(path: str) -> str:
    """As RECORD writes it: urlsafe base64, unpadded."""
    return base64.urlsafe_b64encode(files.sha256(path)).rstrip(b"=").decode()


def remove(dist: Dist, *, within: Path) -> None:
    """Delete a distribution uv cannot (its metadata is broken): the files its RECORD
    lists inside the environment ``within``, if it has a RECORD, then its metadata."""
    import shutil

    for rel, _, _ in record_rows(dist):
        target = Path(os.path.normpath(os.path.join(dist.site, rel)))
        if not target.is_relative_to(within):
            continue
        if target.is_file() or target.is_symlink():
            target.unlink(missing_ok=True)
    if dist.path.is_dir():
        shutil.rmtree(dist.path, ignore_errors=True)
    else:
        dist.path.unlink(missing_ok=True)


def claimed(dist: Dist) -> set[str]:
    """The absolute, normalized paths of the files ``dist``'s RECORD names."""
    return {os.path.normpath(os.path.join(dist.site, rel)) for rel, _, _ in record_rows(dist)}


def sweep(paths: Iterable[str], keep: set[str], *, within: Path) -> int:
    """Delete the files among ``paths`` that no installed RECORD claims (``keep``),
    inside the environment ``within``, and the folders they leave empty."""
    removed = 0
    folders = set()
    for path in sorted(set(paths) - keep):
        target = Path(path)
        if not target.is_relative_to(within) or not (target.is_file() or target.is_symlink()):
            continue
        target.unlink(missing_ok=True)
        removed += 1
        folders.add(target.parent)
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        while folder.is_relative_to(within) and folder != within:
            pycache = folder / "__pycache__"
            if pycache.is_dir() and not any(f.suffix != ".pyc" for f in pycache.iterdir()):
                import shutil

                shutil.rmtree(pycache, ignore_errors=True)
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    return removed


# uv writes each file beside its target as .tmpXXXXXX (Rust's tempfile) and renames it:
# a kill in between leaves one that no RECORD names.
_UV_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")


def sweep_temporaries(paths: Iterable[str], *, within: Path) -> int:
    """Delete installer temporaries in the folders of ``paths`` (an interrupted sync's)."""
    removed = 0
    for folder in {Path(p).parent for p in paths}:
        if not folder.is_relative_to(within) or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if _UV_TEMP.fullmatch(entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


# What Python runs at every start from site-packages (``site`` executes a .pth's import
# lines): such a file that no package installed is judged wherever lockgen owns the
# environment. A venv's own hook, which virtualenv (and older uv) write, is not a package's.
STARTUP = ("sitecustomize.py", "usercustomize.py", "sitecustomize.pyc", "usercustomize.pyc")
_VENV_HOOKS = frozenset({"_virtualenv.pth", "_virtualenv.py"})
# What Python imports or runs: only such files in a package's folders are judged. Data a
# package writes there itself at run time (a dictionary it downloads, jars a user adds)
# is the package's business, not a stray. A ``.pyc`` outside ``__pycache__`` is imported
# with no source beside it (``__pycache__`` folders, Python's own caches, are not judged).
CODE = (".py", ".pyc", ".so", ".pyd", ".pth")


@dataclass(frozen=True, slots=True, kw_only=True)
class Strays:
    """Code in site-packages that no RECORD claims (bytecode caches aside); every path
    absolute, shown from site-packages on (:func:`shown`)."""

    in_packages: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path → the packages owning its folder
    startup: tuple[str, ...] = ()  # .pth files, sitecustomize.py and usercustomize.py at the top


def shown(path: str) -> str:
    """A path in site-packages as messages show it: from site-packages on."""
    _, sep, tail = path.rpartition(f"{os.sep}site-packages{os.sep}")
    return f"site-packages/{tail}" if sep else path


def strays(found: Iterable[Dist], paths: Mapping[Dist, Iterable[str]]) -> Strays:
    """What code lies in the folders the packages' RECORDs name (``paths``: each one's
    rows, relative to its site-packages) and in no RECORD: a module dropped into numpy/,
    what a killed install linked before it wrote its RECORD; and the start-up hooks at
    the top of site-packages that no package installed. Paths are compared resolved
    (an environment named through ``..`` or a link). Where a distribution's RECORD
    cannot be read, what it owns is unknown: nothing in that site-packages is judged."""
    found = list(found)
    claimed: set[str] = set()  # "<resolved site>/<row>", rows normalized only where they need it
    owners: dict[tuple[str, str], set[str]] = {}  # (resolved site, top-level folder) → the packages with files in it
    sites: dict[str, str] = {}  # as the distributions name it → resolved
    blind = set()
    for dist in found:
        site = sites.setdefault(str(dist.site), os.path.realpath(dist.site))
        rows = list(paths.get(dist, ()))
        if dist.problem or not rows:  # no RECORD to say what is its
            blind.add(site)
            continue
        here = site.replace(os.sep, "/")
        for rel in rows:
            rel = rel.replace("\\", "/")
            if os.path.isabs(rel) or rel.startswith("/"):  # PEP 376 allows an absolute row (poetry's .pth)
                full = os.path.realpath(rel).replace(os.sep, "/")
                if not full.startswith(here + "/"):  # outside this site-packages: owns no folder in it
                    claimed.add(full)
                    continue
                rel = full[len(here) + 1 :]
            elif "./" in rel or rel.startswith(".") or "//" in rel:
                rel = posixpath.normpath(rel)
            claimed.add(f"{here}/{rel}")
            top, sep, _ = rel.partition("/")
            if sep and top not in ("..", ".", "") and not top.endswith((".dist-info", ".egg-info")):
                owners.setdefault((site, top), set()).add(dist.name)
    in_packages: dict[str, tuple[str, ...]] = {}
    mounts = _mount_points()
    for (site, top), names in sorted(owners.items()):
        folder = os.path.join(site, top)
        if site in blind or os.path.islink(folder) or folder in mounts:  # a link or a mount: not the venv's
            continue
        owned = tuple(sorted(names))
        for root, dirs, names_here in os.walk(folder):  # never into a linked folder, nor a mounted one
            dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(root, d) not in mounts]
            here = root.replace(os.sep, "/")
            for name in names_here:
                if name.endswith(CODE) and f"{here}/{name}" not in claimed:
                    full = os.path.join(root, name)
                    if not os.path.islink(full):
                        in_packages[full] = owned
    startup = []
    for site in sorted(set(sites.values()) - blind):
        with contextlib.suppress(OSError), os.scandir(site) as entries:
            for entry in entries:
                name = entry.name
                if name in ("sitecustomize", "usercustomize") and entry.is_dir(follow_symlinks=False):
                    path = os.path.join(site, name, "__init__.py")  # imported as a package, too
                elif (name.endswith(".pth") or name in STARTUP) and name not in _VENV_HOOKS:
                    path = os.path.join(site, name)
                else:
                    continue
                if os.path.isfile(path) and not os.path.islink(path) and path.replace(os.sep, "/") not in claimed:
                    startup.append(path)
    return Strays(in_packages=dict(sorted(in_packages.items())), startup=tuple(sorted(startup)))


def _mount_points() -> set[str]:
    """Where a filesystem is mounted (Linux; a bind mount on the same filesystem too,
    which ``os.path.ismount`` cannot see); elsewhere, none known."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    out = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:  # octal escapes: \040 is a space
            out.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4]))
    return out


def top(sites: Iterable[Path]) -> set[str]:
    """The names these site-packages folders hold at their top (the same however the
    environment's path is spelled), lockgen's own aside."""
    out: set[str] = set()
    for site in sites:
        with contextlib.suppress(OSError):
            out.update(name for name in os.listdir(site) if not name.startswith(".lockgen"))
    return out

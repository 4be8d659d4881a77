"""What ``sync --wheelhouse`` needs to build, offline, from a wheelhouse alone: each
sdist's build requirements (read from its ``pyproject.toml``) that the wheelhouse holds
no wheel of, and the local projects whose build backends no lock names. Only ever a
warning: uv says itself what it cannot build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from lockgen.install.wheelhouse import Wanted
from lockgen.locks import pylock
from lockgen.names import canonical


def warnings(folder: Path, items: Iterable[Wanted], locks: Mapping[str, pylock.Lock]) -> list[str]:
    """What ``sync --wheelhouse``, offline, may be unable to build from this wheelhouse."""
    out = []
    lacking = unbuildable(folder, items)
    if lacking:
        shown = "; ".join(f"{name} needs {', '.join(needs)}" for name, needs in sorted(lacking.items()))
        out.append(f"sdists in the wheelhouse need build requirements it has no wheel of ({shown}): sync "
                   "--wheelhouse builds them offline; add those to the inputs so that the locks, and the wheelhouse, "
                   "hold them")  # fmt: skip
    local = sorted({name for lock in locks.values() for name in lock.directories})
    if local:  # a source tree is built at sync time, by a backend no lock names
        out.append(f"the locks install local projects ({', '.join(local)}), which sync builds from source: their "
                   "build backends (build-system.requires) are in the wheelhouse only where the inputs name them; "
                   "else such a sync needs the index, or uv's cache holding them")  # fmt: skip
    return out


def unbuildable(folder: Path, items: Iterable[Wanted]) -> dict[str, list[str]]:
    """sdist package → its build requirements that have no wheel in the wheelhouse: what
    ``sync --wheelhouse``, offline, cannot build it with. Read from each sdist's
    ``pyproject.toml`` (setuptools, by PEP 517's fallback, where it names none)."""
    items = list(items)
    wheels = {canonical(w.filename.split("-", 1)[0]) for w in items if w.filename.endswith(".whl")}
    out: dict[str, list[str]] = {}
    for item in items:
        if item.filename.endswith(".whl"):
            continue
        needs = _build_requires(folder / item.filename)
        lacking = sorted(n for n in needs if n not in wheels)
        if lacking:
            out[item.package] = lacking
    return out


def _build_requires(sdist: Path) -> set[str]:
    """The names in an sdist's ``build-system.requires`` that apply on this machine
    (setuptools where it names none); empty where the sdist cannot be read, which uv
    will say itself."""
    import tarfile
    import zipfile

    from packaging.requirements import InvalidRequirement, Requirement

    from lockgen._toml import TOMLDecodeError, loads

    def top_level(name: str) -> bool:  # pkg-1.0/pyproject.toml, as ./pkg-1.0/pyproject.toml
        return name.removeprefix("./").count("/") == 1 and name.endswith("/pyproject.toml")

    try:
        text: str | None = None
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as z:
                names = [n for n in z.namelist() if top_level(n)]
                text = z.read(names[0]).decode() if names else None
        else:
            with tarfile.open(sdist) as tar:
                found = [m for m in tar.getmembers() if top_level(m.name)]
                handle = tar.extractfile(found[0]) if found else None
                text = handle.read().decode() if handle else None
        system = loads(text).get("build-system", {}) if text else {}
        requires = system.get("requires", ["setuptools"]) if isinstance(system, dict) else ["setuptools"]
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            return set()
        wanted = [Requirement(r) for r in requires]
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError, TOMLDecodeError,
            InvalidRequirement):  # fmt: skip
        return set()
    return {canonical(r.name) for r in wanted if r.marker is None or r.marker.evaluate({"extra": ""})}

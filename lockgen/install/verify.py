"""``lockgen verify``: is the environment exactly the lock, every file as its RECORD says?

:func:`inspect` reads the environment once — its distributions, their files
against RECORD, lockgen's record of what it installed, an interrupted sync's
journal — and both ``verify`` and ``sync`` decide from what it found.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.install import dists, environment, state
from lockgen.install.environment import SEEDS, Target
from lockgen.locks import pylock


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspection:
    """What is installed in an environment, and what is wrong with it."""

    installed: dict[str, str]  # name → version
    broken: dict[str, list[str]]  # name → what is wrong with its files or metadata
    altered: frozenset[str] = frozenset()  # broken ones with a file changed in place (not only missing)
    unreadable: list[dists.Dist]  # metadata uv cannot read: lockgen removes these itself
    record: state.Record | None
    journal: state.Journal | None
    seeds: frozenset[str]  # the installer's own packages present, with what they need
    files: int = 0
    bytes_hashed: int = 0
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)
    found: tuple[dists.Dist, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)  # name → which build RECORD says is installed
    # name → the version the interpreter imports, the first found along its sys.path (a
    # base environment's packages may lie beyond its site-packages). For overlays only.
    imported: dict[str, str] | None = None
    strays: dists.Strays = field(default_factory=dists.Strays)  # files no RECORD claims
    top: frozenset[str] = frozenset()  # what site-packages holds at its top

    def visible(self, name: str) -> str | None:
        """The version the interpreter imports ``name`` at, wherever it is installed."""
        return self.installed.get(name) if self.imported is None else self.imported.get(name)


def inspect(target: Target, *, hashes: bool = False, beyond: bool = False, hashed: Iterable[str] = ()) -> Inspection:
    """What is installed; with ``beyond``, also what the interpreter imports, along its
    whole path (see :func:`environment.path_folders`). Files are checked by size, and by
    sha256 too with ``hashes``; of the packages ``hashed`` names, those modified since
    their package was unpacked (:func:`_unpacked`)."""
    hashed = frozenset(hashed)
    found = dists.scan(target.site_packages()) if target.exists else []
    imported: dict[str, str] | None = None
    folders = environment.path_folders(target) if beyond and target.exists else None
    if folders is not None:
        imported = {}
        read: dict[str, list[dists.Dist]] = {}  # the site-packages just scanned, not read again
        for d in found:
            read.setdefault(os.path.realpath(d.site), []).append(d)
        for folder in folders:  # the first a search finds is the one imported
            seen = read.get(os.path.realpath(folder))
            for d in dists.scan([folder]) if seen is None else seen:
                imported.setdefault(d.name, d.version)
    broken: dict[str, list[str]] = {}
    altered = set()
    unreadable = []
    fingerprints = {}
    paths = {}
    files = bytes_hashed = 0
    for d in found:
        check = dists.check_files(d, hashes=hashes, edited_after=_unpacked(d) if d.name in hashed else None)
        paths[d] = check.paths
        if check.fingerprint:
            fingerprints[d.name] = check.fingerprint
        files += check.files
        bytes_hashed += check.bytes_hashed
        if check.problems:
            broken.setdefault(d.name, []).extend(check.problems)
        if check.altered:
            altered.add(d.name)
        if d.problem or check.unreadable:
            unreadable.append(d)
        elif d.folder_version is not None and not same_version(d.folder_version, d.version):
            # uv reads the version from the folder's name, pip and imports from METADATA: edited
            # in place, and uv's cache (whose files are linked into the environment) with it
            broken.setdefault(d.name, []).append(f"{d.path.name} says version {d.version} in its METADATA")
            altered.add(d.name)
    places: dict[str, list[dists.Dist]] = {}
    for d in found:
        places.setdefault(d.name, []).append(d)
    for name, twice in places.items():  # pip's or a killed install's leftover: which one imports is luck
        if len(twice) > 1:
            shown = ", ".join(f"{d.version} ({d.path.name})" for d in twice)
            broken.setdefault(name, []).append(f"installed more than once: {shown}")
    requires = {d.name: d.requires for d in found}
    installed = dists.versions(found)
    return Inspection(
        installed=installed,
        broken=broken,
        altered=frozenset(altered),
        unreadable=unreadable,
        record=state.read_record(target) if target.exists else None,
        journal=state.read_journal(target) if target.exists else None,
        seeds=frozenset(_with_requirements(SEEDS, requires)),
        files=files,
        bytes_hashed=bytes_hashed,
        requires=requires,
        found=tuple(found),
        fingerprints=fingerprints,
        imported=imported,
        strays=dists.strays(found, paths),
        top=frozenset(dists.top(target.site_packages())) if target.exists else frozenset(),
    )


def _with_requirements(names: Iterable[str], requires: Mapping[str, tuple[str, ...]]) -> set[str]:
    """``names`` that are installed, and what they need (wheel needs packaging)."""
    out: set[str] = set()
    stack = [n for n in names if n in requires]
    while stack:
        name = stack.pop()
        if name in out:
            continue
        out.add(name)
        stack.extend(r for r in requires.get(name, ()) if r in requires)
    return out


def _unpacked(dist: dists.Dist) -> int:
    """When uv unpacked this distribution, as far as its files can tell (ns): its
    ``METADATA``'s modification time, and 2 s for the rest to follow. uv links the files
    from its cache, and writes them there with the time of unpacking: a file modified
    later was edited in place, in some environment linked to the same cache, and must
    match its sha256. A copy (another filesystem, ``UV_LINK_MODE=copy``) is all new and
    carries no edit; without a ``METADATA`` time, every file is compared."""
    try:
        return os.stat(dist.path / "METADATA").st_mtime_ns + 2_000_000_000
    except OSError:
        return -1


NO_RECORD = "no record says which build of it is installed"


def other_artifacts(found: Inspection, lock: pylock.Lock, base: Iterable[str] = ()) -> dict[str, str]:
    """Packages at the locked version whose recorded artifacts are not the locked ones,
    or whose installed files are not those sync installed (another build of the same
    version installed over it: its own RECORD agrees with its files). With no record at
    all (an environment pip filled, a record deleted), every one but the ``base``'s: its
    build is unknown, and a no-op sync would have recorded whatever build is there."""
    if found.record is None:
        skip = set(base)
        return {
            name: NO_RECORD
            for name, version in lock.versions.items()
            if name not in skip and found.installed.get(name) is not None
            and pylock.satisfies(found.installed.get(name), version)
        }  # fmt: skip
    out = {}
    for name, identity in state.identities(lock).items():
        recorded = found.record.packages.get(name)
        # Whichever artifact was installed is among the recorded ones: still fine if the
        # lock still names all of them (a wheel added for another platform changes nothing).
        if recorded and recorded[0] == lock.versions.get(name) and not set(recorded[1]) <= set(identity):
            out[name] = "installed from other artifacts than the lock names (another hash)"
            continue
        built = found.record.installed.get(name)
        now = found.fingerprints.get(name)
        at_locked = pylock.satisfies(found.installed.get(name), lock.versions.get(name, ""))  # else: another version
        if at_locked and built and now and built.startswith(dists.FINGERPRINT) and now != built:  # older: not compared
            out[name] = "its files are not those sync installed (another build of this version installed over it?)"
    for name, now in sources(lock).items():
        was = found.record.sources.get(name)
        if was and was.startswith(SOURCES) and was != now and name in found.installed:  # older: not compared
            out[name] = "its source changed since sync built it (its metadata, or a file its cache-keys name)"
    return out


def drift(found: Inspection, pins: Mapping[str, str]) -> list[str]:
    """Where an environment differs from the base file it is meant to be (versions
    compared as versions: a freeze's ``1.0`` is METADATA's ``1.0.0``)."""
    return [
        f"{name} is {found.visible(name) or 'not installed'} (the base file says {version})"
        for name, version in sorted(pins.items())
        if not same_version(found.visible(name), version)
    ]


def same_version(a: str | None, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    if a is None or a == b:
        return a == b
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


SOURCES = "2:"  # the scheme of a recorded sources hash: an older one covered fewer files, and is not compared


def sources(lock: pylock.Lock) -> dict[str, str]:
    """For each local project the lock installs, one sha256 of its metadata files as
    they are now, whole (uv's cache keys, and the files its backend reads metadata
    from): a build backend's settings there (which files it packages) change what is
    installed, as uv's own cache keys on them."""
    from lockgen.project import local

    out = {}
    for name, folder in lock.directories.items():
        digest = hashlib.sha256()
        for file in local.rebuild_files(lock.path.parent / folder):
            try:
                digest.update(file.encode() + b"\0" + (lock.path.parent / folder / file).read_bytes() + b"\0")
            except OSError:
                continue
        out[name] = SOURCES + digest.hexdigest()
    return out


def problems(
    found: Inspection,
    lock: pylock.Lock,
    *,
    overlay: bool = False,
    base: Iterable[str] = (),
    judge_kept: bool = True,
) -> list[str]:
    """One line per difference between the environment and the lock; in an overlay,
    the packages the ``base`` provides must be there at the lock's versions too (the
    lock was resolved against them), and the files of what the lock does not hold are
    the image's own, not judged (a distribution's packages fail RECORD as they come: a
    Debian image's stripped ``.so``). ``judge_kept`` False (sync's own
    check after an install) leaves aside what sync keeps as it is and cannot mend: the
    files of packages the lock does not name, and the base's packages (whose versions
    sync checked before it began)."""
    out: list[str] = []
    if found.journal is not None:
        out.append(
            f"a sync of {found.journal.lock or 'a lock'} did not finish (process {found.journal.pid} was stopped, or "
            "failed partway); the environment may be half-changed: run lockgen sync to repair it"
        )
    locked = lock.versions
    provided = set(base)
    for name, version in sorted(locked.items()):
        have = found.installed.get(name)
        if name in provided:
            have = found.visible(name)
            if judge_kept and have is None:
                out.append(f"{name} {version} is not installed (the base environment provides it)")
            elif judge_kept and not same_version(have, version):
                out.append(f"{name} is {have}, the lock (from the base environment) has {version}")
            continue
        if have is None:
            out.append(f"{name} {pylock.shown(version)} is not installed")
        elif not pylock.satisfies(have, version):
            out.append(f"{name} is {have}, the lock has {version}")
    if not overlay:
        for name, version in sorted(found.installed.items()):
            if name not in locked and name not in found.seeds:
                out.append(f"{name} {version} is installed but not in the lock")
    unknown = []
    for name, reason in sorted(other_artifacts(found, lock, provided).items()):
        if reason == NO_RECORD:
            unknown.append(name)
        else:
            out.append(f"{' '.join(filter(None, (name, locked[name])))}: {reason}")
    if unknown:
        out.append(
            "no record of what lockgen sync installed (site-packages/.lockgen/record.json): which build of "
            f"{', '.join(unknown[:3])}{' …' if len(unknown) > 3 else ''} ({len(unknown)} packages) is installed is "
            "unknown (lockgen sync installs them once to know)"
        )
    if not overlay:  # an image's own files are the image's
        out.extend(f"{name}: {line}" for name, line in stray_lines(found, lock))
    for name, issues in sorted(found.broken.items()):
        if name not in locked and (not judge_kept or overlay):
            continue  # what sync keeps as it is (its own check), or the image's own (an overlay's verify)
        shown = "; ".join(issues[:3]) + (f" (and {len(issues) - 3} more)" if len(issues) > 3 else "")
        out.append(f"{name}: {shown}")
    return out


def stray_lines(found: Inspection, lock: pylock.Lock) -> list[tuple[str, str]]:
    """(where, what) for each file sync removes as no package's: code in the folders of
    the lock's packages (a folder several share: named under the first of them the lock
    holds), and the start-up hooks at the top of site-packages."""
    by_package: dict[str, list[str]] = {}
    for path, owners in found.strays.in_packages.items():
        locked = [name for name in owners if name in lock.versions]
        if locked:
            by_package.setdefault(locked[0], []).append(path)
    out = []
    for name, paths in sorted(by_package.items()):
        listed = ", ".join(dists.shown(p) for p in paths[:3]) + (" …" if len(paths) > 3 else "")
        out.append((name, f"{len(paths)} file(s) of code in its folders that no RECORD claims: {listed}"))
    for hook in found.strays.startup:
        out.append((dists.shown(hook), "no package installed it, and Python runs it at every start"))
    return out


def stray_files(found: Inspection, lock: pylock.Lock) -> tuple[str, ...]:
    """The files :func:`stray_lines` names, which sync removes."""
    inside = {p for p, owners in found.strays.in_packages.items() if any(n in lock.versions for n in owners)}
    return tuple(sorted(inside | set(found.strays.startup)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """``lockgen verify``'s answer for one environment."""

    variant: str
    lock: str  # as the project names it
    environment: Path
    found: Inspection
    problems: list[str]
    seconds: float
    hashes: bool


def report(
    lock: pylock.Lock,
    lock_name: str,
    variant: str,
    target: Target,
    *,
    hashes: bool,
    provided: set[str],
    base_pins: Mapping[str, str] | None = None,
) -> Report:
    """Inspect ``target`` and compare it with ``lock`` (an overlay when it has a base
    file's pins, ``base_pins``), and with those pins, which sync would refuse to overlay."""
    start = time.perf_counter()
    lock = pylock.applicable(lock, target.python)
    found = inspect(target, hashes=hashes, beyond=base_pins is not None)
    if target.exists:
        found_problems = problems(found, lock, overlay=base_pins is not None, base=provided)
        if base_pins:
            others = {n: v for n, v in base_pins.items() if n not in provided}  # those the lock holds: judged above
            found_problems += [f"not the base environment: {d}" for d in drift(found, others)]
    else:
        found_problems = [f"{target.prefix} is no environment yet (run: lockgen sync)"]
    return Report(variant=variant, lock=lock_name, environment=target.prefix, found=found, problems=found_problems,
                  seconds=time.perf_counter() - start, hashes=hashes)  # fmt: skip

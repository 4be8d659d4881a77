"""``lockgen diff``: the locks in the working tree against those at a git ref.

:func:`compare` is pure (two mappings of variant → lock); :func:`at_ref` reads
the old side out of git; :mod:`lockgen.review.diffview` turns a :class:`Diff` into
text, markdown for a pull-request comment, or JSON (schema in the README).

Whatever differs between two locks is in the :class:`Diff`: a package's version, the
files of an unchanged version (other bytes, other files, another place), the label
that decides which machines install the lock, and, where none of those differ but
the file does, that it changed otherwise. "No lock changes" is said only when none
did.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockgen import command
from lockgen._toml import TOMLDecodeError, loads
from lockgen.exceptions import CommandError, InputError, LockgenError
from lockgen.locks import pylock as lockfile
from lockgen.locks import writer
from lockgen.project.config import Config


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One package whose version differs between two sets of locks."""

    package: str
    old: str | None  # None: added; "": a source tree without a version (PEP 751 allows it)
    new: str | None  # None: removed
    variants: tuple[str, ...]

    @property
    def downgrade(self) -> bool:
        """Did the version go down? A reviewer must see it (numpy 2 back to 1, say)."""
        from packaging.version import InvalidVersion, Version

        try:  # another local build of one release (+cu124 for +cpu) is no step down
            old, new = Version(self.old or ""), Version(self.new or "")
        except InvalidVersion:
            return False
        return new.public != old.public and new < old


@dataclass(frozen=True, slots=True, kw_only=True)
class HashChange:
    """An artifact whose hash changed while its version did not."""

    package: str
    version: str
    artifact: str
    old: str
    new: str
    variants: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    """A file of an unchanged version added, removed, or named at another place (same
    name and hash): the same release now comes from other files, or from elsewhere."""

    package: str
    version: str
    artifact: str
    old: str | None  # where the file was (URL or path); None: added
    new: str | None  # None: removed
    variants: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelChange:
    """A key of a lock's ``[tool.lockgen]`` label that changed: what decides which
    machines install the lock (``cuda``, ``gpu-archs``, ``cuda-runtime`` …)."""

    key: str
    old: object  # None: absent
    new: object
    variants: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Diff:
    """How two sets of locks differ."""

    base: str
    variants_added: tuple[str, ...] = ()
    variants_removed: tuple[str, ...] = ()
    variants_renamed: tuple[tuple[str, str], ...] = ()  # (old name, new name): compared as one variant
    changed: tuple[Change, ...] = ()
    added: tuple[Change, ...] = ()
    removed: tuple[Change, ...] = ()
    hash_changes: tuple[HashChange, ...] = ()
    file_changes: tuple[FileChange, ...] = ()
    labels: tuple[LabelChange, ...] = ()
    # (variant, what) for a lock whose text changed in none of the ways above: its
    # markers, dependencies, input digest …
    otherwise: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()  # (variant, why) for a lock the base has but cannot be read
    compared: tuple[str, ...] = ()  # the variants present on both sides (a renamed one by its new name)

    @property
    def every(self) -> tuple[str, ...]:
        """Every variant on either side: what "all" in ``all py312 variants`` must cover."""
        return (*self.compared, *self.variants_added, *self.variants_removed, *(v for v, _ in self.unreadable))

    @property
    def empty(self) -> bool:
        return not (
            self.variants_added
            or self.variants_removed
            or self.variants_renamed
            or self.changed
            or self.added
            or self.removed
            or self.hash_changes
            or self.file_changes
            or self.labels
            or self.otherwise
            or self.unreadable
        )


# Keys of a lock's [tool.lockgen] table that are no label: its name (the file's), records
# of how and from what it was made, and its graph's roots (its packages show their change).
_UNLABELLED = frozenset({"variant", "input-digest", "archive-digest", "lockgen-version", "content-digest", "roots"})


def _index(lock: lockfile.Lock) -> dict[str, tuple[str, dict[str, lockfile.Artifact]]]:
    """``{package: (version, {file name: artifact})}``."""
    out: dict[str, tuple[str, dict[str, lockfile.Artifact]]] = {n: (v, {}) for n, v in lock.versions.items()}
    for a in lock.artifacts():
        if a.package in out:
            out[a.package][1][a.filename] = a
    return out


def renames(old: Mapping[str, lockfile.Lock], new: Mapping[str, lockfile.Lock]) -> dict[str, str]:
    """Variants gone under one name and come under another: the one removed and the one
    added whose locks record the same python, platform, CUDA, GPU architectures and
    base, where no other removed or added variant shares that label."""
    gone = {name: old[name].meta for name in old.keys() - new.keys()}
    came = {name: new[name].meta for name in new.keys() - old.keys()}
    return lockfile.paired(gone, came, lockfile.BUILT_FOR)


def compare(
    base: str,
    old: Mapping[str, lockfile.Lock],
    new: Mapping[str, lockfile.Lock],
    unreadable: Mapping[str, str] | None = None,
) -> Diff:
    """How ``new`` differs from ``old``; ``unreadable``: variants whose lock ``old``
    should have held but could not be read (each with why), not compared."""
    groups: dict[tuple[str, str | None, str | None], list[str]] = {}
    hashes: dict[tuple[str, str, str, str, str], list[str]] = {}
    moved: dict[tuple[str, str, str, str | None, str | None], list[str]] = {}
    labels: dict[tuple[str, str, str], list[str]] = {}  # values as JSON text: lists are no dict keys
    otherwise: list[tuple[str, tuple[str, ...]]] = []
    renamed = renames(old, {v: lock for v, lock in new.items() if v not in (unreadable or {})})
    pairs = [(v, v) for v in sorted(old.keys() & new.keys())] + sorted(renamed.items())
    for before, variant in pairs:  # a renamed variant's changes are named by its new name
        a, b = _index(old[before]), _index(new[variant])
        seen = False
        for name in sorted(a.keys() | b.keys()):
            va, arts_a = a.get(name, (None, {}))
            vb, arts_b = b.get(name, (None, {}))
            if va != vb:
                groups.setdefault((name, va, vb), []).append(variant)
                seen = True
                continue
            for artifact in sorted(arts_a.keys() | arts_b.keys()):
                x, y = arts_a.get(artifact), arts_b.get(artifact)
                if x is not None and y is not None and x.sha256 and y.sha256 and x.sha256 != y.sha256:
                    hashes.setdefault((name, va or "", artifact, x.sha256, y.sha256), []).append(variant)
                    if _place(x) != _place(y):  # other bytes from another place: name the place too
                        moved.setdefault((name, va or "", artifact, _place(x), _place(y)), []).append(variant)
                elif x is None or y is None or _place(x) != _place(y) or x.sha256 != y.sha256:
                    where = (_place(x) if x else None, _place(y) if y else None)
                    moved.setdefault((name, va or "", artifact, *where), []).append(variant)
                else:
                    continue
                seen = True
        meta_a, meta_b = old[before].meta, new[variant].meta
        for key in sorted((meta_a.keys() | meta_b.keys()) - _UNLABELLED):
            if meta_a.get(key) != meta_b.get(key):
                pair = (json.dumps(meta_a.get(key)), json.dumps(meta_b.get(key)))
                labels.setdefault((key, *pair), []).append(variant)
                seen = True
        if not seen and writer.unversioned(old[before].text) != writer.unversioned(new[variant].text):
            otherwise.append((variant, _otherwise(old[before], new[variant])))
    changes = [Change(package=n, old=o, new=v, variants=tuple(vs)) for (n, o, v), vs in groups.items()]
    return Diff(
        base=base,
        variants_added=tuple(sorted(new.keys() - old.keys() - set(renamed.values()) - (unreadable or {}).keys())),
        variants_removed=tuple(sorted((old.keys() | (unreadable or {}).keys()) - new.keys() - renamed.keys())),
        variants_renamed=tuple(sorted(renamed.items())),
        changed=tuple(c for c in changes if c.old is not None and c.new is not None),
        added=tuple(c for c in changes if c.old is None),
        removed=tuple(c for c in changes if c.new is None),
        hash_changes=tuple(
            HashChange(package=n, version=v, artifact=art, old=ho, new=hn, variants=tuple(vs))
            for (n, v, art, ho, hn), vs in hashes.items()
        ),
        file_changes=tuple(
            FileChange(package=n, version=v, artifact=art, old=wo, new=wn, variants=tuple(vs))
            for (n, v, art, wo, wn), vs in moved.items()
        ),
        labels=tuple(
            LabelChange(key=k, old=json.loads(o), new=json.loads(n), variants=tuple(vs))
            for (k, o, n), vs in labels.items()
        ),
        otherwise=tuple(otherwise),
        unreadable=tuple(sorted((v, why) for v, why in (unreadable or {}).items() if v in new)),
        compared=tuple(sorted((old.keys() & new.keys()) | set(renamed.values()))),
    )


def _place(artifact: lockfile.Artifact) -> str:
    return artifact.url or artifact.path or ""


def _otherwise(old: lockfile.Lock, new: lockfile.Lock) -> tuple[str, ...]:
    """What changed in a lock whose packages, files and label did not."""
    what = [
        aspect
        for aspect, differs in (
            ("markers", old.markers != new.markers),
            ("dependencies", old.dependencies != new.dependencies),
            ("roots", old.roots != new.roots),
            ("input digest", old.digest != new.digest),
            ("archive digest", old.meta.get("archive-digest") != new.meta.get("archive-digest")),
        )
        if differs
    ]
    return tuple(what) or ("other lines",)


def working_tree(config: Config) -> dict[str, lockfile.Lock]:
    out = {}
    for path in lockfile.lock_files(config.locks_dir):
        variant = lockfile.variant_of(path)
        if path.suffix == ".toml" and variant and (lock := lockfile.read(path)) is not None:
            out[variant] = lock
    return out


def at_ref(config: Config, ref: str) -> tuple[dict[str, lockfile.Lock], dict[str, str]]:
    """The locks as they were at git ``ref`` (none if the folder did not exist there);
    and, for each lock there that cannot be read (a merge's conflict markers committed),
    why: a pull request that repairs it must still be reviewable."""
    try:
        top = Path(command.run(["git", "rev-parse", "--show-toplevel"], cwd=config.root).strip())
    except CommandError as exc:
        raise InputError(f"--base: {config.root} is not in a git repository: {exc}") from None
    try:
        command.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=config.root)
    except CommandError:  # --quiet: git says nothing, only its status
        raise InputError(f"--base: {ref!r} is not a commit of the git repository at {top}") from None
    rel = _locks_at(config, top, ref)
    entry = "040000 tree" if rel == "." else _git(top, ref, rel, "ls-tree", ref, "--", rel)
    kind = "".join(entry.split(maxsplit=2)[1:2])  # "tree", "blob", "commit"; "": not there
    if kind == "commit":
        raise LockgenError(f"--base {ref}: {rel} is a git submodule there; lockgen reads no locks from one")
    # Missing, a file or a link at the base: no locks there.
    listing = _git(top, ref, rel, "ls-tree", "--name-only", f"{ref}:{rel}") if kind == "tree" else ""
    out, unreadable = {}, {}
    for name in sorted(listing.split()):
        variant = lockfile.variant_of(Path(name))
        if name.endswith(".toml") and variant:
            text = _git(top, ref, rel, "show", f"{ref}:{rel}/{name}")
            try:
                out[variant] = lockfile.parse(Path(f"{ref}:{rel}/{name}"), text)
            except InputError as exc:
                unreadable[variant] = str(exc)
    return out, unreadable


def _locks_at(config: Config, top: Path, ref: str) -> str:
    """The locks folder (relative to ``top``) as the configuration at ``ref`` names it: a
    change that moves the locks (``locks-dir``, or the whole project into a subfolder) is
    compared with the folder they were in, not with one that held none, which would show
    every lock as new and hide what changed in them. The configuration at ``ref`` is the
    one lockgen finds in the same folder, else the file git says today's came from. Where
    that cannot say (not there, not TOML, no table, a folder outside the repository),
    today's folder."""
    now = config.locks_dir.resolve().relative_to(top.resolve()).as_posix()
    try:
        folder = config.root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:  # --config names a file outside the repository
        return now
    standard = ("lockgen.toml", "pyproject.toml")  # the order lockgen looks for them in a folder
    names = standard if config.path.name in standard else (config.path.name,)
    for path in [posixpath.join(folder, name) for name in names]:
        found = _locks_dir_in(top, ref, path)
        if found is not None:
            return found or now
    moved = _moved_from(top, ref, posixpath.normpath(posixpath.join(folder, config.path.name)))
    return (moved and _locks_dir_in(top, ref, moved)) or now


def _locks_dir_in(top: Path, ref: str, path: str) -> str | None:
    """The locks folder the configuration file ``path`` names at ``ref``, relative to
    ``top``; None where there is no such file or lockgen table there, "" where it cannot
    be read for one."""
    try:
        text = command.run(["git", "show", f"{ref}:{path}"], cwd=top)
    except CommandError:  # not there at the base
        return None
    try:
        data = loads(text)
    except TOMLDecodeError:
        return ""
    tool = data.get("tool")
    name = posixpath.basename(path)
    table = (tool.get("lockgen") if isinstance(tool, dict) else None) if name == "pyproject.toml" else data
    if table is None:  # a pyproject.toml without [tool.lockgen]: looked past, as lockgen does
        return None
    value = table.get("locks-dir", "locks") if isinstance(table, dict) else None
    if not isinstance(value, str) or posixpath.isabs(value):
        return ""
    rel = posixpath.normpath(posixpath.join(posixpath.dirname(path), value))
    return "" if rel == ".." or rel.startswith("../") else rel


def _moved_from(top: Path, ref: str, path: str) -> str | None:
    """Where git says the file now at ``path`` was at ``ref`` (its rename detection)."""
    try:
        listing = command.run(["git", "diff", "-M", "--name-status", "-z", "--diff-filter=R", ref, "--"], cwd=top)
    except CommandError:
        return None
    fields = listing.split("\0")  # -z: names as they are (not quoted), each rename as status, old, new
    for at in range(0, len(fields) - 2, 3):
        if fields[at].startswith("R") and fields[at + 2] == path:
            return fields[at + 1]
    return None


def _git(top: Path, ref: str, rel: str, *args: str) -> str:
    """git's answer; where it cannot give one (a corrupt object, a partial clone cut off
    from its origin), an error naming the base: a diff showing every lock as new, or
    none, would be wrong."""
    try:
        return command.run(["git", *args], cwd=top)
    except CommandError as exc:
        raise LockgenError(f"--base {ref}: git cannot read {rel} there: {exc}") from None

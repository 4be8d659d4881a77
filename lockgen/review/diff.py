"""``lockgen diff``: the locks in the working tree against those at a git ref.

:func:`compare` is pure (two mappings of variant → lock); :func:`at_ref` reads
the old side out of git; the renderers turn a :class:`Diff` into text,
markdown for a pull-request comment, or JSON (schema in the README).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgen import command
from lockgen._toml import TOMLDecodeError, loads
from lockgen.exceptions import CommandError, InputError, LockgenError
from lockgen.locks import pylock as lockfile
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
    compared: tuple[str, ...] = ()  # the variants present on both sides (a renamed one by its new name)

    @property
    def every(self) -> tuple[str, ...]:
        """Every variant on either side: what "all" in ``all py312 variants`` must cover."""
        return (*self.compared, *self.variants_added, *self.variants_removed)

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
        )


def _index(lock: lockfile.Lock) -> dict[str, tuple[str, dict[str, str]]]:
    """``{package: (version, {file name: sha256})}``."""
    out: dict[str, tuple[str, dict[str, str]]] = {name: (version, {}) for name, version in lock.versions.items()}
    for a in lock.artifacts():
        if a.sha256 and a.package in out:
            out[a.package][1][a.filename] = a.sha256
    return out


def renames(old: Mapping[str, lockfile.Lock], new: Mapping[str, lockfile.Lock]) -> dict[str, str]:
    """Variants gone under one name and come under another: the one removed and the one
    added whose locks record the same python, platform, CUDA, GPU architectures and
    base, where no other removed or added variant shares that label."""
    gone = {name: old[name].meta for name in old.keys() - new.keys()}
    came = {name: new[name].meta for name in new.keys() - old.keys()}
    return lockfile.paired(gone, came, lockfile.BUILT_FOR)


def compare(base: str, old: Mapping[str, lockfile.Lock], new: Mapping[str, lockfile.Lock]) -> Diff:
    groups: dict[tuple[str, str | None, str | None], list[str]] = {}
    hashes: dict[tuple[str, str, str, str, str], list[str]] = {}
    renamed = renames(old, new)
    pairs = [(v, v) for v in sorted(old.keys() & new.keys())] + sorted(renamed.items())
    for before, variant in pairs:  # a renamed variant's changes are named by its new name
        a, b = _index(old[before]), _index(new[variant])
        for name in sorted(a.keys() | b.keys()):
            va, arts_a = a.get(name, (None, {}))
            vb, arts_b = b.get(name, (None, {}))
            if va != vb:
                groups.setdefault((name, va, vb), []).append(variant)
                continue
            for artifact in sorted(arts_a.keys() & arts_b.keys()):
                if arts_a[artifact] != arts_b[artifact]:
                    hashes.setdefault((name, va or "", artifact, arts_a[artifact], arts_b[artifact]), []).append(
                        variant
                    )
    changes = [Change(package=n, old=o, new=v, variants=tuple(vs)) for (n, o, v), vs in groups.items()]
    return Diff(
        base=base,
        variants_added=tuple(sorted(new.keys() - old.keys() - set(renamed.values()))),
        variants_removed=tuple(sorted(old.keys() - new.keys() - renamed.keys())),
        variants_renamed=tuple(sorted(renamed.items())),
        changed=tuple(c for c in changes if c.old is not None and c.new is not None),
        added=tuple(c for c in changes if c.old is None),
        removed=tuple(c for c in changes if c.new is None),
        hash_changes=tuple(
            HashChange(package=n, version=v, artifact=art, old=ho, new=hn, variants=tuple(vs))
            for (n, v, art, ho, hn), vs in hashes.items()
        ),
        compared=tuple(sorted((old.keys() & new.keys()) | set(renamed.values()))),
    )


def working_tree(config: Config) -> dict[str, lockfile.Lock]:
    out = {}
    for path in lockfile.lock_files(config.locks_dir):
        variant = lockfile.variant_of(path)
        if path.suffix == ".toml" and variant and (lock := lockfile.read(path)) is not None:
            out[variant] = lock
    return out


def at_ref(config: Config, ref: str) -> dict[str, lockfile.Lock]:
    """The locks as they were at git ``ref`` (none if the folder did not exist there)."""
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
    out = {}
    for name in sorted(listing.split()):
        variant = lockfile.variant_of(Path(name))
        if name.endswith(".toml") and variant:
            text = _git(top, ref, rel, "show", f"{ref}:{rel}/{name}")
            out[variant] = lockfile.parse(Path(f"{ref}:{rel}/{name}"), text)
    return out


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


def _in(variants: Iterable[str], every: Iterable[str] = ()) -> str:
    """``all variants``, ``all py312 variants``, or the names; "all" only when it is
    all of ``every`` (a variant added or removed is not in any change)."""
    names = sorted(variants)
    every = sorted(every)
    if len(every) > 1 and names == every:
        return "all variants"
    groups: dict[str, list[str]] = {}
    for name in every:
        groups.setdefault(name.split("-", 1)[0], []).append(name)
    out, rest = [], set(names)
    for prefix, members in sorted(groups.items()):
        if len(members) > 1 and set(members) <= rest:
            out.append(f"all {prefix} variants")
            rest -= set(members)
    return ", ".join([*out, *sorted(rest)])


def text(d: Diff) -> str:
    lines = []
    if d.hash_changes:
        lines.append("!! ARTIFACTS CHANGED HASH WITHOUT A VERSION CHANGE: the same release now has other bytes !!")
        lines += [
            f"!! {h.package} {h.version}: {h.artifact} {' → '.join(shortened(h.old, h.new))} in "
            f"{_in(h.variants, d.every)}"
            for h in d.hash_changes
        ]
        lines.append("")
    lines += [f"variant added: {v}" for v in d.variants_added]
    lines += [f"variant removed: {v}" for v in d.variants_removed]
    lines += [f"variant renamed: {a} → {b}" for a, b in d.variants_renamed]
    lines += [
        f"{c.package} {_shown(c.old)} → {_shown(c.new)}{_down(c)} in {_in(c.variants, d.every)}" for c in d.changed
    ]
    lines += [f"+ {c.package}{_after(c.new)} in {_in(c.variants, d.every)}" for c in d.added]
    lines += [f"- {c.package}{_after(c.old)} in {_in(c.variants, d.every)}" for c in d.removed]
    return "\n".join(lines) if lines else f"no lock changes since {d.base}"


def markdown(d: Diff) -> str:
    out = [f"### lockgen: lock changes since `{d.base}`", ""]
    if d.empty:
        return "\n".join([*out, "No lock changes."])
    if d.hash_changes:
        out += [
            "> [!CAUTION]",
            "> **Artifacts changed hash while their version did not.** The same release now has other bytes:",
            "> verify the index before merging.",
            "",
            "| package | version | artifact | old sha256 | new sha256 | variants |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| {h.package} | {h.version} | `{h.artifact}` | `{h.old}` | `{h.new}` | {_in(h.variants, d.every)} |"
            for h in d.hash_changes
        ]
        out.append("")
    if d.variants_added or d.variants_removed or d.variants_renamed:
        out += [f"- variant added: `{v}`" for v in d.variants_added]
        out += [f"- variant removed: `{v}`" for v in d.variants_removed]
        out += [f"- variant renamed: `{a}` → `{b}`" for a, b in d.variants_renamed]
        out.append("")
    rows = (
        [(c.package, _shown(c.old), _shown(c.new) + _down(c), c.variants) for c in d.changed]
        + [(c.package, "—", _shown(c.new), c.variants) for c in d.added]
        + [(c.package, _shown(c.old), "—", c.variants) for c in d.removed]
    )
    if rows:
        out += ["| package | old | new | variants |", "| --- | --- | --- | --- |"]
        out += [f"| {p} | {o} | {n} | {_md_variants(vs, d.every)} |" for p, o, n, vs in rows]
    return "\n".join(out)


def shortened(old: str, new: str) -> tuple[str, str]:
    """Two hashes as short as a reader can still tell them apart: 12 characters, or up
    to 4 past the first that differs (``8abb2f1d8689…`` twice would read as no change)."""
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
    keep = max(12, at + 4)

    def cut(h: str) -> str:
        return h if len(h) <= keep else f"{h[:keep]}…"

    return cut(old), cut(new)


def _down(change: Change) -> str:
    return " (downgrade)" if change.downgrade else ""


def _shown(version: str | None) -> str:
    return version or "(no version)"


def _after(version: str | None) -> str:
    return f" {version}" if version else ""


def _md_variants(variants: tuple[str, ...], every: tuple[str, ...]) -> str:
    text = _in(variants, every)
    return ", ".join(part if part.startswith("all ") else f"`{part}`" for part in text.split(", "))


def to_json(d: Diff) -> dict[str, Any]:
    return {
        "base": d.base,
        "variants": {
            "added": list(d.variants_added),
            "removed": list(d.variants_removed),
            "renamed": [{"old": a, "new": b} for a, b in d.variants_renamed],
        },
        "hash_changes": [
            {
                "package": h.package,
                "version": h.version,
                "artifact": h.artifact,
                "old": h.old,
                "new": h.new,
                "variants": list(h.variants),
            }
            for h in d.hash_changes
        ],
        "changed": [
            {
                "package": c.package,
                "old": c.old or None,
                "new": c.new or None,
                "downgrade": c.downgrade,
                "variants": list(c.variants),
            }
            for c in d.changed
        ],
        "added": [{"package": c.package, "version": c.new or None, "variants": list(c.variants)} for c in d.added],
        "removed": [{"package": c.package, "version": c.old or None, "variants": list(c.variants)} for c in d.removed],
    }

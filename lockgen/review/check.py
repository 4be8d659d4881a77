"""``lockgen check``: are the committed locks valid, current, truthful and clean?

Everything here reads files and decides; nothing calls uv. The two questions
only uv can answer (does a variant resolve with its sibling's version? does the
lock equal a fresh resolution?) are asked through :mod:`lockgen.review.recheck`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from lockgen import fileset
from lockgen.compile import consistency, rules
from lockgen.exceptions import InputError
from lockgen.files import JOURNAL
from lockgen.locks import pylock as lockfile
from lockgen.locks import writer
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    """What checking the locks found."""

    problems: list[str]
    warnings: list[str]
    locks: dict[Variant, lockfile.Lock]  # the locks that could be read


def problems(config: Config, *, confirm: consistency.Confirm | None = None) -> Findings:
    """One line per problem; empty when every lock is in order. check takes no run lock
    (it must not wait for a compile): where the locks folder changed while it was read
    (a compile renaming its locks into place), it is read again."""
    for _ in range(3):
        before = _folder_state(config)
        found = _problems(config, confirm)
        if _folder_state(config) == before:
            return found
    said = f"{config.relative(config.locks_dir)}: the locks changed while check read them: a compile is writing them"
    return Findings(problems=[said, *found.problems], warnings=found.warnings, locks=found.locks)


def _folder_state(config: Config) -> frozenset[tuple[str, int, int, int, int]]:
    """The locks, exports and commit journal of the locks folder, by name, inode, size and
    modification and change times (not a compile's workspaces, which change all through its run)."""
    try:
        entries = list(os.scandir(config.locks_dir))
    except OSError:
        return frozenset()
    out = set()
    for entry in entries:
        if entry.name != JOURNAL and lockfile.variant_of(Path(entry.name)) is None:
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            out.add((entry.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return frozenset(out)


def _problems(config: Config, confirm: consistency.Confirm | None) -> Findings:
    inputs = Inputs.of(config)
    out: list[str] = []
    warnings: list[str] = []
    current: dict[Variant, lockfile.Lock] = {}
    if fileset.interrupted(config.locks_dir):
        out.append(
            f"{config.relative(config.locks_dir)}: a compile was interrupted while writing; "
            "some locks may be new and others old (run: lockgen compile)"
        )
    for variant in config.variants:
        path = lockfile.lock_file(config.locks_dir, variant.name)
        rel = config.relative(path)
        try:
            lock = lockfile.read(path)
        except InputError as exc:
            out.append(f"{variant.name}: {exc}")
            continue
        if lock is None:
            out.append(f"{variant.name}: {rel} is missing (run: lockgen compile {variant.name})")
            continue
        current[variant] = lock
        stale = not inputs.current(variant, lock.digest)
        if stale:
            out.append(
                f"{variant.name}: {rel} is stale: its inputs or settings changed (run: lockgen compile {variant.name})"
            )
        elif lock.meta.get("archive-digest") != (archives := inputs.archive_digest(variant)):
            why = (
                "it was written before lockgen recorded the wheels and sdists it installs by path"
                if "archive-digest" not in lock.meta and archives is not None
                else "a wheel or sdist it installs by path changed"
            )
            out.append(f"{variant.name}: {rel} is stale: {why} (run: lockgen compile {variant.name})")
        # A stale lock is held only to what its inputs changing cannot explain: an intent
        # removed since is no package "added by hand".
        for problem in rules.integrity(variant, lock, inputs, file_variant=variant.name, own_roots=stale):
            out.append(f"{variant.name}: {rel}: {problem}")
        verdict = rules.judge(config, variant, lock)
        out.extend(f"{variant.name}: {e}" for e in verdict.errors)
        warnings.extend(f"{variant.name}: {w}" for w in verdict.warnings)
        if "requirements" in config.formats:
            out.extend(_requirements(config, variant.name, lock))
    if confirm is not None:
        out.extend(consistency.unforced(current, consistency.differences(current), confirm))
    for path, why in lockfile.orphans(config.locks_dir, {v.name for v in config.variants}, config.formats).items():
        out.append(f"{config.relative(path)}: orphan: {why} (lockgen compile --prune removes it)")
    return Findings(problems=out, warnings=warnings, locks=current)


def _requirements(config: Config, name: str, lock: lockfile.Lock) -> list[str]:
    path = lockfile.requirements_file(config.locks_dir, name)
    try:
        text = lockfile.read_text(path)
    except InputError as exc:
        return [f"{name}: {exc}"]
    if text is None:
        return [f"{name}: {config.relative(path)} is missing (run: lockgen compile {name})"]
    problem = writer.export_problem(text, lock)
    if problem:
        return [f"{name}: {config.relative(path)}: {problem} (run: lockgen compile {name})"]
    return []

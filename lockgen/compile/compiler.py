"""``lockgen compile``: every variant's lock, resolved through the seam and checked.

The orchestration: decide which variants are up to date, hand the others to the
resolver, judge each result against the project's rules, and write the new
locks together (one run at a time; the set is old or new, never a mix).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import files, fileset, private, runs
from lockgen.compile import exchange
from lockgen.exceptions import InputError, LockgenError
from lockgen.locks import pylock, writer
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs
from lockgen.redact import HIDDEN

if TYPE_CHECKING:
    # Loaded where first used: the resolver (and uv) only when something is resolved;
    # the rules, and what compares variants, while uv resolves rather than before.
    from lockgen.compile import consistency
    from lockgen.compile.resolver import Request
    from lockgen.compile.strategy import Outcome

# What a killed compile leaves in the locks folder: resolver workspaces, files not yet renamed,
# a probe of the folder, what its commit left.
STALE = (".lockgen-tmp-", ".lockgen-pylock.", ".lockgen-requirements.", ".lockgen-probe-", *fileset.LEFT)
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


# Offline uv resolutions at once. Measured here (2 cores, 6 variants): one after another
# 411 ms, two at a time ~360 ms, all six at once 189 ms: uv reads its cache in threads
# and waits on the disk more than the CPU, so the CPU count is the wrong limit.
OFFLINE_JOBS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """How to compile: the command line's choices."""

    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    jobs: int = 1
    offline: bool = False
    dry_run: bool = False

    @property
    def upgrading(self) -> bool:
        return self.upgrade or bool(self.upgrade_packages)


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One variant's outcome, as the compile table shows it."""

    variant: str
    status: str  # "updated", "unchanged", "up to date" or "failed"
    packages: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    export_only: bool = False  # "updated", the lock as it was: only its requirements export is written


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything one compile did, for the report."""

    results: tuple[Result, ...]
    orphans: dict[Path, str]  # → why lockgen no longer writes it
    pruned: bool
    differences: tuple[consistency.Difference, ...] = ()  # involving a variant compiled now
    new_differences: tuple[consistency.Difference, ...] = ()  # of those, the ones not there before
    recovered: str | None = None  # an interrupted compile's writes: "finished" first, or "dropped"

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.results)


def orphans(config: Config) -> dict[Path, str]:
    """Files of the locks folder lockgen no longer writes (a variant no longer configured,
    an export in a format no longer asked for), each with why."""
    return pylock.orphans(config.locks_dir, {v.name for v in config.variants}, config.formats)


def check_upgrade_names(names: Sequence[str]) -> None:
    for name in names:
        if not _PACKAGE_NAME.fullmatch(name):
            raise InputError(f"--upgrade-package: {name!r} is not a package name")


def run(
    config: Config,
    patterns: Sequence[str],
    options: Options,
    *,
    prune: bool = False,
    progress: Callable[[Result], None] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Report:
    variants = config.select(patterns)
    check_upgrade_names(options.upgrade_packages)
    Inputs.of(config).digest(variants[0])  # bad intent files stop here, exit 2, before any wait
    # Made before the run lock, which then locks the folder itself too (a first compile
    # beside another with its run locks elsewhere: sudo, another LOCKGEN_CACHE_DIR).
    with files.made_folder(config.locks_dir) as unmake, runs.run_lock("compile", config.locks_dir, say=say):
        # Read inside the lock: a compile that waited resolves the inputs as they are now.
        inputs = Inputs.of(config)
        # Each variant's input digest, and its archive digest (where it installs wheels by path).
        digests = {v.name: (inputs.digest(v), inputs.archive_digest(v)) for v in variants}
        recovered = None
        if not options.dry_run:
            recovered = fileset.recover(config.locks_dir)
            files.clean_stale(config.locks_dir, prefix=STALE)
        # Every lock as it was before this run: what this run writes must not become
        # another variant's preference, or the output would depend on timing.
        olds: dict[str, pylock.Lock | None] = {}
        unreadable: dict[str, str] = {}  # variant → why its lock could not be read
        for v in config.variants:
            olds[v.name], problem = _read(config, v)
            if problem:
                unreadable[v.name] = problem
        # A variant renamed keeps the pins of the lock it had under its former name.
        renamed = exchange.formers(config, variants, olds, inputs) if not options.upgrade else {}
        results: dict[str, Result] = {}
        news: dict[str, pylock.Lock] = {}
        staged = fileset.FileSet(config.locks_dir)
        pending: list[Request] = []
        by_request: dict[str, Variant] = {}
        for variant in variants:
            old = olds[variant.name]
            if old is not None and _up_to_date(config, variant, old, digests[variant.name], options, inputs):
                results[variant.name] = _judge_current(config, variant, old)
                news[variant.name] = old
                if progress:
                    progress(results[variant.name])
                continue
            preferences = (
                "" if options.upgrade else exchange.preferences_for(config, variant, olds, renamed.get(variant.name))
            )
            request = exchange.request_for(
                config,
                variant,
                inputs,
                preferences=preferences,
                upgrade=options.upgrade,
                upgrade_packages=options.upgrade_packages,
            )
            pending.append(request)
            by_request[request.name] = variant

        def done(request: Request, outcome: Outcome) -> None:
            variant = by_request[request.name]
            if isinstance(outcome, LockgenError) and request.pins:
                outcome = exchange.explain_base(request, outcome, offline=options.offline)
            moved = inputs.changed(variant)
            if moved and not isinstance(outcome, LockgenError):
                outcome = LockgenError(
                    f"{', '.join(moved)} changed while uv resolved, after lockgen had read it: the result may be "
                    "from either text (run lockgen compile again)"
                )
            result, out = _finish(config, variant, digests[variant.name], olds[variant.name], outcome, news)
            if not options.dry_run:
                for path, text in out.items():
                    staged.add(path, text)
            results[variant.name] = result
            if progress:
                progress(result)

        if pending:
            from lockgen.compile import strategy

            files.probe_writable(config.locks_dir)  # one clear line now, not one per variant later
            if not options.dry_run:
                fileset.probe()  # and lockgen's cache, where the commit keeps its token
            try:
                strategy.resolve_all(
                    pending, offline=options.offline, jobs=options.jobs, done=done, meanwhile=_ready_to_judge
                )
                staged.commit()
            finally:
                staged.discard()
        stray = orphans(config)
        if prune and not options.dry_run:
            for path in stray:
                path.unlink(missing_ok=True)
        unmake()  # a folder made here and left empty (a dry run, every variant failed) goes
    ordered = tuple(_noting(results[v.name], unreadable.get(v.name), inputs.patch_markers(v)) for v in variants)
    after = _differences(config, olds, news, ordered)
    before = {_key(d) for d in _differences(config, olds, {}, ordered)}
    return Report(
        results=ordered,
        orphans=stray,
        pruned=prune and not options.dry_run,
        differences=tuple(after),
        new_differences=tuple(d for d in after if _key(d) not in before),
        recovered=recovered,
    )


def _ready_to_judge() -> None:
    """While uv resolves: load what judging a result needs, and remove what killed
    runs left in the temporary folder. Loaded on the first result instead, the judging
    code kept every result queued behind that one: on 2 cores shared with six uv
    processes, ~10 ms of imports took ~35 ms, all after the last uv had ended."""
    from lockgen.compile import consistency, rules  # noqa: F401

    private.clean()


def _key(d: consistency.Difference) -> tuple[str, str, frozenset[tuple[str, tuple[str, ...]]]]:
    return d.python, d.package, frozenset(d.versions.items())


def _read(config: Config, variant: Variant) -> tuple[pylock.Lock | None, str | None]:
    """The variant's lock, or why it could not be read (it is resolved afresh then, and
    replaced only on success)."""
    try:
        return pylock.read(pylock.lock_file(config.locks_dir, variant.name)), None
    except InputError as exc:
        return None, str(exc)


def _noting(result: Result, unreadable: str | None, inputs: list[str]) -> Result:
    """The result, with what compile knew of the variant before resolving it."""
    said = [f"{unreadable}; resolved afresh, without its pins"] if unreadable else []
    if not said and not inputs:
        return result
    return replace(result, warnings=(*said, *result.warnings, *inputs))


def _up_to_date(
    config: Config,
    variant: Variant,
    old: pylock.Lock,
    digests: tuple[str, str | None],
    options: Options,
    inputs: Inputs,
) -> bool:
    """Current, and still what lockgen wrote: a lock edited by hand is resolved again."""
    from lockgen.compile import rules

    digest, archives = digests
    if options.upgrading or (old.digest != digest and not inputs.current(variant, old.digest)):
        return False
    if old.meta.get("archive-digest") != archives:  # a wheel it installs by path changed
        return False
    if rules.integrity(variant, old, inputs, file_variant=variant.name):
        return False
    if HIDDEN in old.text:  # an earlier release's "***" user, which no netrc or keyring answers: written anew
        return False
    if "requirements" in config.formats:  # a format added since, or an export edited: written anew
        try:
            export = pylock.read_text(pylock.requirements_file(config.locks_dir, variant.name))
        except InputError:
            return False
        if export is None or writer.export_problem(export, old):  # edited, another compile's, or older
            return False
    return True


def _judge_current(config: Config, variant: Variant, lock: pylock.Lock) -> Result:
    """An up-to-date lock is held to the same rules as a new one."""
    from lockgen.compile import rules

    verdict = rules.judge(config, variant, lock)
    if verdict.errors:
        return Result(variant=variant.name, status="failed", error="; ".join(verdict.errors), warnings=verdict.warnings)
    return Result(variant=variant.name, status="up to date", packages=len(lock.versions), warnings=verdict.warnings)


def _finish(
    config: Config,
    variant: Variant,
    digests: tuple[str, str | None],  # the input digest, and the archive digest (where it has archives)
    old: pylock.Lock | None,
    outcome: Outcome,
    news: dict[str, pylock.Lock],
) -> tuple[Result, dict[Path, str]]:
    """Judge a resolution: its result, and the files to write when it passes."""
    from lockgen.compile import rules

    if isinstance(outcome, LockgenError):
        return Result(variant=variant.name, status="failed", error=str(outcome)), {}
    path = pylock.lock_file(config.locks_dir, variant.name)
    try:
        new = exchange.render(config, variant, digests[0], outcome, digests[1])
    except InputError as exc:  # uv wrote something PEP 751 does not allow
        return Result(variant=variant.name, status="failed", error=str(exc)), {}
    verdict = rules.judge(config, variant, new)
    if verdict.errors:
        failed = Result(
            variant=variant.name, status="failed", error="; ".join(verdict.errors), warnings=verdict.warnings
        )
        return failed, {}
    news[variant.name] = new
    out = {path: new.text}
    warnings = verdict.warnings
    if outcome.uncached:  # --offline: the cache decided, and it lacked some metadata
        warnings = (
            *warnings,
            f"resolved from uv's cache, which lacks the metadata of {rules.some(list(outcome.uncached), 3)}: uv passed "
            "over those versions, so newer ones may be locked online (compile without --offline)",
        )
    export_text = exchange.render_export(config, variant, outcome, new)
    if export_text is not None and outcome.requirements is not None:
        export = pylock.requirements_file(config.locks_dir, variant.name)
        out[export] = export_text
        local = writer.local_projects(outcome.requirements)
        if local:
            warnings = (
                *warnings,
                f"{config.relative(export)} names a local project ({', '.join(local)}): pip cannot install "
                "the export (it hash-checks every line, and no folder has a hash); lockgen sync can",
            )
    out = {target: text for target, text in out.items() if pylock.read_text(target) != text}
    before = old.versions if old else {}
    after = new.versions
    result = Result(
        variant=variant.name,
        status="updated" if out else "unchanged",
        packages=len(after),
        added=len(after.keys() - before.keys()),
        changed=sum(1 for n in after.keys() & before.keys() if after[n] != before[n]),
        removed=len(before.keys() - after.keys()),
        warnings=warnings,
        export_only=bool(out) and path not in out,
    )
    return result, out


def _differences(
    config: Config,
    olds: dict[str, pylock.Lock | None],
    news: dict[str, pylock.Lock],
    results: tuple[Result, ...],
) -> list[consistency.Difference]:
    """Version differences across variants of one python that involve a variant compiled now."""
    from lockgen.compile import consistency

    compiled = {r.variant for r in results if r.status in ("updated", "unchanged")}
    if not compiled:
        return []
    current = {v: lock for v in config.variants if (lock := news.get(v.name) or olds.get(v.name))}
    return [d for d in consistency.differences(current) if any(v in compiled for vs in d.versions.values() for v in vs)]


__all__ = ["Options", "Report", "Result", "run"]

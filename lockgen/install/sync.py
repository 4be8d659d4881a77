"""``lockgen sync``: install the chosen lock exactly, hash-checked, verified, and
repairable whatever interrupts it.

:func:`diff` is pure; :func:`sync` acts on its result, so ``--dry-run`` walks the
same path and stops before anything changes. The order of the acting part:

1. refuse what cannot work, before touching anything: a lock for another
   variant, an artifact path outside the project, a lock that needs a newer CUDA
   major than the driver, lockgen's own environment;
2. take the environment's run lock (one sync per environment at a time);
3. with a GPU, install the lock into a staging environment beside the target and
   ask its torch whether it runs here;
4. write the journal (:mod:`.state`), install (uv checks every hash before it
   changes a file), then uninstall what the lock lacks — never the installer's
   own pip, setuptools and wheel;
5. verify every package and every file against RECORD; only then write the
   record of what was installed and remove the journal.

Killed anywhere in 4–5, the journal stays, and the next sync reinstalls every
package the interrupted plan touched plus any whose files fail RECORD.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import files, private, runs
from lockgen.exceptions import CommandError, Killed, LockgenError
from lockgen.install import dists, guards, installer, kernels, state, verify
from lockgen.install.environment import CREATING, Target
from lockgen.locks import pylock
from lockgen.project.config import Config, Variant
from lockgen.redact import HIDDEN

if TYPE_CHECKING:
    from lockgen.machine.detect import Facts


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What a sync changes: computed first, so --dry-run shows the same plan."""

    install: dict[str, str]
    change: dict[str, tuple[str, str]]
    reinstall: dict[str, str]  # name → why (same version)
    remove: dict[str, str]
    kept: tuple[str, ...] = ()  # installed, not in the lock, and left alone (the installer's own)
    overlay: bool = False  # onto a base environment: nothing is removed
    strays: tuple[str, ...] = ()  # files no package's RECORD claims, to remove (verify.stray_files)

    @property
    def empty(self) -> bool:
        return not (self.install or self.change or self.reinstall or self.remove or self.strays)

    @property
    def touched(self) -> set[str]:
        return {*self.install, *self.change, *self.reinstall, *self.remove}

    def lines(self) -> list[str]:
        return (
            [f"+ {_pinned(n, v)}" for n, v in sorted(self.install.items())]
            + [f"~ {n} {a} -> {b}" for n, (a, b) in sorted(self.change.items())]
            + [f"! {n} reinstall: {why}" for n, why in sorted(self.reinstall.items())]  # planned or done
            + [f"- {_pinned(n, v)}" for n, v in sorted(self.remove.items())]
            + [f"- {dists.shown(p)} (no package's RECORD claims it)" for p in self.strays]
        )


def _pinned(name: str, version: str) -> str:
    """``name==version``; a local project the lock gives no version is shown as one."""
    return f"{name}=={version}" if version else f"{name} {pylock.shown(version)}"


def diff(
    installed: Mapping[str, str],
    locked: Mapping[str, str],
    *,
    keep: Iterable[str] = (),
    reinstall: Mapping[str, str] | None = None,
    overlay: bool = False,
) -> Plan:
    """What turns ``installed`` into exactly ``locked``: what ``keep`` names stays, and
    ``reinstall`` (name → why) is installed again even at the same version. An
    ``overlay`` removes nothing."""
    reinstall = reinstall or {}
    keep = set(keep)
    return Plan(
        install={n: v for n, v in locked.items() if n not in installed},
        change={
            n: (installed[n], v) for n, v in locked.items() if n in installed and not pylock.satisfies(installed[n], v)
        },
        reinstall={
            n: why for n, why in reinstall.items() if n in locked and pylock.satisfies(installed.get(n), locked[n])
        },
        remove={} if overlay else {n: v for n, v in installed.items() if n not in locked and n not in keep},
        kept=tuple(sorted(n for n in installed if n not in locked and n in keep)),
        overlay=overlay,
    )


def plan_for(
    found: verify.Inspection, lock: pylock.Lock, *, provided: Iterable[str] = (), overlay: bool = False
) -> Plan:
    """The plan for this environment: versions, plus every package to install again —
    files that fail RECORD, other artifacts than the lock's, an interrupted sync's. An
    ``overlay`` (a variant with a base file, whether or not its lock holds any of the
    base's packages: ``provided``) removes nothing."""
    base = set(provided)
    locked = {n: v for n, v in lock.versions.items() if n not in base}
    again = dict(verify.other_artifacts(found, lock, base))
    for name in found.broken:
        again.setdefault(name, "its files do not match its RECORD")
    if found.journal is not None:
        for name in found.journal.touched:
            again.setdefault(name, "an interrupted sync was changing it")
    keep = kept(found, lock, base)
    plan = diff(found.installed, locked, keep=keep, reinstall=again, overlay=overlay)
    broken_extras = {
        n: found.installed[n] for n in found.broken if n not in lock.versions and n not in plan.remove and n not in keep
    }
    if broken_extras and not overlay:  # a broken package the lock does not want: remove it all the same
        plan = replace(plan, remove={**plan.remove, **broken_extras})
    if not overlay:  # a module dropped into a locked package, a .pth no package installed
        plan = replace(plan, strays=verify.stray_files(found, lock))
    return plan


def sync(
    config: Config,
    lock: pylock.Lock,
    target: Target,
    facts: Facts,
    variant: Variant,
    *,
    dry_run: bool = False,
    wheelhouse: Path | None = None,
    system: bool = False,
    hashes: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Plan:
    """Install ``lock`` into ``target``; returns the plan it carried out. A variant on a
    base environment is an overlay: only what the base lacks is installed, nothing
    is removed, and a target whose base packages differ from the base file is refused."""
    lock = pylock.applicable(lock, target.python)  # what a marker leaves out here is neither installed nor missed
    base_file = guards.base_of(config, variant)
    provided = guards.provided_by_base(config, variant, lock)
    overlay = base_file is not None  # by the variant, not by what its lock happens to take from the base
    guards.refuse_target(target, overlay=overlay, system=system)
    guards.refuse_runtime(lock, facts)
    source = None
    if wheelhouse is not None:
        source = installer.serving(lock, wheelhouse)
    base = provided
    claim = installer.claimed(target.prefix) if not (target.exists or dry_run) else contextlib.nullcontext()
    with claim, runs.run_lock("sync", target.prefix, say=say):
        # Another sync may have made the environment while this one waited.
        made = (target.prefix / "pyvenv.cfg").is_file() and not (target.prefix / CREATING).is_file()
        target = replace(target, exists=target.exists or made)
        files.clean_stale(target.prefix.parent, prefix=kernels.stage_prefix(target))
        found = verify.inspect(target, hashes=hashes, beyond=base_file is not None)
        sources = verify.sources(lock)  # before anything is built: a file edited meanwhile is a change next time
        if base_file is not None:
            guards.refuse_drift(found, base_file, target)
        plan = plan_for(found, lock, provided=base, overlay=overlay)
        if dry_run:
            return plan
        check_gpu = "torch" in lock.versions and bool(facts.gpus) and variant.accelerator.cuda is not None
        wanted = set(lock.versions) - base
        if plan.empty and target.exists and found.journal is None:
            passed = kernels.check_in_place(target, lock, facts, found.record, variant) if check_gpu else {}
            kept_check = passed or (found.record.checked if found.record else {})
            state.write_record(target, _new_record(config, lock, variant, kept_check, found, base, sources))
            _refuse_damaged_kept(found, kept(found, lock, base) if not overlay else base)
            return plan
        private.clean()  # what killed runs left in the temporary folder
        with private.folder("sync") as tmp:
            install_from = lock.path
            # From a wheelhouse: no index, no credentials.
            indexes, lent = installer.credentials(config, variant) if source is None else ((), [])
            if source is not None or base or HIDDEN in lock.text or lent:
                install_from = installer.rewrite(lock, wanted, tmp, wheelhouse=source, credentials=lent)
            checked: Mapping[str, object] = {}
            if check_gpu and "torch" in base:  # the base's own torch: ask it where it is
                checked = kernels.check_in_place(target, lock, facts, found.record, variant)
            elif check_gpu:  # staged whole (an overlay's base packages too), then asked
                whole = install_from if not base else installer.rewrite(lock, lock.versions, tmp / "whole",
                                                                        wheelhouse=source, credentials=lent)  # fmt: skip
                checked = kernels.check_in_staging(
                    target, lock, whole, facts, variant, wheelhouse=wheelhouse, indexes=indexes
                )
            created = not target.exists
            target = _apply(
                target,
                found,
                plan,
                install_from,
                wheelhouse=wheelhouse,
                indexes=indexes,
                keep=kept(found, lock, base),
                owned=wanted,
            )
        # What uv placed just now is checked by sha256 too: it links files from its cache, and a file edited in
        # place in another environment is edited in the cache as well, the size kept.
        placed = {*plan.install, *plan.change, *plan.reinstall}
        inspected = verify.inspect(target, hashes=hashes, hashed=placed)
        record = _new_record(config, lock, variant, checked, inspected, base, sources)
        # judged by what was just installed; a source edited while it was built is the next sync's to see
        after = replace(inspected, record=replace(record, sources=verify.sources(lock)), journal=None)
        left = verify.problems(after, lock, overlay=overlay, base=base, judge_kept=False)
        cached = _FROM_CACHE if inspected.altered & placed else ""  # what uv just placed came so from its cache
        if left and created:  # a failed first sync leaves no environment behind
            shutil.rmtree(target.prefix, ignore_errors=True)
            raise LockgenError(
                f"after the install the new environment differs from the lock: {'; '.join(left[:5])} "
                f"(no environment was left behind{cached})"
            )
        if left:
            before = verify.problems(found, lock, overlay=overlay, base=base, judge_kept=False)
            raise _still_differs(left, before, target, overlay=overlay, cached=cached)
        state.write_record(target, record)
        state.end(target)
        _refuse_damaged_kept(after, kept(after, lock, base) if not overlay else base)  # an image's own: the image's
    return plan


_FROM_CACHE = (
    "; uv links files from its cache, so a file edited in place in one environment is edited in the cache too: "
    "uv cache clean NAME mends it"
)


def _still_differs(
    left: list[str], before: list[str], target: Target, *, overlay: bool, cached: str = ""
) -> LockgenError:
    """After an install that left differences: a promise of repair only where one can
    come. Differences that were there before, and that this sync did not move, the next
    sync would not move either."""
    shown = "; ".join(left[:5])
    if set(left) <= set(before):
        afresh = (
            f"; to start afresh, remove {target.prefix} and run lockgen sync" if target.virtual and not overlay else ""
        )
        return LockgenError(
            f"sync could not mend the environment, which still differs from the lock as it did before: {shown} "
            f"(it stays marked{afresh})"
        )
    return LockgenError(
        "after the install the environment still differs from the lock (it stays marked, and the next lockgen "
        f"sync repairs it{cached}): {shown}"
    )


def kept(found: verify.Inspection, lock: pylock.Lock, base: Iterable[str]) -> frozenset[str]:
    """What sync leaves as it is: the installer's own packages the lock does not pin
    (one it pins is sync's to mend), and a base environment's."""
    return frozenset(found.seeds - lock.versions.keys()) | frozenset(base)


def _refuse_damaged_kept(found: verify.Inspection, keep: set[str] | frozenset[str]) -> None:
    """The lock is installed; what sync keeps as it is (the installer's own, a base
    environment's packages) must not be damaged for all that, or verify would fail
    where sync said all was well. sync does not mend those: it says how."""
    damaged = {name: issues for name, issues in found.broken.items() if name in keep}
    if not damaged:
        return
    shown = "; ".join(f"{name}: {'; '.join(issues[:2])}" for name, issues in sorted(damaged.items()))
    raise LockgenError(
        f"the lock is installed, but packages sync keeps as they are are damaged: {shown}. sync never changes "
        "the installer's own (reinstall it: uv pip install --python ENV --reinstall NAME) nor a base "
        "environment's packages (restore them from the image)"
    )


def _apply(
    target: Target,
    found: verify.Inspection,
    plan: Plan,
    install_from: Path,
    *,
    wheelhouse: Path | None,
    indexes: tuple[str, ...],
    keep: set[str] | frozenset[str] = frozenset(),
    owned: Iterable[str] = (),
) -> Target:
    """Journal, install (hash-checked first), then uninstall; a first sync that fails
    leaves no environment behind. Returns the target, which exists now. ``keep`` is
    never touched; an overlay touches only what it installs (``owned``)."""
    again = {*plan.reinstall, *plan.change}  # uv too: it may read another version than lockgen did
    installer.forget(found.altered & again)  # before anything in the environment changes
    copies = Counter(d.name for d in found.found)
    owned = set(owned)

    def mine(name: str) -> bool:  # an overlay removes nothing the lock does not install: the image's are its own
        return name not in keep and (not plan.overlay or name in owned)

    twice = {name for name, n in copies.items() if n > 1 and mine(name)}  # uv would mend one copy, not the others
    created = not target.exists
    if created:
        installer.create(target.prefix, sys.executable)
        target = replace(target, exists=True)
    touched = plan.touched | set(found.journal.touched if found.journal else ())
    files_before = set(found.journal.files if found.journal else ())
    for dist in found.found:
        if dist.name in touched:
            files_before |= dists.claimed(dist)
    try:
        state.begin(target, install_from.name, touched, files_before)
    except LockgenError:
        if created:
            shutil.rmtree(target.prefix, ignore_errors=True)
        raise
    try:
        for broken in found.unreadable:  # uv cannot read these; they are reinstalled below if locked
            if mine(broken.name):  # never the installer's own, nor a base's: those are not sync's to mend
                dists.remove(broken, within=target.prefix)
        for dist in found.found:  # every copy of a package installed twice goes; the lock's is installed anew
            if dist.name in twice:
                dists.remove(dist, within=target.prefix)
        installer.install(install_from, target, reinstall=again, wheelhouse=wheelhouse, indexes=indexes)
        installer.uninstall(target, [name for name in plan.remove if name not in twice])
        for stray in plan.strays:  # only once the install went through: a failed one leaves them
            if Path(os.path.realpath(stray)).is_relative_to(os.path.realpath(target.prefix)):  # never beyond it
                Path(stray).unlink(missing_ok=True)
        now = dists.scan(target.site_packages())  # what no RECORD claims any more is a left-over
        claimed = set().union(*(dists.claimed(d) for d in now))
        if found.journal is not None:  # after a kill: uv's half-written temporaries too
            dists.sweep_temporaries(files_before | {c for d in now if d.name in touched for c in dists.claimed(d)},
                                    within=target.prefix)  # fmt: skip
        dists.sweep(files_before, claimed, within=target.prefix)
    except (CommandError, OSError) as exc:
        if created:
            shutil.rmtree(target.prefix, ignore_errors=True)
            raise installer.failed(
                _as_command_error(exc), f"install {install_from.name}", "no environment was left behind"
            ) from None
        # uv ended by a signal (the OOM killer) may have linked part of a package no RECORD claims yet: never
        # "unchanged". Nor where it reinstalled a package whose files were already amiss: files it took away
        # then leave that package as broken as before, to every check here.
        if (
            not isinstance(exc, Killed)
            and _unchanged(found, target)
            and not found.unreadable
            and not plan.reinstall.keys() & found.broken.keys()
            and found.journal is None
        ):
            state.end(target)
            raise installer.failed(
                _as_command_error(exc), f"install {install_from.name}", "the environment is unchanged"
            ) from None
        raise installer.failed(
            _as_command_error(exc),
            f"install {install_from.name}",
            "the environment was partly changed; it stays marked, and the next lockgen sync repairs it",
        ) from None
    except KeyboardInterrupt:  # Ctrl-C: a first sync leaves nothing, as a failed one does
        if created:
            shutil.rmtree(target.prefix, ignore_errors=True)
        raise
    return target


def _unchanged(found: verify.Inspection, target: Target) -> bool:
    """Is the environment as ``found`` saw it, after a failed install? The same
    distributions, versions and RECORDs, none with metadata lost, and no package's
    files newly short (an uninstall cut off by a file it may not remove)."""
    now = verify.inspect(target)
    return (
        now.installed == found.installed
        and {d.path: d.problem for d in now.found} == {d.path: d.problem for d in found.found}
        and now.fingerprints == found.fingerprints
        and now.broken.keys() <= found.broken.keys()
        and now.top == found.top  # no folder begun before its RECORD
        and now.strays == found.strays  # nor a file linked into one there
    )


def _as_command_error(exc: BaseException) -> CommandError:
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, OSError):
        return CommandError(f"{exc.filename or ''}: {exc.strerror or exc}")
    return CommandError(str(exc))


def _new_record(
    config: Config,
    lock: pylock.Lock,
    variant: Variant,
    checked: Mapping[str, object],
    found: verify.Inspection,
    base: set[str],
    sources: Mapping[str, str],
) -> state.Record:
    """What sync installed; a base's packages are the image's, not sync's: their builds are not recorded.
    ``sources``: the local projects' source fingerprints as they were when the build began."""
    ids = state.identities(lock)
    return state.Record(
        lock=config.relative(lock.path),
        variant=variant.name,
        packages={name: (version, ids.get(name, ())) for name, version in lock.versions.items()},
        checked=dict(checked),
        installed={n: found.fingerprints[n] for n in lock.versions if n in found.fingerprints and n not in base},
        sources=dict(sources),
    )

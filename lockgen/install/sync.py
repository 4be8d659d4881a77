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
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from lockgen import files
from lockgen.exceptions import CommandError, InputError, LockgenError
from lockgen.install import dists, installer, kernels, state, verify
from lockgen.install.environment import Target, is_own
from lockgen.locks import pylock, runtime
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs, inside

if TYPE_CHECKING:
    from lockgen.machine.detect import Facts
    from lockgen.project.bases import Base

STAGE = ".lockgen-stage-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    install: dict[str, str]
    change: dict[str, tuple[str, str]]
    reinstall: dict[str, str]  # name → why (same version)
    remove: dict[str, str]
    kept: tuple[str, ...] = ()  # installed, not in the lock, and left alone (the installer's own)
    overlay: bool = False  # onto a base environment: nothing is removed

    @property
    def empty(self) -> bool:
        return not (self.install or self.change or self.reinstall or self.remove)

    @property
    def touched(self) -> set[str]:
        return {*self.install, *self.change, *self.reinstall, *self.remove}

    def lines(self) -> list[str]:
        return (
            [f"+ {n}=={v}" for n, v in sorted(self.install.items())]
            + [f"~ {n} {a} -> {b}" for n, (a, b) in sorted(self.change.items())]
            + [f"! {n} reinstalled: {why}" for n, why in sorted(self.reinstall.items())]
            + [f"- {n}=={v}" for n, v in sorted(self.remove.items())]
        )


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
        change={n: (installed[n], v) for n, v in locked.items() if n in installed and installed[n] != v},
        reinstall={n: why for n, why in reinstall.items() if n in locked and installed.get(n) == locked[n]},
        remove={} if overlay else {n: v for n, v in installed.items() if n not in locked and n not in keep},
        kept=tuple(sorted(n for n in installed if n not in locked and n in keep)),
        overlay=overlay,
    )


def plan_for(found: verify.Inspection, lock: pylock.Lock, *, provided: Iterable[str] = ()) -> Plan:
    """The plan for this environment: versions, plus every package to install again —
    files that fail RECORD, other artifacts than the lock's, an interrupted sync's."""
    base = set(provided)
    locked = {n: v for n, v in lock.versions.items() if n not in base}
    again = dict(verify.other_artifacts(found, lock))
    for name in found.broken:
        again.setdefault(name, "its files do not match its RECORD")
    if found.journal is not None:
        for name in found.journal.touched:
            again.setdefault(name, "an interrupted sync was changing it")
    plan = diff(found.installed, locked, keep=found.seeds | base, reinstall=again, overlay=bool(base))
    keep = found.seeds | base
    broken_extras = {
        n: found.installed[n] for n in found.broken if n not in lock.versions and n not in plan.remove and n not in keep
    }
    if broken_extras and not base:  # a broken package the lock does not want: remove it all the same
        plan = replace(plan, remove={**plan.remove, **broken_extras})
    return plan


def load_lock(config: Config, variant: Variant, *, allow_stale: bool) -> pylock.Lock:
    """The variant's lock, refused when it is stale, labelled for another variant, or
    names a file outside the project."""
    path = pylock.lock_file(config.locks_dir, variant.name)
    lock = pylock.read(path)
    if lock is None:
        raise InputError(f"{path}: no lock for {variant.name} (run: lockgen compile {variant.name})")
    named = lock.meta.get("variant")
    if named != variant.name:
        raise InputError(f"{path}: its [tool.lockgen] names variant {named!r}, not {variant.name!r}; refusing it")
    for artifact in lock.artifacts():
        if artifact.path is not None and not inside(path.parent / artifact.path, config.boundary):
            raise InputError(
                f"{path}: {artifact.package}: path {artifact.path!r} is outside the project ({config.boundary}); refusing it"
            )
    inputs = Inputs.of(config, validate=False)
    stale = lock.digest != inputs.digest(variant)
    if stale and not allow_stale:
        raise LockgenError(
            f"{path}: stale: its inputs changed since it was compiled "
            f"(run: lockgen compile {variant.name}, or pass --allow-stale)"
        )
    edited = _integrity(variant, lock, inputs, stale=stale, digest=lock.digest or "")
    if edited:
        raise LockgenError(
            f"{path}: not the lock lockgen wrote for {variant.name}: {'; '.join(edited)} "
            f"(run: lockgen compile {variant.name})"
        )
    return lock


def _integrity(variant: Variant, lock: pylock.Lock, inputs: Inputs, *, stale: bool, digest: str) -> list[str]:
    """rules.integrity, remembered: for a current lock it is a function of the lock's text
    and its input digest alone, so a pair that passed once passes without the work."""
    import hashlib

    from lockgen import __version__

    key = hashlib.sha256(f"{__version__}\0{digest}\0{stale}\0{lock.text}".encode()).hexdigest()
    folder = files.cache_folder("intact")
    if folder is not None and (folder / key).is_file():
        return []
    from lockgen.compile import rules

    found = rules.integrity(variant, lock, inputs, file_variant=variant.name, stale=stale)
    if not found and folder is not None:
        with contextlib.suppress(OSError):
            (folder / key).touch()
            files.prune(folder, keep=2000)
    return found


def _base(config: Config, variant: Variant) -> Base | None:
    if variant.base is None:
        return None
    from lockgen.project import bases

    return bases.read(config.root, variant.base)


def provided_by_base(config: Config, variant: Variant, lock: pylock.Lock) -> set[str]:
    """The lock's packages its variant's base environment provides (none without a base)."""
    base = _base(config, variant)
    if base is None:
        return set()
    from lockgen.compile import rules

    return set(rules.provided(base, lock.versions))


def refuse_target(target: Target, *, overlay: bool, system: bool) -> None:
    """lockgen's own environment never; an interpreter's own (non-virtual) prefix only
    as an overlay of a base environment, and only when ``--system`` says so."""
    if is_own(target):
        raise InputError(
            f"{target.source}: {target.prefix} is lockgen's own environment; lockgen never installs into it "
            "(install lockgen with pipx or `uv tool`, or point --python elsewhere)"
        )
    if target.exists and not target.virtual:
        if not overlay:
            raise InputError(
                f"{target.source}: {target.prefix} is not a virtual environment; an exact sync would remove "
                "what it holds. lockgen syncs into virtual environments, or overlays a variant with a base "
                "environment onto an interpreter with --system"
            )
        if not system:
            raise InputError(
                f"{target.source}: {target.prefix} is not a virtual environment; pass --system to overlay it"
            )


def refuse_drift(found: verify.Inspection, base: Base, provided: set[str], target: Target) -> None:
    """An overlay assumes the base's versions: a target that differs is refused."""
    drift = []
    for name in sorted(provided & base.pins.keys()):
        have = found.installed.get(name)
        if have != base.pins[name]:
            drift.append(f"{name} is {have or 'not installed'} (the base file says {base.pins[name]})")
    if drift:
        raise LockgenError(
            f"{target.prefix} is not the base environment {base.rel} describes: {'; '.join(drift[:10])}. "
            "Nothing was changed; refresh the base file from this machine (uv pip freeze) and compile again"
        )


def refuse_runtime(lock: pylock.Lock, facts: Facts) -> None:
    """A lock whose packages need a newer CUDA major than the driver can never run."""
    needs = runtime.infer(lock.versions).cuda
    if needs is None or facts.cuda is None:
        return
    try:
        driver = Version(facts.cuda)
    except InvalidVersion:
        return
    if needs.major > driver.major:
        raise LockgenError(
            f"{lock.path.name} needs CUDA {needs} (its packages' runtime), and this machine's driver supports "
            f"CUDA {facts.cuda} (from {facts.sources.get('cuda', 'the driver')}): a newer CUDA major never runs on it. "
            "Nothing was changed; update the driver, or choose a variant built for this CUDA."
        )


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
    say: Callable[[str], None] = lambda _: None,
) -> Plan:
    """Install ``lock`` into ``target``; returns the plan it carried out. A variant on a
    base environment is an overlay: only what the base lacks is installed, nothing
    is removed, and a target whose base packages differ from the base file is refused."""
    base_file = _base(config, variant)
    provided = provided_by_base(config, variant, lock)
    refuse_target(target, overlay=base_file is not None, system=system)
    refuse_runtime(lock, facts)
    source = _wheelhouse_files(lock, wheelhouse) if wheelhouse is not None else None
    base = provided
    with files.run_lock("sync", target.prefix, say=say):
        files.clean_stale(target.prefix.parent, prefix=STAGE)
        found = verify.inspect(target)
        if base_file is not None:
            refuse_drift(found, base_file, provided, target)
        plan = plan_for(found, lock, provided=base)
        if dry_run:
            return plan
        check_gpu = "torch" in lock.versions and bool(facts.gpus) and variant.accelerator.cuda is not None
        wanted = set(lock.versions) - base
        if plan.empty and target.exists and found.journal is None:
            passed = _check_in_place(target, lock, facts, found, variant) if check_gpu else {}
            _record(config, target, lock, variant, passed or (found.record.checked if found.record else {}))
            return plan
        with tempfile.TemporaryDirectory(prefix="lockgen-sync-") as tmp:
            install_from = lock.path
            if source is not None or base:
                install_from = installer.rewrite(lock, wanted, Path(tmp), wheelhouse=source)
            checked: Mapping[str, object] = {}
            indexes = tuple(u for u in (variant.index_url, *variant.extra_index_urls) if u)
            if check_gpu:
                checked = _check_in_staging(
                    target, lock, install_from, facts, variant, offline=source is not None, indexes=indexes
                )
            target = _apply(target, found, plan, install_from, offline=source is not None, indexes=indexes)
        record = _new_record(config, lock, variant, checked)
        after = replace(verify.inspect(target), record=record, journal=None)  # judged by what was just installed
        left = verify.problems(after, lock, overlay=bool(base), base=base)
        if left:
            raise LockgenError(
                "after the install the environment still differs from the lock (it stays marked, and the next "
                "lockgen sync repairs it): " + "; ".join(left[:5])
            )
        if state.read_record(target) != record:
            state.write_record(target, record)
        state.end(target)
    return plan


def _apply(
    target: Target, found: verify.Inspection, plan: Plan, install_from: Path, *, offline: bool, indexes: tuple[str, ...]
) -> Target:
    """Journal, install (hash-checked first), then uninstall; a first sync that fails
    leaves no environment behind. Returns the target, which exists now."""
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
    before = found.installed
    try:
        for broken in found.unreadable:  # uv cannot read these; they are reinstalled below if locked
            dists.remove(broken, within=target.prefix)
        installer.install(install_from, target, reinstall=plan.reinstall, offline=offline, indexes=indexes)
        installer.uninstall(target, plan.remove)
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
        versions_now = dists.versions(dists.scan(target.site_packages()))
        if versions_now == before and not found.unreadable and not plan.reinstall:
            state.end(target)
            raise installer.failed(
                _as_command_error(exc), f"install {install_from.name}", "the environment is unchanged"
            ) from None
        raise installer.failed(
            _as_command_error(exc),
            f"install {install_from.name}",
            "the environment was partly changed; it stays marked, and the next lockgen sync repairs it",
        ) from None
    return target


def _as_command_error(exc: BaseException) -> CommandError:
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, OSError):
        return CommandError(f"{exc.filename or ''}: {exc.strerror or exc}")
    return CommandError(str(exc))


def _check_key(lock: pylock.Lock, facts: Facts) -> dict[str, object]:
    torch = state.identities(lock).get("torch", ())
    return {"torch": list(torch), "gpus": sorted(g.compute_capability or "?" for g in facts.gpus), "cuda": facts.cuda}


def _check_in_place(
    target: Target, lock: pylock.Lock, facts: Facts, found: verify.Inspection, variant: Variant
) -> Mapping[str, object]:
    key = _check_key(lock, facts)
    if found.record is not None and dict(found.record.checked) == key:
        return key  # this torch passed on these GPUs and this driver before
    _refuse_torch(kernels.ask(target), facts, variant)
    return key


def _check_in_staging(
    target: Target,
    lock: pylock.Lock,
    install_from: Path,
    facts: Facts,
    variant: Variant,
    *,
    offline: bool,
    indexes: tuple[str, ...],
) -> Mapping[str, object]:
    """Install the lock beside the target and ask its torch; the target is untouched."""
    parent = target.prefix.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=STAGE, dir=parent) as tmp:
        stage = Target(prefix=Path(tmp) / "env", python=target.python, source="staging", exists=True)
        installer.create(stage.prefix, str(target.interpreter) if target.exists else sys.executable)
        installer.install(install_from, stage, offline=offline, indexes=indexes)
        _refuse_torch(kernels.ask(stage), facts, variant)
    return _check_key(lock, facts)


def _refuse_torch(build: kernels.TorchBuild, facts: Facts, variant: Variant) -> None:
    found = kernels.problems(build, facts)
    if found:
        raise LockgenError(f"{variant.name}: " + "; ".join(found) + "; the environment is unchanged")


def _new_record(config: Config, lock: pylock.Lock, variant: Variant, checked: Mapping[str, object]) -> state.Record:
    ids = state.identities(lock)
    return state.Record(
        lock=config.relative(lock.path),
        variant=variant.name,
        packages={name: (version, ids.get(name, ())) for name, version in lock.versions.items()},
        checked=dict(checked),
    )


def _record(config: Config, target: Target, lock: pylock.Lock, variant: Variant, checked: Mapping[str, object]) -> None:
    record = _new_record(config, lock, variant, checked)
    if state.read_record(target) != record:
        state.write_record(target, record)


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wheelhouse_files(lock: pylock.Lock, folder: Path) -> dict[str, Path]:
    """Every artifact of the lock, found in the wheelhouse with its locked size;
    an error naming each one that is missing or of another size."""
    if not folder.is_dir():
        raise InputError(f"--wheelhouse: {folder}: no such folder")
    found: dict[str, Path] = {}
    missing, wrong = [], []
    for a in lock.artifacts():
        path = folder / a.filename
        if not path.is_file():
            missing.append(a.filename)
            continue
        if a.size is not None and path.stat().st_size != a.size:
            wrong.append(f"{a.filename} ({path.stat().st_size} bytes, the lock says {a.size})")
            continue
        if a.size is None and a.sha256 and _sha256(path) != a.sha256:  # no size to compare: the bytes
            wrong.append(f"{a.filename} (its sha256 is not the lock's)")
            continue
        found[a.filename] = path.resolve()
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        if wrong:
            parts.append(f"corrupt: {', '.join(wrong[:5])}")
        raise LockgenError(
            f"--wheelhouse {folder} cannot serve {lock.path.name}: {'; '.join(parts)}. Nothing was changed "
            f"(run: lockgen wheelhouse {folder})"
        )
    return found

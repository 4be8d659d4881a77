"""What must hold before ``sync`` changes anything, each refusal with its reason.

A lock that is stale, labelled for another variant, names a file outside the
project, or is not what lockgen wrote; a target that is lockgen's own environment
or an interpreter's own prefix; a driver older than the lock's CUDA major; an
overlay's base that drifted. Each is refused with nothing changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from lockgen import files
from lockgen.exceptions import InputError, LockgenError
from lockgen.install import verify
from lockgen.install.environment import Target, is_own
from lockgen.locks import pylock, runtime, writer
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs

if TYPE_CHECKING:
    from lockgen.machine.detect import Facts
    from lockgen.project.bases import Base


def load_lock(
    config: Config, variant: Variant, *, allow_stale: bool, warn: Callable[[str], None] = lambda _: None
) -> pylock.Lock:
    """The variant's lock, refused when it is stale (unless ``allow_stale``, which
    ``warn`` is told of), labelled for another variant, names a file outside the
    project, is not what lockgen wrote, or holds a package the configuration forbids."""
    path = pylock.lock_file(config.locks_dir, variant.name)
    lock = pylock.read(path)
    if lock is None:
        raise InputError(f"{config.relative(path)}: no lock for {variant.name} (run: lockgen compile {variant.name})")
    named = lock.meta.get("variant")
    if named is None:
        raise InputError(f"{path}: no [tool.lockgen] table names its variant: not a lock lockgen wrote; refusing it "
                         f"(run: lockgen compile {variant.name})")  # fmt: skip
    if named != variant.name:
        raise InputError(f"{path}: its [tool.lockgen] names variant {named!r}, not {variant.name!r}; refusing it")
    outside = pylock.outside(lock, config.boundary)
    if outside:
        raise InputError(
            f"{path}: installs from {', '.join(outside)}, outside the project ({config.boundary}); refusing it"
        )
    inputs = Inputs.of(config, validate=False)
    stale = not inputs.current(variant, lock.digest)
    if stale and not allow_stale:
        raise LockgenError(
            f"{path}: stale: its inputs changed since it was compiled "
            f"(run: lockgen compile {variant.name}, or pass --allow-stale)"
        )
    if stale:
        warn(f"{path}: stale: its inputs changed since it was compiled (run: lockgen compile {variant.name})")
    edited = _integrity(variant, lock, inputs, stale=stale, digest=lock.digest or "")
    if writer.UNSEALED in edited:  # an older lockgen's lock: machines keep working until it is compiled again
        warn(f"{path}: {writer.UNSEALED}; lockgen check fails on it (run: lockgen compile {variant.name})")
        edited.remove(writer.UNSEALED)
    if edited:
        raise LockgenError(
            f"{path}: not the lock lockgen wrote for {variant.name}: {'; '.join(edited)} "
            f"(run: lockgen compile {variant.name})"
        )
    forbidden = config.forbid & lock.versions.keys()
    if forbidden:  # forbid is policy, not an input: a name added since leaves the lock current
        from lockgen.locks import graph

        raise LockgenError(
            f"{path}: holds what forbid in {config.relative(config.path)} names: "
            f"{'; '.join(graph.explain(lock.graph or {}, forbidden))}; refusing it "
            f"(lockgen compile {variant.name} fails until nothing requires them)"
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


def base_of(config: Config, variant: Variant) -> Base | None:
    if variant.base is None:
        return None
    from lockgen.project import bases

    return bases.read(config.root, variant.base)


def provided_by_base(config: Config, variant: Variant, lock: pylock.Lock) -> set[str]:
    """The lock's packages its variant's base environment provides (none without a base)."""
    base = base_of(config, variant)
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


def refuse_drift(found: verify.Inspection, base: Base, target: Target) -> None:
    """An overlay assumes the base's versions, every one of them (the lock was resolved
    with all as constraints): a target that differs anywhere is refused."""
    drift = verify.drift(found, base.pins)
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

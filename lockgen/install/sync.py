"""``lockgen sync``: install the chosen lock exactly, hash-checked, and verify (SPEC §7).

:func:`diff` is pure; :func:`sync` acts on its result, so ``--dry-run`` walks the
same path and stops before uv is called.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockgen import cuda, uv
from lockgen.command import run as run_command
from lockgen.exceptions import CommandError, InputError, LockgenError
from lockgen.install import environment
from lockgen.locks import pylock as lockfile
from lockgen.machine.detect import Facts
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    install: dict[str, str]
    remove: dict[str, str]
    change: dict[str, tuple[str, str]]

    @property
    def empty(self) -> bool:
        return not (self.install or self.remove or self.change)

    def lines(self) -> list[str]:
        return (
            [f"+ {n}=={v}" for n, v in sorted(self.install.items())]
            + [f"~ {n} {a} -> {b}" for n, (a, b) in sorted(self.change.items())]
            + [f"- {n}=={v}" for n, v in sorted(self.remove.items())]
        )


def diff(installed: Mapping[str, str], locked: Mapping[str, str]) -> Plan:
    """What turns ``installed`` into exactly ``locked`` (the installer's seeds stay)."""
    return Plan(
        install={n: v for n, v in locked.items() if n not in installed},
        remove={n: v for n, v in installed.items() if n not in locked and n not in environment.SEEDS},
        change={n: (installed[n], v) for n, v in locked.items() if n in installed and installed[n] != v},
    )


def load_lock(config: Config, variant: Variant, *, allow_stale: bool) -> lockfile.Lock:
    path = lockfile.lock_file(config.locks_dir, variant.name)
    lock = lockfile.read(path)
    if lock is None:
        raise InputError(f"{path}: no lock for {variant.name} (run: lockgen compile {variant.name})")
    if not allow_stale and lock.digest != Inputs.of(config, validate=False).digest(variant):
        raise LockgenError(
            f"{path}: stale: its inputs changed since it was compiled "
            f"(run: lockgen compile {variant.name}, or pass --allow-stale)"
        )
    return lock


def sync(lock: lockfile.Lock, target: environment.Target, facts: Facts, variant: Variant, *, dry_run: bool) -> Plan:
    """Install ``lock`` into ``target``; returns the plan it carried out.

    Nothing is changed unless everything checks out first: uv prepares and
    hash-checks every artifact before it touches the environment, and when a GPU
    needs torch's kernels verified, the lock is first installed into a staging
    environment beside the target and checked there.
    """
    if environment.is_own(target):
        raise InputError(
            f"--python: {target.prefix} is lockgen's own environment; lockgen never installs into it "
            "(install lockgen with pipx or `uv tool`, or point --python elsewhere)"
        )
    if target.exists and not (target.prefix / "pyvenv.cfg").is_file():
        raise InputError(f"--python: {target.prefix} is not a virtual environment; lockgen syncs only those")
    locked = lock.versions
    plan = diff(environment.installed(target) if target.exists else {}, locked)
    check_gpu = "torch" in locked and bool(facts.gpus) and variant.accelerator.cuda is not None
    if dry_run:
        return plan
    if plan.empty and target.exists:
        if check_gpu:
            check_torch(target, facts, variant)
        return plan
    python = str(target.interpreter) if target.exists else sys.executable
    if check_gpu:
        with tempfile.TemporaryDirectory(prefix=".lockgen-stage-", dir=target.prefix.parent) as tmp:
            stage = environment.Target(prefix=Path(tmp) / "env", python=target.python, source="staging", exists=True)
            _install(lock, stage, python)
            check_torch(stage, facts, variant)
    try:
        _install(lock, target, python)
    except LockgenError:
        if not target.exists:  # it did not exist before: leave none behind
            shutil.rmtree(target.prefix, ignore_errors=True)
        raise
    left = diff(environment.installed(target), locked)
    if not left.empty:
        raise LockgenError(f"after sync the environment differs from {lock.path.name}: " + ", ".join(left.lines()))
    return plan


def _install(lock: lockfile.Lock, target: environment.Target, python: str) -> None:
    """``uv pip sync``, which downloads and hash-checks every artifact before it
    changes anything; creates the virtual environment first if there is none."""
    if not target.interpreter.exists():
        uv.run(["venv", str(target.prefix), "--python", python, "--no-config", "--quiet"])
    before = environment.installed(target)
    try:
        uv.run(["pip", "sync", str(lock.path), "--python", str(target.interpreter), "--preview-features", "pylock",
                "--no-config", "--quiet", "--color", "never"])  # fmt: skip
    except CommandError as exc:
        after = environment.installed(target)
        state = "the environment is unchanged" if after == before else "the environment was partly changed"
        raise CommandError(f"uv could not install {lock.path.name}; {state}:\n{exc}") from None


# The build's arch flags need no GPU (a Docker build has none); get_arch_list() needs one.
TORCH_ARCHS = """
import json, torch
built_for = getattr(torch.version, "cuda", None)
flags = getattr(getattr(torch, "_C", None), "_cuda_getArchFlags", None)
archs = (flags() or "").split() if flags and built_for else []
if built_for and not archs:
    archs = torch.cuda.get_arch_list()
print(json.dumps([torch.__version__, built_for, archs]))
"""


def check_torch(target: environment.Target, facts: Facts, variant: Variant) -> None:
    """Fail loudly when the lock's torch has no kernels for a visible GPU."""
    try:
        out = run_command([str(target.interpreter), "-c", TORCH_ARCHS])
        version, built_for, archs = json.loads(out.strip().splitlines()[-1])
    except (CommandError, ValueError) as exc:
        raise LockgenError(f"{variant.name}: could not ask torch which GPUs it supports: {exc}") from None
    if built_for is None:
        raise LockgenError(
            f"{variant.name}: torch {version} is a CPU build, on a CUDA variant with a GPU visible; "
            "the environment is unchanged. Check this accelerator's index-url / extra-index-urls."
        )
    for gpu in facts.gpus:
        if gpu.compute_capability and not covers(archs, gpu.compute_capability):
            raise LockgenError(
                f"{variant.name}: torch {version} was built for {', '.join(archs) or 'no GPU'}, which cannot run on "
                f"GPU {gpu.index} {gpu.name} ({gpu.compute_capability}); the environment is unchanged. "
                "Narrow this accelerator's gpu-archs, or add one whose torch covers this GPU."
            )


def covers(arch_list: list[str], capability: str) -> bool:
    """Does a torch ``get_arch_list()`` run on a GPU of ``capability``?

    A cubin ``sm_XY`` runs on X.Z for Z ≥ Y (same major; not the ``a``/``f``
    arch-specific ones elsewhere); PTX ``compute_XY`` JIT-compiles for any later GPU.
    """
    major, minor = cuda.arch_key(capability)
    for entry in arch_list:
        kind, _, digits = entry.partition("_")
        specific = digits[-1:] in ("a", "f")
        arch = cuda.normalize_arch(digits.rstrip("af"))
        if arch is None:
            continue
        a_major, a_minor = cuda.arch_key(arch)
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
        if kind == "sm" and a_major == major and (a_minor == minor or (a_minor < minor and not specific)):
            return True
    return False

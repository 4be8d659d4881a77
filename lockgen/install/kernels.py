"""Can the lock's torch run on this machine's GPUs and driver? Asked of torch itself.

torch's build flags (``torch._C._cuda_getArchFlags()``) and ``torch.version.cuda``
need no GPU, so the check runs in a Docker build with overrides as well as on the
GPU box. It runs in the staging environment, before the target is touched.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import cuda
from lockgen.command import run as run_command
from lockgen.exceptions import CommandError, LockgenError
from lockgen.install import installer, state
from lockgen.install.environment import Target
from lockgen.locks import pylock
from lockgen.project.config import Variant

if TYPE_CHECKING:
    from lockgen.machine.detect import Facts


def stage_prefix(target: Target) -> str:
    """The staging environment's folder, beside the target and named for it, so that a
    sync cleans only its own environment's leftovers (the digest of the full path keeps
    ``venv`` from claiming ``venv-2``'s folders)."""
    import hashlib

    tag = hashlib.sha256(str(target.prefix).encode()).hexdigest()[:12]
    return f".lockgen-stage-{target.prefix.name}-{tag}-"


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


@dataclass(frozen=True, slots=True)
class TorchBuild:
    """What an installed torch says it was built for."""

    version: str
    cuda: str | None  # torch.version.cuda: the CUDA it was built for; None for a CPU build
    archs: list[str]


def ask(target: Target) -> TorchBuild:
    try:
        out = run_command([str(target.interpreter), "-c", TORCH_ARCHS], timeout=600)
        version, built_for, archs = json.loads(out.strip().splitlines()[-1])
    except (CommandError, ValueError, IndexError) as exc:
        last = next((line for line in reversed(str(exc).splitlines()) if line.strip()), str(exc))
        raise LockgenError(f"could not ask torch which GPUs it supports ({last.strip()})") from None
    return TorchBuild(str(version), built_for, [str(a) for a in archs])


def problems(build: TorchBuild, facts: Facts) -> list[str]:
    """Why this torch cannot run here; empty when it can."""
    if build.cuda is None:
        return [
            f"torch {build.version} is a CPU build, on a CUDA variant with a GPU visible; "
            "check this accelerator's index-url / extra-index-urls"
        ]
    found = []
    if facts.cuda is not None and _major(build.cuda) > _major(facts.cuda):
        found.append(
            f"torch {build.version} was built for CUDA {build.cuda}, and the driver supports only CUDA {facts.cuda}: "
            "a newer CUDA major than the driver's never runs; update the driver or pin torch to an older build"
        )
    for gpu in facts.gpus:
        if gpu.compute_capability and not covers(build.archs, gpu.compute_capability):
            found.append(
                f"torch {build.version} was built for {', '.join(build.archs) or 'no GPU'}, which cannot run on "
                f"GPU {gpu.index} {gpu.name} ({gpu.compute_capability}); narrow this accelerator's gpu-archs, "
                "or add one whose torch covers this GPU"
            )
    return found


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


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


def _key(lock: pylock.Lock, facts: Facts) -> dict[str, object]:
    torch = state.identities(lock).get("torch", ())
    return {"torch": list(torch), "gpus": sorted(g.compute_capability or "?" for g in facts.gpus), "cuda": facts.cuda}


def check_in_place(
    target: Target, lock: pylock.Lock, facts: Facts, record: state.Record | None, variant: Variant
) -> Mapping[str, object]:
    key = _key(lock, facts)
    if record is not None and dict(record.checked) == key:
        return key  # this torch passed on these GPUs and this driver before
    refuse(ask(target), facts, variant)
    return key


def check_in_staging(
    target: Target,
    lock: pylock.Lock,
    install_from: Path,
    facts: Facts,
    variant: Variant,
    *,
    wheelhouse: Path | None,
    indexes: tuple[str, ...],
) -> Mapping[str, object]:
    """Install the lock beside the target and ask its torch; the target is untouched."""
    parent = target.prefix.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=stage_prefix(target), dir=parent) as tmp:
        stage = Target(prefix=Path(tmp) / "env", python=target.python, source="staging", exists=True)
        installer.create(stage.prefix, str(target.interpreter) if target.exists else sys.executable)
        installer.install(install_from, stage, wheelhouse=wheelhouse, indexes=indexes)
        refuse(ask(stage), facts, variant)
    return _key(lock, facts)


def refuse(build: TorchBuild, facts: Facts, variant: Variant) -> None:
    found = problems(build, facts)
    if found:
        raise LockgenError(f"{variant.name}: " + "; ".join(found) + "; the environment is unchanged")

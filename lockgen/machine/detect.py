"""``lockgen detect``: facts about this machine and where each came from.

:func:`detect` takes each fact from the first source that has it, in the order
overrides, NVML, ``nvidia-smi``, ``/proc/driver/nvidia`` (the probes, in
:mod:`lockgen.machine.probes`); where a probe gave no answer, or failed after its
driver loaded, and none found a GPU, the GPUs are *unknown*.
"""

from __future__ import annotations

import os
import platform as _platform
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lockgen import cuda
from lockgen.exceptions import InputError, TimedOut
from lockgen.machine import probes
from lockgen.machine.probes import Gpu, Probe, ProbeFailed, ascii_digits
from lockgen.project.platforms import normalize_arch

__all__ = ["Facts", "Gpu", "detect", "visible"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the probes found about this machine, and where each fact came from."""

    python: str
    os: str
    arch: str
    libc: str | None
    driver: str | None
    cuda: str | None
    gpus: tuple[Gpu, ...]
    sources: dict[str, str]
    probes: dict[str, str]
    warnings: tuple[str, ...] = ()
    gpus_unknown: str | None = None  # why no probe could say whether a GPU is there (none found, one hung)
    choice_warnings: tuple[str, ...] = ()  # those of ``warnings`` a choice of variant rests on
    # of ``warnings``, the one a choice made by selection (not --variant) rests on: LOCKGEN_CUDA
    # set, LOCKGEN_GPU_ARCHS not, and no GPU visible
    half_override: str | None = None

    @property
    def glibc(self) -> tuple[int, int] | None:
        if self.libc and self.libc.startswith("glibc "):
            major, _, minor = self.libc[6:].partition(".")
            if major.isdigit() and minor.split(".")[0].isdigit():
                return int(major), int(minor.split(".")[0])
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "platform": {"os": self.os, "arch": self.arch, "libc": self.libc},
            "driver": self.driver,
            "cuda": self.cuda,
            "gpus": [
                {"index": g.index, "name": g.name, "compute_capability": g.compute_capability, "uuid": g.uuid}
                for g in self.gpus
            ],
            "sources": {**self.sources, "probes": self.probes},
            "warnings": list(self.warnings),
        }


# --- pure parts -------------------------------------------------------------


def visible(gpus: Sequence[Gpu], spec: str | None, migs: Mapping[str, str]) -> tuple[Gpu, ...]:
    """The GPUs ``CUDA_VISIBLE_DEVICES`` leaves, as CUDA reads it."""
    if spec is None:
        return tuple(gpus)
    chosen: list[Gpu] = []
    for entry in (e.strip() for e in spec.split(",")):
        gpu = _match(gpus, entry, migs)
        if gpu is None:
            break  # CUDA ignores everything after the first invalid entry
        if gpu not in chosen:
            chosen.append(gpu)
    return tuple(chosen)


def _match(gpus: Sequence[Gpu], entry: str, migs: Mapping[str, str]) -> Gpu | None:
    if ascii_digits(entry):
        return next((g for g in gpus if g.index == int(entry)), None)
    if entry.startswith("MIG-"):
        parent = migs.get(entry) or (entry[4:].split("/")[0] if entry.startswith("MIG-GPU-") else None)
        return next((g for g in gpus if parent and g.uuid == parent), None)
    if entry.startswith("GPU-") and len(entry) > 4:
        found = [g for g in gpus if g.uuid.startswith(entry)]
        return found[0] if len(found) == 1 else None
    return None


def _overrides(env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...] | None]:
    """``LOCKGEN_CUDA`` ("12.4" or "none") and ``LOCKGEN_GPU_ARCHS`` ("8.0,9.0")."""
    cuda_value = env.get("LOCKGEN_CUDA", "").strip().lower() or None  # set empty: unset, as the others
    if cuda_value not in (None, "none") and not re.fullmatch(r"([1-9]|[1-9]\d)\.\d{1,2}", cuda_value):
        raise InputError(f"LOCKGEN_CUDA: {cuda_value!r} is not a CUDA version like 12.4, or none")
    archs_value = env.get("LOCKGEN_GPU_ARCHS", "").strip()
    archs = None
    if archs_value:  # set and not empty: one compute capability per visible GPU
        archs = tuple(a.strip() for a in archs_value.split(","))
        known = cuda.every_arch()
        for a in archs:
            if not a:
                raise InputError(
                    f"LOCKGEN_GPU_ARCHS: {archs_value!r} has an empty entry; write one capability per GPU, "
                    "like 8.0,9.0 (LOCKGEN_CUDA=none says there is no GPU)"
                )
            if not re.fullmatch(r"\d+\.\d", a):
                hint = f" (write {cuda.normalize_arch(a)})" if cuda.normalize_arch(a) else ""
                raise InputError(f"LOCKGEN_GPU_ARCHS: {a!r} is not a compute capability like 8.0{hint}")
            if cuda.normalize_arch(a) not in known:
                raise InputError(
                    f"LOCKGEN_GPU_ARCHS: {a} is not a compute capability of any CUDA release lockgen knows"
                )
        archs = tuple(cuda.normalize_arch(a) or a for a in archs)
    if cuda_value == "none" and archs is not None:
        raise InputError(
            f"LOCKGEN_GPU_ARCHS: {archs_value!r} describes GPUs, and LOCKGEN_CUDA=none says there is none: "
            "unset one of them"
        )
    return cuda_value, archs


def _machine() -> tuple[str, str, str | None]:
    os_name = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    libc = None
    if os_name == "linux":
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION")
        except (AttributeError, ValueError, OSError):
            libc = None
        libc = libc or ("musl" if any(Path("/lib").glob("ld-musl-*")) else None)
    return os_name, normalize_arch(os_name, _platform.machine()), libc


def detect(
    *, python: str | None = None, python_source: str = "running interpreter", env: Mapping[str, str] | None = None
) -> Facts:
    env = os.environ if env is None else env
    cuda_override, archs_override = _overrides(env)
    statuses: dict[str, str] = {}
    sources: dict[str, str] = {"python": python_source, "platform": "python"}
    # The overrides say all selection needs: no probe runs (a hung driver cannot stall a Docker build).
    decided = cuda_override == "none" or (cuda_override is not None and archs_override is not None)
    probe: Probe | None = None
    unanswered: str | None = None
    hung = False
    for name, fn in (("nvml", probes.probe_nvml), ("nvidia-smi", probes.probe_smi), ("proc", probes.probe_proc)):
        if decided or probe is not None:
            statuses[name] = "not needed"
            continue
        if hung and name == "nvidia-smi":
            statuses[name] = "not tried: it asks NVML, which gave no answer"
            continue
        try:
            probe = fn()
        except (TimedOut, ProbeFailed) as exc:
            statuses[name] = str(exc)
            unanswered = unanswered or str(exc)
            hung = hung or isinstance(exc, TimedOut)
            continue
        statuses[name] = "ok" if probe is not None else "unavailable"
        if probe is not None:
            for fact in ("driver", "cuda", "gpus"):
                sources[fact] = name
    probe = probe or Probe()
    driver, cuda_version = probe.driver, probe.cuda
    spec = env.get("CUDA_VISIBLE_DEVICES")
    gpus = visible(probe.gpus, spec, probe.migs)
    warnings = []
    numbering = None  # a warning that concerns the choice itself: select and sync say it too
    if len({g.name for g in probe.gpus}) > 1 and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        warnings.append(
            "GPUs differ and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may number them otherwise than these (NVML) indices"
        )
        if spec is not None and any(ascii_digits(e.strip()) for e in spec.split(",")) and len(gpus) < len(probe.gpus):
            numbering = (
                f"CUDA_VISIBLE_DEVICES={spec} names GPUs by index, read here in NVML's (PCI bus) order, which CUDA "
                "follows only with CUDA_DEVICE_ORDER=PCI_BUS_ID (else it counts the fastest first): set it, or name "
                "the GPUs by UUID, or the chosen lock may lack kernels for the GPU CUDA runs on"
            )
            warnings.append(numbering)
    if spec is not None and probe.gpus:
        sources["gpus"] = sources.get("gpus", "") + " + CUDA_VISIBLE_DEVICES"
    if archs_override is not None:
        gpus = tuple(
            replace(gpus[i], compute_capability=a) if i < len(gpus) and len(gpus) == len(archs_override)
            else Gpu(index=i, name="(LOCKGEN_GPU_ARCHS)", compute_capability=a, uuid="")
            for i, a in enumerate(archs_override)
        )  # fmt: skip
        sources["gpus"] = "LOCKGEN_GPU_ARCHS"
    if cuda_override is not None:
        cuda_version = None if cuda_override == "none" else cuda_override
        sources["cuda"] = "LOCKGEN_CUDA"
        if cuda_override == "none":
            gpus = ()
            sources["gpus"] = "LOCKGEN_CUDA=none"
    for fact, value in (("driver", driver), ("cuda", cuda_version)):
        if value is None and sources.get(fact) not in ("LOCKGEN_CUDA",):
            sources[fact] = "unknown"
    unknown = None
    # After a probe that failed or gave no answer, /proc listing no GPU proves nothing (a GPU
    # fallen off the bus, a driver half up); only the overrides, or a GPU found, decide.
    overridden = archs_override is not None or cuda_override == "none"
    if unanswered and not probe.gpus and not overridden:
        unknown = f"no probe answered ({unanswered})"
        sources["gpus"] = f"unknown: {unknown}"
    if not gpus:
        sources.setdefault("gpus", "no probe found a GPU")
    half = None  # one override given where the other was needed: said, as the choice rests on it
    if cuda_override not in (None, "none") and archs_override is None and not gpus and not unknown:
        half = (
            f"LOCKGEN_CUDA={cuda_override} is set, but no GPU is visible here and LOCKGEN_GPU_ARCHS is not set: "
            "no GPU counts, so a CPU variant is the choice (to choose for a GPU machine, set both)"
        )
        warnings.append(half)
    os_name, arch, libc = _machine()
    return Facts(
        python=python or _platform.python_version(),
        os=os_name,
        arch=arch,
        libc=libc,
        driver=driver,
        cuda=cuda_version,
        gpus=gpus,
        sources=sources,
        probes=statuses,
        warnings=tuple(warnings),
        gpus_unknown=unknown,
        choice_warnings=(numbering,) if numbering else (),
        half_override=half,
    )

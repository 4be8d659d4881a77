"""Choosing the variant for a machine: a pure function of facts, configuration and
what each lock records it needs (its ``cuda-runtime``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from lockgen.exceptions import InputError, NoVariantError
from lockgen.install import environment
from lockgen.locks import pylock
from lockgen.machine import detect
from lockgen.machine.detect import Facts
from lockgen.project import platforms
from lockgen.project.config import Config, Variant

HINT = (
    "hint: on a machine without the target's GPU (a Docker build, CI), name the lock with --variant NAME "
    "(or LOCKGEN_VARIANT), or describe the target: LOCKGEN_CUDA=12.8 LOCKGEN_GPU_ARCHS=9.0; "
    "with a GPU but no fitting CUDA variant, --allow-cpu takes a CPU one"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A variant weighed for this machine, and why it is or is not eligible."""

    variant: Variant
    eligible: bool
    reason: str
    chosen: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The variant chosen for this machine (None: no lock fits), with every candidate."""

    chosen: Variant | None
    candidates: tuple[Candidate, ...]


def _gpu_reason(variant: Variant, facts: Facts, runtime: Version | None) -> str | None:
    acc = variant.accelerator
    assert acc.cuda is not None
    if not facts.gpus:
        return _unknown(facts) or "no NVIDIA GPU is visible"
    if facts.cuda is None:
        return f"the driver's CUDA version is unknown (needs {acc.cuda}; set LOCKGEN_CUDA)"
    driver = Version(facts.cuda)
    if driver < acc.cuda:
        return f"the driver supports CUDA {facts.cuda}, the variant needs {acc.cuda}"
    too_new = _runtime_reason(facts, runtime)
    if too_new:
        return too_new
    for gpu in facts.gpus:
        if gpu.compute_capability is None:
            return f"GPU {gpu.index}'s compute capability is unknown (set LOCKGEN_GPU_ARCHS)"
        if gpu.compute_capability not in acc.gpu_archs:
            return f"GPU {gpu.index} ({gpu.compute_capability}) is not in gpu-archs"
    return None


def _runtime_reason(facts: Facts, runtime: Version | None) -> str | None:
    """Why a lock whose packages need CUDA ``runtime`` cannot run on this driver: a newer major."""
    if runtime is None or facts.cuda is None or Version(facts.cuda).major >= runtime.major:
        return None
    return (
        f"the driver supports CUDA {facts.cuda}, the lock's packages need CUDA {runtime} "
        f"(its cuda-runtime; a CUDA {runtime.major} driver is needed)"
    )


def choose(
    variants: Sequence[Variant],
    facts: Facts,
    *,
    python: str,
    allow_cpu: bool = False,
    runtimes: Mapping[str, Version | None] | None = None,
) -> Selection:
    """Candidates, eligibility and ranking; ``python`` is the target's version and
    ``runtimes`` the CUDA runtime each variant's lock records it needs."""
    runtimes = runtimes or {}
    minor = ".".join(python.split(".")[:2])
    reasons: dict[str, str | None] = {}
    for v in variants:
        if v.python != minor:
            reasons[v.name] = f"python {v.python}, the environment has {minor}"
            continue
        plat = platforms.why_not(v.platform, os=facts.os, arch=facts.arch, libc=_libc_kind(facts), glibc=facts.glibc)
        if plat is not None:
            reasons[v.name] = plat
        elif v.accelerator.cuda is not None:
            reasons[v.name] = _gpu_reason(v, facts, runtimes.get(v.name))
        elif facts.gpus and not allow_cpu:
            reasons[v.name] = "a GPU is visible: a CPU variant only with --allow-cpu"
        elif facts.gpus_unknown and not allow_cpu:
            reasons[v.name] = f"{_unknown(facts)}; a CPU variant only with --allow-cpu"
        else:
            reasons[v.name] = None
    eligible = [v for v in variants if reasons[v.name] is None]
    gpu = sorted(
        (v for v in eligible if v.accelerator.cuda is not None),
        key=lambda v: (
            -v.accelerator.priority,
            -_cuda_key(v),
            len(v.accelerator.gpu_archs),
            v.accelerator.order,
        ),
    )
    cpu = sorted(
        (v for v in eligible if v.accelerator.cuda is None),
        key=lambda v: (-v.accelerator.priority, v.accelerator.order),
    )
    ranked = gpu or cpu
    chosen = ranked[0] if ranked else None
    candidates = []
    for v in variants:
        reason = reasons[v.name]
        if reason is None:
            if v is chosen:
                reason = "chosen"
            elif chosen is not None and v.accelerator.cuda is None and chosen.accelerator.cuda is not None:
                reason = f"eligible (--allow-cpu), but a GPU variant fits: {chosen.name}"
            else:
                reason = f"eligible, but {chosen.name if chosen else '?'} ranks higher"
        candidates.append(Candidate(variant=v, eligible=reasons[v.name] is None, reason=reason, chosen=v is chosen))
    return Selection(chosen=chosen, candidates=tuple(candidates))


def _unknown(facts: Facts) -> str | None:
    """Why whether a GPU is there is not known (a probe that gave no answer), and what to do."""
    if facts.gpus_unknown is None:
        return None
    return (
        f"whether a GPU is visible is unknown: {facts.gpus_unknown} (set LOCKGEN_CUDA and LOCKGEN_GPU_ARCHS, "
        "or LOCKGEN_CUDA=none for no GPU)"
    )


def _cuda_key(v: Variant) -> int:
    """The declared ``cuda``: what a lock records it needs decides eligibility (its
    major), not rank; a lock needing a newer minor than its label is warned of at compile."""
    cuda = v.accelerator.cuda
    assert cuda is not None
    return cuda.major * 1000 + cuda.minor


def _libc_kind(facts: Facts) -> str | None:
    if facts.libc is None:
        return None
    return "musl" if facts.libc.startswith("musl") else "glibc"


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """The outcome of selection on this machine, with what it was based on."""

    selection: Selection
    target: environment.Target
    facts: Facts

    @property
    def refused(self) -> str | None:
        """Why sync would refuse, on this machine, the variant named with --variant."""
        return next((c.reason for c in self.selection.candidates if c.chosen and not c.eligible), None)

    def require(self) -> Variant:
        """The chosen variant, or NoVariantError listing why each was passed over."""
        if self.selection.chosen is None:
            lines = [f"{c.variant.name}: {c.reason}" for c in self.selection.candidates]
            raise NoVariantError("no variant fits this machine\n" + "\n".join(lines) + f"\n{self.hint()}")
        return self.selection.chosen

    def hint(self) -> str:
        """What to do: where no lock is for this Python, another interpreter, not a GPU's."""
        minor = ".".join(self.target.python.split(".")[:2])
        pythons = sorted({c.variant.python for c in self.selection.candidates}, key=lambda v: int(v.split(".")[1]))
        if pythons and minor not in pythons:
            return (
                f"hint: the locks are for Python {', '.join(pythons)}, this environment has {minor}: point --python at "
                f"an interpreter or environment of one of those (uv venv --python {pythons[-1]}), or add {minor!r} "
                "to python in the configuration"
            )
        mine = [c for c in self.selection.candidates if c.variant.python == minor]
        if mine and all(c.reason.startswith("platform ") for c in mine):
            facts = self.facts
            libc = f", {facts.libc}" if facts.libc else ""
            return (
                f"hint: no lock is for this machine's platform ({facts.os}-{facts.arch}{libc}): add one it satisfies "
                "to platforms in the configuration"
            )
        return HINT


def recorded_runtimes(config: Config, variants: Sequence[Variant] | None = None) -> dict[str, Version | None]:
    """What each variant's lock records it needs, read from its ``[tool.lockgen]`` alone."""
    out: dict[str, Version | None] = {}
    for v in config.variants if variants is None else variants:
        if v.accelerator.cuda is None:
            continue
        try:
            meta = pylock.read_meta(pylock.lock_file(config.locks_dir, v.name))
        except InputError:
            meta = None
        value = meta.get("cuda-runtime") if meta else None
        try:
            out[v.name] = Version(value) if isinstance(value, str) else None
        except ValueError:
            out[v.name] = None
    return out


def for_machine(config: Config, *, variant: str | None, python: Path | None, allow_cpu: bool) -> Choice:
    """Detect this machine and the target environment, then choose (or take ``--variant``)."""
    target = environment.find(config.root, python)
    facts = detect.detect(python=target.python, python_source=target.source)
    if variant is not None:
        try:
            forced = config.variant(variant)
        except InputError as exc:
            raise InputError(f"--variant (or LOCKGEN_VARIANT) {variant!r}: {exc}") from None
        _fits_target(forced, target, facts)
        refused = _refused(forced, facts, recorded_runtimes(config, [forced]).get(forced.name))
        candidates = tuple(
            Candidate(
                variant=v,
                eligible=v is forced and refused is None,
                reason=("chosen with --variant" + (f", but sync refuses it: {refused}" if refused else ""))
                if v is forced
                else "not --variant",
                chosen=v is forced,
            )
            for v in config.variants
        )
        return Choice(selection=Selection(chosen=forced, candidates=candidates), target=target, facts=facts)
    runtimes = recorded_runtimes(config)
    selection = choose(config.variants, facts, python=target.python, allow_cpu=allow_cpu, runtimes=runtimes)
    return Choice(selection=selection, target=target, facts=facts)


def _refused(variant: Variant, facts: Facts, runtime: Version | None) -> str | None:
    """Why sync refuses a lock named with --variant on this machine, before touching
    anything: its packages need a newer CUDA major than the driver supports."""
    return None if variant.accelerator.cuda is None else _runtime_reason(facts, runtime)


def _fits_target(variant: Variant, target: environment.Target, facts: Facts) -> None:
    """A named variant must still match the environment's python and this machine's platform."""
    minor = ".".join(target.python.split(".")[:2])
    if variant.python != minor:
        where = "the environment" if target.exists else "the interpreter lockgen would create .venv with"
        raise InputError(
            f"--variant {variant.name}: it is for Python {variant.python}, {where} ({target.prefix}) has {target.python}; "
            "point --python at a matching interpreter or environment"
        )
    plat = platforms.why_not(variant.platform, os=facts.os, arch=facts.arch, libc=_libc_kind(facts), glibc=facts.glibc)
    if plat is not None:
        raise InputError(f"--variant {variant.name}: {plat}")

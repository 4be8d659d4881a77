"""``lockgen detect``: facts about this machine and where each came from.

Each probe is a tiny function that returns ``None`` when its tool is missing or
fails; :func:`detect` takes each fact from the first probe that has it, in the
order overrides, NVML, ``nvidia-smi``, ``/proc/driver/nvidia``. A probe that gives no
answer in its time (a hung driver) raises TimedOut: then whether a GPU is there is
unknown, which selection never reads as "no GPU".
"""

from __future__ import annotations

import contextlib
import os
import platform as _platform
import re
import shutil
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lockgen import command, cuda
from lockgen.exceptions import InputError, TimedOut
from lockgen.project.platforms import normalize_arch

PROC_NVIDIA = Path("/proc/driver/nvidia")
NVML_TIMEOUT = SMI_TIMEOUT = 15.0  # seconds: the first answer on a many-GPU machine can take several
_NOT_A_VALUE = ("N/A", "[N/A]", "[Not Supported]", "Not Supported", "")
_NO_DRIVER = (9, 12)  # NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND (nvml.h)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    """One GPU, as NVML or nvidia-smi reports it."""

    index: int  # NVML's: PCI bus order
    name: str
    compute_capability: str | None
    uuid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """What one probe saw."""

    driver: str | None = None
    cuda: str | None = None
    gpus: tuple[Gpu, ...] = ()
    migs: Mapping[str, str] = field(default_factory=dict)  # MIG uuid → parent GPU uuid


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


# --- probes -----------------------------------------------------------------


def probe_nvml() -> Probe | None:
    """NVML through the ``nvidia-ml-py`` binding; None without libnvidia-ml.so.1. It runs
    in a thread of its own: a driver call that never returns cannot be interrupted, so
    lockgen stops waiting for it (TimedOut) and leaves the thread behind."""
    found: list[Probe | None] = []
    failed: list[str] = []

    def ask() -> None:
        try:
            found.append(_probe_nvml())
        except Exception as exc:  # the driver answered, then failed: never a crash, never "no GPU"
            failed.append(f"NVML: {type(exc).__name__}: {exc}")

    worker = threading.Thread(target=ask, name="lockgen-nvml", daemon=True)
    worker.start()
    worker.join(NVML_TIMEOUT)
    if failed:
        raise ProbeFailed(failed[0])
    if not found:
        raise TimedOut(f"NVML: no answer in {NVML_TIMEOUT:g} s")
    return found[0]


class ProbeFailed(Exception):
    """A probe whose tool is there (the driver loaded) failed partway: what it would
    have said is unknown, as for one that gave no answer."""


def _probe_nvml() -> Probe | None:
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")  # cheap test before importing the binding
        import pynvml  # type: ignore[import-untyped,unused-ignore]
    except (OSError, ImportError):
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        # No driver loaded (a container without a GPU): NVML is not there. Any other
        # failure (a driver upgraded without a reboot, no permission, a GPU lost) is one.
        if getattr(exc, "value", None) in _NO_DRIVER:
            return None
        raise
    try:
        return _nvml_facts(pynvml)
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _nvml_facts(nvml: Any) -> Probe:
    def text(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    version = nvml.nvmlSystemGetCudaDriverVersion_v2()
    gpus, migs = [], {}
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        uuid = text(nvml.nvmlDeviceGetUUID(handle))
        gpus.append(
            Gpu(index=i, name=text(nvml.nvmlDeviceGetName(handle)), compute_capability=f"{major}.{minor}", uuid=uuid)
        )
        try:
            count = nvml.nvmlDeviceGetMaxMigDeviceCount(handle)
        except nvml.NVMLError:
            count = 0
        for m in range(count):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, m)
            except nvml.NVMLError:
                continue
            migs[text(nvml.nvmlDeviceGetUUID(mig))] = uuid
    return Probe(
        driver=text(nvml.nvmlSystemGetDriverVersion()),
        cuda=f"{version // 1000}.{version % 1000 // 10}",
        gpus=tuple(gpus),
        migs=migs,
    )


_SMI_FIELDS = ("index", "name", "compute_cap", "uuid", "driver_version")


def probe_smi() -> Probe | None:
    """``nvidia-smi``: the GPU table, and the CUDA version from its ``-q`` header."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    fields = list(_SMI_FIELDS)
    table = command.probe([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], timeout=SMI_TIMEOUT)
    if table is None:  # drivers before 510 know no compute_cap field
        fields.remove("compute_cap")
        table = command.probe([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], timeout=SMI_TIMEOUT)
    gpus = _smi_table(table or "", fields)
    if not gpus:
        return None
    driver = gpus[0][1].get("driver_version")
    driver = None if driver in _NOT_A_VALUE else driver
    cuda_version = None
    with contextlib.suppress(TimedOut):  # the table is read: a slow header leaves the CUDA version to the driver's
        for args in (["-q", "-d", "COMPUTE"], []):  # the -q header, else the banner
            m = re.search(r"CUDA Version\s*:\s*(\d+\.\d+)", command.probe([exe, *args], timeout=SMI_TIMEOUT) or "")
            if m:
                cuda_version = m[1]
                break
    migs = {}
    if "MIG-" in os.environ.get("CUDA_VISIBLE_DEVICES", ""):
        with contextlib.suppress(TimedOut):
            migs = _smi_migs(exe)
    return Probe(
        driver=driver,
        cuda=cuda_version or (cuda.cuda_for_driver(driver) if driver else None),
        gpus=tuple(gpu for gpu, _ in gpus),
        migs=migs,
    )


def _smi_table(text: str, fields: list[str]) -> list[tuple[Gpu, dict[str, str]]]:
    """Rows of ``--query-gpu`` CSV; a header line or garbage yields no row."""
    out = []
    for row in text.strip().splitlines():
        cells = [c.strip() for c in row.split(",")]
        if len(cells) < len(fields) or not _number(cells[0]):
            continue
        extra = len(cells) - len(fields)  # commas inside the name
        name_at = fields.index("name")
        cells[name_at : name_at + extra + 1] = [", ".join(cells[name_at : name_at + extra + 1])]
        row_fields = dict(zip(fields, cells, strict=True))
        cc = cuda.normalize_arch(row_fields["compute_cap"]) if "compute_cap" in row_fields else None
        gpu = Gpu(
            index=int(row_fields["index"]), name=row_fields["name"], compute_capability=cc, uuid=row_fields["uuid"]
        )
        out.append((gpu, row_fields))
    return out


def _smi_migs(exe: str) -> dict[str, str]:
    """MIG instance UUID → its parent GPU's UUID, from ``nvidia-smi -L``."""
    migs, parent = {}, ""
    for line in (command.probe([exe, "-L"], timeout=SMI_TIMEOUT) or "").splitlines():
        found = re.search(r"\(UUID: ((GPU|MIG)-[^)]+)\)", line)
        if found and found[2] == "GPU":
            parent = found[1]
        elif found:
            migs[found[1]] = parent
    return migs


def probe_proc(root: Path | None = None) -> Probe | None:
    """``/proc/driver/nvidia``: the driver version, and GPU models without capabilities."""
    root = root or PROC_NVIDIA
    version = _text(root / "version")
    m = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", version or "")
    if not m:
        return None
    found = []
    for info in sorted((root / "gpus").glob("*/information")):
        text = _text(info)
        if text is None:  # unreadable: that GPU is still there, its model unknown
            found.append((info.parent.name, "?", ""))
            continue
        fields = dict(re.findall(r"^([^:\n]+):\s*(.*)$", text, re.MULTILINE))
        found.append(
            (fields.get("Bus Location", info.parent.name), fields.get("Model", "?"), fields.get("GPU UUID", ""))
        )
    gpus = tuple(
        Gpu(index=i, name=name, compute_capability=None, uuid=uuid) for i, (_, name, uuid) in enumerate(sorted(found))
    )
    return Probe(driver=m[1], cuda=cuda.cuda_for_driver(m[1]), gpus=gpus)


def _text(path: Path) -> str | None:
    """A /proc file's text, whatever its bytes; None when it cannot be read."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


# --- pure parts -------------------------------------------------------------


def _number(text: str) -> bool:
    """Digits as CUDA and nvidia-smi write them: ASCII only (``str.isdigit`` takes ``²``)."""
    return text.isascii() and text.isdigit()


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
    if _number(entry):
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
    cuda_value = env.get("LOCKGEN_CUDA")
    if cuda_value is not None:
        cuda_value = cuda_value.strip().lower()
        if cuda_value != "none" and not re.fullmatch(r"([1-9]|[1-9]\d)\.\d{1,2}", cuda_value):
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
    for name, fn in (("nvml", probe_nvml), ("nvidia-smi", probe_smi), ("proc", probe_proc)):
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
        if spec is not None and any(_number(e.strip()) for e in spec.split(",")) and len(gpus) < len(probe.gpus):
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
    )

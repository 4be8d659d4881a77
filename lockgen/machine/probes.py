"""Hardware probes: each a tiny function that asks one source (NVML, ``nvidia-smi``,
``/proc/driver/nvidia``) what GPUs and driver this machine has, and returns ``None``
when its tool is missing or fails. One that gives no answer in its time (a hung
driver) raises TimedOut, and one whose driver loaded and then failed raises
ProbeFailed: then whether a GPU is there is unknown, which selection never reads as
"no GPU". :mod:`lockgen.machine.detect` puts their answers together.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgen import command, cuda
from lockgen.exceptions import CommandError, TimedOut

PROC_NVIDIA = Path("/proc/driver/nvidia")
NVML_TIMEOUT = SMI_TIMEOUT = 15.0  # seconds: the first answer on a many-GPU machine can take several
_NOT_A_VALUE = ("N/A", "[N/A]", "[Not Supported]", "Not Supported", "")
# NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_LIBRARY_NOT_FOUND (nvml.h); nvidia-smi exits with
# the same numbers for the same causes (nvidia-smi(1), RETURN VALUE).
_NO_DRIVER = (9, 12)
# nvidia-smi's own: those, and 6 (a query found nothing: "No devices were found", as in a
# container given the driver's tools but no device); nvidia-smi(1), RETURN VALUE.
_NO_SMI_GPU = (6, *_NO_DRIVER)


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
    try:
        try:
            table = command.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], timeout=SMI_TIMEOUT)
        except TimedOut:
            raise
        except CommandError:  # drivers before 510 know no compute_cap field
            fields.remove("compute_cap")
            table = command.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], timeout=SMI_TIMEOUT)
    except TimedOut:
        raise
    except CommandError as exc:
        # No driver loaded, no NVML library (its exit statuses): no GPU to use. Any other
        # failure (a GPU fallen off the bus, no permission; rows it printed first
        # notwithstanding) leaves what it would have said unknown, never "no GPU".
        if (exc.status is None or exc.status in _NO_SMI_GPU) and not _smi_table(exc.output, fields):
            return None  # and it listed no GPU before saying so
        said = (str(exc).splitlines() or [""])[-1][:200]
        raise ProbeFailed(f"nvidia-smi: exit status {exc.status}: {said}") from None
    gpus = _smi_table(table, fields)
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
        if len(cells) < len(fields) or not ascii_digits(cells[0]):
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


def ascii_digits(text: str) -> bool:
    """Digits as CUDA and nvidia-smi write them: ASCII only (``str.isdigit`` takes ``²``)."""
    return text.isascii() and text.isdigit()

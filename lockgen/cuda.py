"""CUDA facts lockgen relies on, as data tables with their sources.

Two tables:

* ``TARGETS``: the compute capabilities each CUDA toolkit can build for
  (``nvcc --list-gpu-arch``). Sources: NVIDIA, *CUDA Compiler Driver NVCC*,
  section "GPU Feature List" (docs.nvidia.com/cuda/cuda-compiler-driver-nvcc),
  and the CUDA Toolkit release notes of 11.1 (adds sm_86), 11.4 (sm_87),
  11.8 (sm_89, sm_90), 12.0 (removes sm_35, sm_37), 12.8 (sm_100, sm_101,
  sm_120), 12.9 (sm_103, sm_121) and 13.0 (removes offline compilation for
  Maxwell, Pascal and Volta, i.e. below sm_75, and renames Thor's sm_101 to
  sm_110); 13.4 adds sm_107 (Rubin; GCC's nvptx patches, "CUDA 13.4 then
  added 107", a secondary source until NVIDIA's table is reachable).
* ``RELEASES``: every CUDA toolkit release (major.minor) from 11.0 on, from the
  same release notes and PyPI's ``cuda-toolkit`` versions. There was never a
  12.7: NVIDIA went from 12.6 to 12.8.
* ``DRIVER_CUDA``: the minimum Linux x86_64 driver of each CUDA version.
  Source: NVIDIA, *CUDA Toolkit Release Notes*, table "CUDA Toolkit and
  Corresponding Driver Versions" (toolkit GA releases). Used only when the
  driver's own CUDA version cannot be asked (``/proc/driver/nvidia/version``).
"""

from __future__ import annotations

from packaging.version import Version

_CUDA_11_0 = ("3.5", "3.7", "5.0", "5.2", "5.3", "6.0", "6.1", "6.2", "7.0", "7.2", "7.5", "8.0")
_CUDA_12_0 = ("5.0", "5.2", "5.3", "6.0", "6.1", "6.2", "7.0", "7.2", "7.5", "8.0", "8.6", "8.7", "8.9", "9.0")
_CUDA_12_9 = (*_CUDA_12_0, "10.0", "10.1", "10.3", "12.0", "12.1")
_CUDA_13_0 = ("7.5", "8.0", "8.6", "8.7", "8.9", "9.0", "10.0", "10.3", "11.0", "12.0", "12.1")

# (first CUDA version, compute capabilities it can target); newest last.
TARGETS: tuple[tuple[Version, tuple[str, ...]], ...] = (
    (Version("11.0"), _CUDA_11_0),
    (Version("11.1"), (*_CUDA_11_0, "8.6")),
    (Version("11.4"), (*_CUDA_11_0, "8.6", "8.7")),
    (Version("11.8"), (*_CUDA_11_0, "8.6", "8.7", "8.9", "9.0")),
    (Version("12.0"), _CUDA_12_0),
    (Version("12.8"), (*_CUDA_12_0, "10.0", "10.1", "12.0")),
    (Version("12.9"), _CUDA_12_9),
    (Version("13.0"), _CUDA_13_0),
    (Version("13.4"), (*_CUDA_13_0[:-3], "10.7", *_CUDA_13_0[-3:])),
)

RELEASES: frozenset[Version] = frozenset(
    Version(v)
    for v in (
        "11.0", "11.1", "11.2", "11.3", "11.4", "11.5", "11.6", "11.7", "11.8",
        "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.8", "12.9",
        "13.0", "13.1", "13.2", "13.3", "13.4", "13.5",
    )
)  # fmt: skip

# (minimum Linux driver, CUDA version it supports); oldest first.
DRIVER_CUDA: tuple[tuple[Version, str], ...] = (
    (Version("450.36.06"), "11.0"),
    (Version("455.23"), "11.1"),
    (Version("460.27.03"), "11.2"),
    (Version("465.19.01"), "11.3"),
    (Version("470.42.01"), "11.4"),
    (Version("495.29.05"), "11.5"),
    (Version("510.39.01"), "11.6"),
    (Version("515.43.04"), "11.7"),
    (Version("520.61.05"), "11.8"),
    (Version("525.60.13"), "12.0"),
    (Version("530.30.02"), "12.1"),
    (Version("535.54.03"), "12.2"),
    (Version("545.23.06"), "12.3"),
    (Version("550.54.14"), "12.4"),
    (Version("555.42.02"), "12.5"),
    (Version("560.28.03"), "12.6"),
    (Version("565.57.01"), "12.7"),
    (Version("570.26"), "12.8"),
    (Version("575.51.03"), "12.9"),
    (Version("580.65.06"), "13.0"),
    (Version("590.44.01"), "13.1"),
    (Version("595.45.04"), "13.2"),
    (Version("610.43.02"), "13.3"),  # from copies of the 13.3 release notes' table
)


def known(cuda: Version) -> bool:
    """Is ``cuda`` (major.minor) a CUDA release lockgen's tables know?"""
    return cuda in RELEASES


def every_arch() -> frozenset[str]:
    """Every compute capability any CUDA release can target."""
    return frozenset(a for _, archs in TARGETS for a in archs)


def targets(cuda: Version) -> tuple[str, ...] | None:
    """Compute capabilities CUDA ``cuda`` (major.minor) can target; None before 11.0."""
    found = None
    for since, archs in TARGETS:
        if cuda >= since:
            found = archs
    return found


def cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA version a Linux driver supports, from ``DRIVER_CUDA``."""
    try:
        version = Version(driver)
    except ValueError:
        return None
    found = None
    for minimum, cuda in DRIVER_CUDA:
        if version >= minimum:
            found = cuda
    return found


def normalize_arch(text: str) -> str | None:
    """``"8.0"``, ``"80"``, ``"sm_80"`` → ``"8.0"``; None when unreadable."""
    value = text.strip().lower().removeprefix("sm_").removeprefix("compute_")
    if "." in value:
        major, _, minor = value.partition(".")
    elif value.isdigit() and len(value) >= 2:
        major, minor = value[:-1], value[-1]
    else:
        return None
    if not (major.isdigit() and minor.isdigit() and len(minor) == 1):
        return None
    return f"{int(major)}.{int(minor)}"


def arch_key(arch: str) -> tuple[int, int]:
    major, _, minor = arch.partition(".")
    return int(major), int(minor)

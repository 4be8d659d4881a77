"""Which wheels a variant can install: a wheel's tags (its file name, PEP 427) against
the variant's CPython minor version and platform.

The rules are those of PEP 425 as ``packaging.tags`` orders them for CPython: a
``py3``/``py3X`` (X up to the variant's) wheel of any ABI-free kind, a ``cp3X-abi3``
one for X up to the variant's, and a ``cp3X-cp3X``/``cp3X-none`` one for the
variant's own X only. Platforms: ``any``; manylinux (PEP 600, and the legacy
``manylinux1``/``2010``/``2014`` names) up to the variant's glibc floor; musllinux of
the same architecture; plain ``linux_<arch>``, which uv accepts last; macOS of the same architecture or universal (the macOS version
is not judged: uv's own floor for it is not in the platform name); Windows by
architecture. Free-threaded (``cp313t``) and non-CPython wheels fit no variant.

String work only: ``check`` and every no-op ``compile`` run it over every wheel.
"""

from __future__ import annotations

import re

from lockgen.project.platforms import Platform

_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_GLIBC = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_MUSL = re.compile(r"musllinux_(\d+)_(\d+)_(.+)")
# The musl uv resolves ``*-unknown-linux-musl`` for: musllinux_1_2 (uv's target triples).
_MUSL_FLOOR = (1, 2)
_MACOS = re.compile(r"macosx_\d+_\d+_(.+)")
_MACOS_ARCHS = {
    "arm64": {"arm64", "universal2"},
    "x86_64": {"x86_64", "universal2", "universal", "intel", "fat64", "fat32"},
}
_WINDOWS = {"win_amd64": "x86_64", "win32": "x86", "win_arm64": "arm64"}


def fits(filename: str, python: str, platform: Platform) -> bool:
    """Can a CPython ``python`` ("3.12") on ``platform`` install this wheel? A name
    that is not a wheel's is not this module's to judge: True."""
    parts = filename.removesuffix(".whl").split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        return True
    interpreters, abis, platforms = (p.split(".") for p in parts[-3:])
    minor = int(python.split(".")[1])
    return any(_python_fits(i, a, minor) for i in interpreters for a in abis) and any(
        _platform_fits(p, platform) for p in platforms
    )


def _python_fits(interpreter: str, abi: str, minor: int) -> bool:
    kind, version = interpreter[:2], interpreter[2:]
    if not version.startswith("3") or not version.isdigit():
        return False
    x = int(version[1:]) if len(version) > 1 else None  # "py3": any 3.x
    if kind == "py":
        return abi in ("none", "abi3") and (x is None or x <= minor)
    if kind != "cp" or x is None:
        return False
    if abi == "abi3":
        return x <= minor
    # Up to 3.7 CPython's ABI tag carries "m" (pymalloc): cp37-cp37m.
    return x == minor and (abi in ("none", f"cp3{minor}") or (minor <= 7 and abi == f"cp3{minor}m"))


def _platform_fits(tag: str, platform: Platform) -> bool:
    if tag == "any":
        return True
    if platform.os == "linux":
        if tag == f"linux_{platform.arch}":  # uv takes these last (PyTorch's index published such)
            return True
        if platform.libc == "musl":
            m = _MUSL.fullmatch(tag)
            return m is not None and m[3] == platform.arch and (int(m[1]), int(m[2])) <= _MUSL_FLOOR
        legacy, _, arch = tag.partition("_")
        if legacy in _LEGACY:
            return arch == platform.arch and _LEGACY[legacy] <= (platform.glibc or (2, 17))
        m = _GLIBC.fullmatch(tag)
        return m is not None and m[3] == platform.arch and (int(m[1]), int(m[2])) <= (platform.glibc or (2, 17))
    if platform.os == "macos":
        m = _MACOS.fullmatch(tag)
        return m is not None and m[1] in _MACOS_ARCHS.get(platform.arch, {platform.arch})
    if platform.os == "windows":
        return _WINDOWS.get(tag) == platform.arch
    return False

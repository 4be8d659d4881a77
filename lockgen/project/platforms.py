"""uv ``--python-platform`` values: what machine each one means."""

from __future__ import annotations

import re
from dataclasses import dataclass

# uv's own aliases (``uv pip compile --help``).
_ALIASES = {
    "linux": "x86_64-unknown-linux-gnu",
    "macos": "aarch64-apple-darwin",
    "windows": "x86_64-pc-windows-msvc",
}
# The values uv accepts that lockgen can place on a machine: ``uv pip compile --help``
# of uv 0.13 (its android, iOS and pyodide targets aside). A pattern alone let through
# ``x86_64-manylinux_2_45`` or ``riscv64-manylinux_2_28``, which uv then refuses once
# for every variant; refused here, they are one error naming the key.
_MANYLINUX = ("2014", "_2_17", "_2_28", *(f"_2_{minor}" for minor in range(31, 41)))
KNOWN = frozenset((
    *_ALIASES,
    *(f"{arch}-manylinux{v}" for arch in ("x86_64", "aarch64") for v in _MANYLINUX),
    "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "riscv64-unknown-linux",
    "x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl",
    "aarch64-apple-darwin", "x86_64-apple-darwin",
    "x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc", "i686-pc-windows-msvc",
))  # fmt: skip
# uv resolves ``*-unknown-linux-gnu`` for manylinux_2_28 and ``manylinux2014`` is 2_17.
_GNU_DEFAULT_GLIBC = (2, 28)
_PATTERNS = (
    (re.compile(r"(?P<arch>x86_64|aarch64|riscv64)-manylinux_(?P<maj>\d+)_(?P<min>\d+)"), "linux"),
    (re.compile(r"(?P<arch>x86_64|aarch64)-manylinux2014"), "linux-2014"),
    (re.compile(r"(?P<arch>x86_64|aarch64|riscv64)-unknown-linux(-gnu)?"), "linux-gnu"),
    (re.compile(r"(?P<arch>x86_64|aarch64)-unknown-linux-musl"), "musl"),
    (re.compile(r"(?P<arch>x86_64|aarch64)-apple-darwin"), "macos"),
    (re.compile(r"(?P<arch>x86_64|aarch64|i686)-pc-windows-msvc"), "windows"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """A target platform: ``os`` linux/macos/windows, ``arch`` as the OS names it."""

    uv: str
    os: str
    arch: str
    libc: str | None = None  # "glibc" or "musl" on Linux
    glibc: tuple[int, int] | None = None  # the manylinux floor

    @property
    def suffix(self) -> str:
        return f"{self.os}-{self.arch}"

    def markers(self) -> dict[str, str]:
        """PEP 508 marker values of a CPython on this platform, as uv gives them when it
        resolves for it: those the platform decides, and the release and version of the
        OS, which no platform value says (empty)."""
        system, sys_platform, os_name = _SYSTEMS[self.os]
        return {"sys_platform": sys_platform, "platform_system": system, "os_name": os_name,
                "platform_machine": _MACHINES.get((self.os, self.arch), self.arch), "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "platform_release": "", "platform_version": ""}  # fmt: skip


# os → (platform.system(), sys.platform, os.name); the machines Windows names otherwise
# than variant names do (``arch`` as :func:`parse` spells it).
_SYSTEMS = {"linux": ("Linux", "linux", "posix"), "macos": ("Darwin", "darwin", "posix"),
            "windows": ("Windows", "win32", "nt")}  # fmt: skip
_MACHINES = {("windows", "x86_64"): "AMD64", ("windows", "arm64"): "ARM64"}


def parse(value: str) -> Platform | None:
    """The platform a uv ``--python-platform`` value names; None if unknown."""
    if value not in KNOWN:
        return None
    target = _ALIASES.get(value, value)
    for pattern, kind in _PATTERNS:
        m = pattern.fullmatch(target)
        if not m:
            continue
        arch = m["arch"]
        if kind == "macos":
            return Platform(uv=value, os="macos", arch="arm64" if arch == "aarch64" else arch)
        if kind == "windows":
            return Platform(uv=value, os="windows", arch={"aarch64": "arm64", "i686": "x86"}.get(arch, arch))
        if kind == "musl":
            return Platform(uv=value, os="linux", arch=arch, libc="musl")
        glibc = {"linux": None, "linux-2014": (2, 17), "linux-gnu": _GNU_DEFAULT_GLIBC}[kind]
        if arch == "riscv64":  # uv's target for riscv64-unknown-linux is manylinux_2_39
            glibc = (2, 39)
        if glibc is None:
            glibc = (int(m["maj"]), int(m["min"]))
        return Platform(uv=value, os="linux", arch=arch, libc="glibc", glibc=glibc)
    return None


def normalize_arch(os_name: str, machine: str) -> str:
    """``platform.machine()`` spelled as variant names spell it."""
    machine = machine.lower()
    if machine in ("amd64", "x64"):
        machine = "x86_64"
    if os_name == "linux" and machine == "arm64":
        return "aarch64"
    if os_name in ("macos", "windows") and machine == "aarch64":
        return "arm64"
    return machine


def why_not(platform: Platform, *, os: str, arch: str, libc: str | None, glibc: tuple[int, int] | None) -> str | None:
    """None when a machine with these facts can run ``platform``'s wheels, else why not."""
    if (platform.os, platform.arch) != (os, arch):
        return f"platform {platform.suffix} is not this machine's {os}-{arch}"
    if platform.libc and libc and platform.libc != libc:
        return f"platform needs {platform.libc}, this machine has {libc}"
    if platform.glibc and glibc and glibc < platform.glibc:
        need = ".".join(map(str, platform.glibc))
        have = ".".join(map(str, glibc))
        return f"platform needs glibc {need}, this machine has {have}"
    return None

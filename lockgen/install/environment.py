"""The environment ``select`` and ``sync`` act on, and what is installed in it."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from lockgen import command
from lockgen.exceptions import InputError

SEEDS = frozenset({"pip", "setuptools", "wheel"})  # the installer's own; uv pip sync keeps them


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    prefix: Path  # the environment's folder (may not exist yet)
    python: str  # full version, e.g. "3.12.1"
    source: str  # why this one: "--python", "VIRTUAL_ENV", ".venv", "running interpreter"
    exists: bool

    @property
    def interpreter(self) -> Path:
        return self.prefix / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def site_packages(self) -> list[Path]:
        if os.name == "nt":
            return [self.prefix / "Lib" / "site-packages"]
        return sorted((self.prefix / "lib").glob("python*/site-packages"))


def find(root: Path, python: Path | None) -> Target:
    """``--python``, else the active virtual environment, else ``.venv`` in the project."""
    if python is not None:
        prefix = _prefix_of(python)
        return Target(prefix=prefix, python=_version(prefix, python), source="--python", exists=True)
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        prefix = Path(active)
        return Target(prefix=prefix, python=_version(prefix, None), source="VIRTUAL_ENV", exists=True)
    venv = root / ".venv"
    if (venv / "pyvenv.cfg").is_file():
        return Target(prefix=venv, python=_version(venv, None), source=".venv", exists=True)
    version = ".".join(map(str, sys.version_info[:3]))
    return Target(prefix=venv, python=version, source="running interpreter (sync creates .venv)", exists=False)


def _prefix_of(python: Path) -> Path:
    if python.is_dir():
        return python
    if not python.exists():
        raise InputError(f"--python: {python}: no such interpreter")
    # .../env/bin/python → .../env when it is a virtual environment
    if (python.parent.parent / "pyvenv.cfg").is_file():
        return python.parent.parent
    out = command.run([str(python), "-c", "import sys; print(sys.prefix)"])
    return Path(out.strip())


def _version(prefix: Path, python: Path | None) -> str:
    cfg = prefix / "pyvenv.cfg"
    if cfg.is_file():
        m = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+(?:\.\d+)?)", cfg.read_text(), re.MULTILINE)
        if m:
            return m[1]
    exe = python or prefix / "bin/python"
    if not exe.exists():
        raise InputError(f"--python: {prefix}: not a Python environment")
    return command.run([str(exe), "-c", "import platform; print(platform.python_version())"]).strip()


def is_own(target: Target) -> bool:
    """Is ``target`` the environment lockgen itself runs from?"""
    try:
        return target.prefix.resolve() == Path(sys.prefix).resolve()
    except OSError:
        return False


def installed(target: Target) -> dict[str, str]:
    """Canonical name → version of every distribution in the environment (read from disk)."""
    found: dict[str, str] = {}
    for site in target.site_packages():
        for meta in site.glob("*.dist-info/METADATA"):
            name = version = None
            with meta.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    if (name and version) or line in ("\n", "\r\n"):
                        break
            if name and version:
                found[canonicalize_name(name)] = version
    return found

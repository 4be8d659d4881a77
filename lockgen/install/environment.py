"""The environment ``select``, ``sync`` and ``verify`` act on.

``--python`` (an interpreter, or an environment's folder), else the active
virtual environment (``VIRTUAL_ENV``), else ``.venv`` in the project; with none of
them, the interpreter running lockgen decides the version and ``sync`` creates
``.venv``. A virtual environment is read from disk without starting Python; any
other interpreter is asked once for its folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lockgen import command
from lockgen.exceptions import CommandError, InputError
from lockgen.files import unreachable

SEEDS = frozenset({"pip", "setuptools", "wheel"})  # the installer's own: sync never removes them
# In a folder sync is making a virtual environment in, until it is made: a folder with
# it is sync's own half-made one (a kill), which the next sync starts over.
CREATING = ".lockgen-creating"
_ASK = "import json, platform, sys, sysconfig; print(json.dumps([sys.prefix, platform.python_version(), sorted({sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']})]))"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The environment a command acts on, and how it was chosen."""

    prefix: Path  # the environment's folder (may not exist yet)
    python: str  # full version, e.g. "3.12.1"
    source: str  # where it came from: "--python", "VIRTUAL_ENV", ".venv", "running interpreter …"
    exists: bool
    virtual: bool = True  # a virtual environment (pyvenv.cfg), not an interpreter's own prefix
    executable: Path | None = None  # the interpreter, when it is not the venv's bin/python
    sites: tuple[Path, ...] = ()  # site-packages folders of a non-virtual interpreter

    @property
    def interpreter(self) -> Path:
        if self.executable is not None:
            return self.executable
        return self.prefix / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def site_packages(self) -> list[Path]:
        if self.sites:
            return list(self.sites)
        if os.name == "nt":
            return [self.prefix / "Lib" / "site-packages"]
        return sorted((self.prefix / "lib").glob("python*/site-packages"))

    @property
    def where(self) -> str:
        """How messages name it: the path and where lockgen got it from."""
        return f"{self.prefix} (from {self.source})"


def find(root: Path, python: Path | None) -> Target:
    """``--python``, else the active virtual environment, else ``.venv`` in the project."""
    if python is not None:
        return _explicit(python)
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        prefix = Path(active)
        problem = unreachable(prefix)
        if problem:
            raise InputError(f"VIRTUAL_ENV: {prefix}: {problem}")
        if not (prefix / "pyvenv.cfg").is_file():
            raise InputError(f"VIRTUAL_ENV: {prefix} is not a virtual environment (no pyvenv.cfg); deactivate it")
        return Target(prefix=prefix, python=_venv_version(prefix, "VIRTUAL_ENV"), source="VIRTUAL_ENV", exists=True)
    venv = root / ".venv"
    version = ".".join(map(str, sys.version_info[:3]))
    if (venv / CREATING).is_file():  # even with a pyvenv.cfg: uv may have been killed after writing it
        source = "running interpreter (sync makes .venv: a sync began making it and has not finished)"
        return Target(prefix=venv, python=version, source=source, exists=False)
    if (venv / "pyvenv.cfg").is_file():
        return Target(prefix=venv, python=_venv_version(venv, ".venv"), source=".venv", exists=True)
    if venv.exists() and not _empty_folder(venv):  # empty: made by a sync about to make it, or by hand
        raise InputError(f"{venv}: exists but is not a virtual environment (no pyvenv.cfg); move it away")
    return Target(prefix=venv, python=version, source="running interpreter (sync creates .venv)", exists=False)


def _empty_folder(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _explicit(python: Path) -> Target:
    """``--python``: an environment's folder or an interpreter; anything else is bad input."""
    problem = unreachable(python)
    if problem:
        raise InputError(f"--python: {python}: {problem}")
    if not python.exists():
        raise InputError(f"--python: {python}: no such file or folder")
    if python.is_dir():
        if (python / "pyvenv.cfg").is_file():
            return Target(prefix=python, python=_venv_version(python, "--python"), source="--python", exists=True)
        raise InputError(f"--python: {python} is a folder but not a virtual environment (no pyvenv.cfg)")
    if (python.parent.parent / "pyvenv.cfg").is_file():  # .../env/bin/python
        prefix = python.parent.parent
        return Target(prefix=prefix, python=_venv_version(prefix, "--python"), source="--python", exists=True)
    if not os.access(python, os.X_OK):
        raise InputError(f"--python: {python} is not an executable interpreter")
    try:
        prefix, version, sites = json.loads(command.run([str(python), "-c", _ASK], timeout=30).strip().splitlines()[-1])
    except (CommandError, ValueError, IndexError):
        raise InputError(f"--python: {python} is not a Python interpreter lockgen can run") from None
    return Target(
        prefix=Path(prefix),
        python=version,
        source="--python",
        exists=True,
        virtual=False,
        executable=python,
        sites=tuple(Path(s) for s in sites),
    )


def _venv_version(prefix: Path, source: str) -> str:
    cfg = prefix / "pyvenv.cfg"
    try:
        text = cfg.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{source}: cannot read {cfg}: {exc.strerror}") from None
    m = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+(?:\.\d+)?)", text, re.MULTILINE)
    exe = prefix / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if m:
        _refuse_moved_interpreter(exe, m[1], source, prefix)
        return m[1]
    try:
        return command.run([str(exe), "-c", "import platform; print(platform.python_version())"], timeout=30).strip()
    except CommandError:
        raise InputError(f"{source}: {prefix} is a virtual environment whose python does not run") from None


def _refuse_moved_interpreter(exe: Path, version: str, source: str, prefix: Path) -> None:
    """A venv's python is a link to the interpreter it was made from: one uninstalled
    since, or upgraded to another minor version, leaves a venv whose packages no python
    runs, though its pyvenv.cfg and every file still agree with the lock."""
    real = os.path.realpath(exe)
    again = f"make it again (remove {prefix}, then lockgen sync)"
    if not os.path.exists(real):
        raise InputError(f"{source}: {prefix} is a virtual environment whose python is gone ({real}): {again}")
    with contextlib.suppress(OSError), open(real, "rb") as f:
        if f.read(2) == b"#!":  # a pyenv shim, a wrapper: uv would install into whatever it runs
            raise InputError(
                f"{source}: {prefix}'s python is a script ({real}) that runs another interpreter, and uv would "
                f"install into that one's environment: {again}"
            )
    named = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(real))
    if named and version != named[1] and not version.startswith(named[1] + "."):
        raise InputError(
            f"{source}: {prefix}'s python is now {named[1]} ({real}), its pyvenv.cfg says {version}: {again}"
        )


def path_folders(target: Target) -> list[Path] | None:
    """The folders on the target interpreter's ``sys.path``, in the order imports search
    them: its site-packages, and those no installer writes to but imports read and
    ``pip freeze`` lists (a system's dist-packages, a ``--system-site-packages`` venv's
    base, a ``.pth`` entry, the user's site). Asked of the interpreter itself, with
    ``-E``: the shell running lockgen (its ``PYTHONPATH``) does not decide. None when
    it cannot run."""
    ask = "import json, os, sys; print(json.dumps([p for p in sys.path if p and os.path.isdir(p)]))"
    try:
        out = command.run([str(target.interpreter), "-E", "-c", ask], cwd=target.prefix, timeout=30)
        return [Path(p) for p in dict.fromkeys(json.loads(out.strip().splitlines()[-1]))]
    except (CommandError, ValueError, IndexError, TypeError):
        return None


def is_own(target: Target) -> bool:
    """Is ``target`` the environment lockgen itself runs from?"""
    try:
        return target.prefix.resolve() == Path(sys.prefix).resolve()
    except OSError:
        return False

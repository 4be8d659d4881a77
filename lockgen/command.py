"""The one place lockgen runs a subprocess.

Every command is logged (``lockgen -v`` shows it), its output captured, and a
non-zero exit becomes a :class:`CommandError` carrying the program's own message.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lockgen.exceptions import CommandError

VERBOSE = False  # set by ``lockgen -v``; logging itself costs 8 ms of start-up


def log(message: str) -> None:
    if VERBOSE:
        print(f"lockgen: {message}", file=sys.stderr)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``argv``; return its stdout, or raise CommandError with its stderr."""
    result = _finish(_start(argv, cwd, env), timeout)
    if isinstance(result, CommandError):
        raise result
    return result


def run_many(
    argvs: Sequence[Sequence[str]], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> list[str | CommandError]:
    """Run several commands at once; each one's stdout, or its CommandError."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for argv in argvs:
            procs.append(_start(argv, cwd, env))
    except CommandError:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    return [_finish(proc, None) for proc in procs]


def _start(
    argv: Sequence[str | os.PathLike[str]], cwd: Path | None, env: Mapping[str, str] | None
) -> subprocess.Popen[str]:
    args = [os.fspath(a) for a in argv]
    log(f"$ {shlex.join(args)}")
    try:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise CommandError(f"{Path(args[0]).name}: {exc}") from exc


def _finish(proc: subprocess.Popen[str], timeout: float | None) -> str | CommandError:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return CommandError(f"{Path(str(proc.args[0])).name}: timed out after {timeout} s")  # type: ignore[index]
    if proc.returncode != 0:
        return CommandError((stderr.strip() or stdout.strip()) or f"exit status {proc.returncode}")
    return stdout


def probe(argv: Sequence[str], *, timeout: float = 5.0) -> str | None:
    """Run a hardware probe; ``None`` when the tool is missing or fails."""
    try:
        return run(argv, timeout=timeout)
    except CommandError as exc:
        log(f"probe {argv[0]} failed: {exc}")
        return None

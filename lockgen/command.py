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

from .exceptions import CommandError

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
    args = [os.fspath(a) for a in argv]
    log(f"$ {shlex.join(args)}")
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError(f"{Path(args[0]).name}: {exc}") from exc
    if proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()) or f"exit status {proc.returncode}"
        raise CommandError(message)
    return proc.stdout


def run_many(
    argvs: Sequence[Sequence[str]], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> list[str | CommandError]:
    """Run several commands at once; each one's stdout, or its CommandError."""
    full_env = None if env is None else {**os.environ, **env}
    procs = []
    for argv in argvs:
        log(f"$ {shlex.join(argv)}")
        try:
            procs.append(
                subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
        except OSError as exc:
            for p in procs:
                p.kill()
                p.wait()
            raise CommandError(f"{Path(argv[0]).name}: {exc}") from exc
    out: list[str | CommandError] = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode == 0:
            out.append(stdout)
        else:
            out.append(CommandError((stderr.strip() or stdout.strip()) or f"exit status {proc.returncode}"))
    return out


def probe(argv: Sequence[str], *, timeout: float = 5.0) -> str | None:
    """Run a hardware probe; ``None`` when the tool is missing or fails."""
    try:
        return run(argv, timeout=timeout)
    except CommandError as exc:
        log(f"probe {argv[0]} failed: {exc}")
        return None

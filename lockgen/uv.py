"""uv, the resolver and installer lockgen drives: its binary, and running it."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

from lockgen import command


@functools.cache
def binary() -> str:
    """The uv binary shipped by the ``uv`` package lockgen depends on."""
    from uv import find_uv_bin

    return find_uv_bin()


def run(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str | None] | None = None) -> str:
    return run_full(args, cwd=cwd, env=env).stdout


def run_full(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    message: str = "",
    spool: Path | None = None,
) -> command.Output:
    """Run uv; CommandError carries uv's own message (lines starting with ``message``
    left out). ``spool``: see :func:`lockgen.command.run_full`."""
    env = {"UV_NO_PROGRESS": "1", **(env or {})}
    return command.run_full([binary(), *args], cwd=cwd, env=env, message=message, spool=spool)

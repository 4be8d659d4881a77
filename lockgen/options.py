"""Reusable click options, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ENVIRONMENT_HELP = """\b
Environment:
  LOCKGEN_VARIANT       use this variant's lock (as --variant; not detect)
  LOCKGEN_CUDA          the driver's CUDA version ("12.8"), or "none": no GPU
  LOCKGEN_GPU_ARCHS     compute capabilities, one per visible GPU ("8.0,9.0")
  CUDA_VISIBLE_DEVICES  which GPUs count, as CUDA reads it
On a machine without the GPU (a Docker build), name the lock with --variant,
or describe the target with LOCKGEN_CUDA and LOCKGEN_GPU_ARCHS."""

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="lockgen.toml or pyproject.toml to use (default: found from the current folder up).",
)


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from lockgen import settings

        settings.verbose = True


# ``lockgen -v compile`` and ``lockgen compile -v`` alike: the second is what most type.
verbose_option = click.option(
    "-v", "--verbose", is_flag=True, expose_value=False, callback=_verbose, help="As lockgen -v: log every command."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
hashes_option = click.option(
    "--hashes", is_flag=True, help="Also compare every file's sha256 with its RECORD (reads every byte)."
)


def selection_options(f: F) -> F:
    """Flags shared by ``select``, ``sync`` and ``verify``."""
    for option in reversed(
        (
            click.option("--variant", envvar="LOCKGEN_VARIANT", help="Use this variant's lock [env: LOCKGEN_VARIANT]."),
            click.option(
                "--python",
                "python",
                type=click.Path(path_type=Path),
                help="Interpreter whose version and environment count (default: active venv, else ./.venv, "
                "else the version of the interpreter running lockgen).",
            ),
            click.option(
                "--allow-cpu", is_flag=True, help="With a GPU visible but no GPU variant eligible, take a CPU one."
            ),
        )
    ):
        f = option(f)
    return f

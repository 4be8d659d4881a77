"""The command line: parses flags, calls the core, prints, maps errors to exit codes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__, config
from .exceptions import InputError, LockgenError
from .options import config_option, dry_run_option

F = TypeVar("F", bound=Callable[..., Any])


def _errors(f: F) -> F:
    """Turn lockgen's errors into ``error:`` lines and SPEC §8 exit codes."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except LockgenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "lockgen"
            click.echo(f"error: {where}: {exc.format_message()}", err=True)
            sys.exit(2)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="lockgen")
@click.option("-v", "--verbose", is_flag=True, help="Log every uv command lockgen runs.")
def main(verbose: bool) -> None:
    """Compile intent files into one PEP 751 lock per hardware variant, and install the right one."""
    logging.basicConfig(format="lockgen: %(message)s", level=logging.DEBUG if verbose else logging.WARNING)


def _load(config_path: Path | None) -> config.Config:
    return config.load(Path.cwd(), config_path)


@main.command("compile")
@click.argument("patterns", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Ignore existing pins: resolve everything afresh.")
@click.option("-P", "--upgrade-package", "upgrade_packages", multiple=True, metavar="NAME", help="Let NAME move (repeatable).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel uv processes [default: CPU count].")
@click.option("--offline", is_flag=True, help="Resolve from uv's cache only.")
@click.option("--prune", is_flag=True, help="Delete locks of variants no longer configured.")
@dry_run_option
@config_option
@_errors
def compile_command(patterns: tuple[str, ...], config_path: Path | None, jobs: int | None, prune: bool, **flags: Any) -> None:
    """Resolve each variant (or those matching PATTERN globs) into its lock."""
    from . import compiler, report

    cfg = _load(config_path)
    options = compiler.Options(jobs=jobs or os.cpu_count() or 1, **flags)
    progress = report.Progress(len(compiler.select(cfg, patterns))) if sys.stderr.isatty() else None
    result = compiler.run(cfg, patterns, options, prune=prune, progress=progress)
    click.echo(report.compile_table(cfg, result, dry_run=options.dry_run))
    if result.failed:
        sys.exit(1)


@main.command("check")
@config_option
@_errors
def check_command(config_path: Path | None) -> None:
    """Exit 0 when every lock is present, valid, current and clean; 1 otherwise."""
    from . import check

    found = check.problems(_load(config_path))
    for line in found:
        click.echo(line)
    if found:
        sys.exit(1)
    click.echo("all locks are up to date")


__all__ = ["main", "InputError"]

"""uv, the resolver and installer lockgen drives; every call goes through here."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from lockgen import command
from lockgen.exceptions import CommandError
from lockgen.project.config import Variant


@functools.cache
def binary() -> str:
    """The uv binary shipped by the ``uv`` package lockgen depends on."""
    from uv import find_uv_bin

    return find_uv_bin()


def run(args: Sequence[str], *, cwd: Path | None = None) -> str:
    return command.run([binary(), *args], cwd=cwd, env={"UV_NO_PROGRESS": "1"})


def run_many(argss: Sequence[Sequence[str]], *, cwd: Path | None = None) -> list[str | CommandError]:
    """Several uv commands at once (they share uv's cache, which uv locks itself)."""
    return command.run_many([[binary(), *args] for args in argss], cwd=cwd, env={"UV_NO_PROGRESS": "1"})


def compile_args(
    variant: Variant,
    *,
    output: Path,
    fmt: str = "pylock.toml",
    offline: bool = False,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    extra_constraints: Sequence[Path] = (),
) -> list[str]:
    """``uv pip compile`` for one variant, run from the project's folder."""
    args = ["pip", "compile", *variant.inputs]
    for c in (*variant.constraints, *map(str, extra_constraints)):
        args += ["--constraint", c]
    args += [
        "--output-file", str(output), "--format", fmt,
        "--python-version", variant.python, "--python-platform", variant.platform.uv,
        # Resolving for a version needs no interpreter of it: hand uv ours so it
        # never searches for (or downloads) one.
        "--python", sys.executable, "--no-python-downloads",
        "--generate-hashes", "--no-header", "--no-config", "--quiet", "--color", "never",
    ]  # fmt: skip
    if fmt == "requirements.txt":
        args += ["--annotation-style", "split"]
    if variant.index_url:
        args += ["--default-index", variant.index_url]
    for url in variant.extra_index_urls:
        args += ["--index", url]
    for link in variant.find_links:
        args += ["--find-links", link]
    if variant.exclude_newer:
        args += ["--exclude-newer", variant.exclude_newer]
    if offline:
        args.append("--offline")
    if upgrade:
        args.append("--upgrade")
    for name in upgrade_packages:
        args += ["--upgrade-package", name]
    return args

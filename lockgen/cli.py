"""The command line: parses flags, calls the core, prints (through :mod:`lockgen.console`,
which also maps failures to exit codes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lockgen import __version__
from lockgen.console import Group, err, errors, out
from lockgen.exceptions import InputError, LockgenError
from lockgen.options import (
    ENVIRONMENT_HELP,
    config_option,
    dry_run_option,
    hashes_option,
    json_option,
    selection_options,
    verbose_option,
)

if TYPE_CHECKING:
    from lockgen.machine import selection
    from lockgen.project.config import Config, Variant


@click.group(cls=Group)
@click.version_option(__version__, prog_name="lockgen")
@click.option("-v", "--verbose", is_flag=True, help="Log every command lockgen runs (credentials shown as ***).")
def main(verbose: bool) -> None:
    """Compile intent files into one PEP 751 lock per hardware variant, and install the right one."""
    from lockgen import redact, settings

    settings.verbose = verbose
    redact.forget()  # the secrets one run learns are that run's


def _load(config_path: Path | None) -> Config:
    from lockgen import files
    from lockgen.project.config import load

    config = load(Path.cwd(), config_path)
    files.require_asked_cache()
    return config


def _say(text: str) -> None:
    err(f"lockgen: {text}")


def _choose(cfg: Config, flags: dict[str, Any]) -> selection.Choice:
    """This machine's variant (or ``--variant``), after saying what detect warns of."""
    from lockgen.machine import selection

    choice = selection.for_machine(cfg, **flags)
    _warn_choice(choice, flags)
    return choice


def _warn_choice(choice: selection.Choice, flags: dict[str, Any]) -> None:
    """What the choice rests on that may not be what the user meant, on stderr."""
    for warning in choice.facts.choice_warnings:
        err(f"warning: {warning}")
    if choice.facts.half_override and flags.get("variant") is None:  # --variant chose: no GPU counted
        err(f"warning: {choice.facts.half_override}")


def _meta(path: Path) -> object:
    from lockgen.locks import pylock

    try:
        return pylock.read_meta(path)
    except InputError:
        return None


def _withheld(*, resolving: bool = False) -> list[str]:
    """The UV_* variables set here that lockgen withholds from uv."""
    if not any(name.startswith("UV_") for name in os.environ):  # uv's module loads only then
        return []
    from lockgen import uv

    return uv.withheld(resolving=resolving)


@main.command("compile")
@click.argument("patterns", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Ignore existing pins: resolve everything afresh.")
@click.option(
    "-P", "--upgrade-package", "upgrade_packages", multiple=True, metavar="NAME", help="Let NAME move (repeatable)."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Most offline resolutions at once [default: all, up to 16: uv waits on the disk more than the CPU].",
)
@click.option("--offline", is_flag=True, help="Resolve from uv's cache only.")
@click.option("--prune", is_flag=True, help="Delete locks of variants no longer configured.")
@click.option("--details", is_flag=True, help="List version differences across variants that involve one compiled now.")
@dry_run_option
@config_option
@verbose_option
@errors
def compile_command(
    patterns: tuple[str, ...], config_path: Path | None, jobs: int | None, prune: bool, details: bool, **flags: Any
) -> None:
    """Resolve each variant (or those matching PATTERN globs) into its lock."""
    from lockgen import report
    from lockgen.compile import compiler

    cfg = _load(config_path)
    options = compiler.Options(jobs=jobs or compiler.OFFLINE_JOBS, **flags)
    progress = report.Progress(len(cfg.select(patterns))) if sys.stderr.isatty() else None
    result = compiler.run(cfg, patterns, options, prune=prune, progress=progress, say=_say)
    out(report.compile_table(cfg, result, dry_run=options.dry_run, details=details))
    for line in report.compile_warnings(result, ignored=_withheld(resolving=True)):
        err(line)
    from lockgen import uv

    for line in uv.withheld_settings({v.platform.os for v in cfg.variants}, cfg.root):
        err(f"warning: {line}")
    if result.failed:
        sys.exit(1)


@main.command("check")
@click.option("--resolve", is_flag=True, help="Also resolve every variant again; any difference from its lock fails.")
@config_option
@verbose_option
@errors
def check_command(config_path: Path | None, resolve: bool) -> None:
    """Exit 0 when every lock is present, valid, current, truthful and clean; 1 otherwise."""
    from lockgen.review import check

    cfg = _load(config_path)

    def confirm(*args: Any) -> bool:  # needs uv: imported only when a difference needs confirming
        from lockgen.review import recheck

        return recheck.confirmer(cfg)(*args)

    found = check.problems(cfg, confirm=confirm)
    problems = list(found.problems)
    for line in dict.fromkeys(found.warnings):  # once, however many checks came upon it
        err(f"warning: {line}")
    if resolve:
        from lockgen.review import recheck

        again = recheck.resolve_locks(cfg, found.locks)
        problems += again.problems
        unread = len(cfg.variants) - len(found.locks)
        err(f"resolved again: {len(again.verified)} of {len(cfg.variants)} locks equal a fresh resolution"
            + (f" ({unread} missing or unreadable: see above)" if unread else ""))  # fmt: skip
        for line in again.unverified:
            err(f"not verified: {line}")
        if again.unverified:
            problems.append(f"{len(again.unverified)} lock(s) could not be verified (see above)")
    for line in problems:
        out(line)
    if problems:
        sys.exit(1)
    out("all locks are up to date")


@main.command("detect", epilog=ENVIRONMENT_HELP)
@json_option
@config_option
@verbose_option
@errors
def detect_command(as_json: bool, config_path: Path | None) -> None:
    """Facts about this machine: python, platform, driver, CUDA, GPUs, and their sources."""
    import json

    from lockgen import report
    from lockgen.install import environment
    from lockgen.machine import detect

    target = environment.find(_detect_root(config_path), None)
    facts = detect.detect(python=target.python, python_source=target.source)
    out(json.dumps(facts.to_json(), indent=2) if as_json else report.facts(facts))
    for warning in facts.warnings:
        err(f"warning: {warning}")


def _detect_root(config_path: Path | None) -> Path:
    """The folder whose ``.venv`` select and sync would use: the project's, found as every
    command finds it (here or above), else this folder. detect needs no lockgen cache,
    and a project it cannot find or read is no error: it reports on the machine."""
    from lockgen.project import config

    if config_path is not None:
        return config.load(Path.cwd(), config_path).root
    try:
        return config.find(Path.cwd())[0].resolve().parent
    except InputError:
        return Path.cwd()


@main.command("select", epilog=ENVIRONMENT_HELP)
@click.option("--explain", is_flag=True, help="Say for every variant why it was or was not chosen.")
@json_option
@selection_options
@config_option
@verbose_option
@errors
def select_command(explain: bool, as_json: bool, config_path: Path | None, **flags: Any) -> None:
    """Print the variant this machine should use, and its lock."""
    import json

    from lockgen import report
    from lockgen.locks import pylock

    cfg = _load(config_path)
    choice = _choose(cfg, flags)
    refused = choice.refused
    if as_json:
        out(json.dumps(report.selection_json(cfg, choice.selection), indent=2))
        if choice.selection.chosen is None or refused:
            sys.exit(3 if choice.selection.chosen is None else 1)
        _warn_lock(cfg, choice.selection.chosen)
        return
    if explain:
        out(report.explain(choice.selection))
        if choice.selection.chosen is None:
            err(f"error: no variant fits this machine (reasons above)\n{choice.hint()}")
            sys.exit(3)
    if refused:  # named with --variant: as sync would answer
        raise LockgenError(f"{choice.selection.chosen.name if choice.selection.chosen else ''}: {refused}")
    variant = choice.require()
    out(f"{variant.name} {cfg.relative(pylock.lock_file(cfg.locks_dir, variant.name))}")
    _warn_lock(cfg, variant)


def _warn_lock(cfg: Config, variant: Variant) -> None:
    """A chosen variant's lock that sync would not take, said on stderr (text and JSON alike)."""
    from lockgen.locks import pylock

    path = pylock.lock_file(cfg.locks_dir, variant.name)
    if not path.is_file():
        err(f"warning: {cfg.relative(path)} does not exist yet (run: lockgen compile {variant.name})")
    elif _meta(path) is None:
        err(f"warning: {cfg.relative(path)} is not a lock lockgen wrote, or cannot be read: sync refuses it "
            f"(run: lockgen compile {variant.name})")  # fmt: skip


@main.command("sync", epilog=ENVIRONMENT_HELP)
@click.option("--allow-stale", is_flag=True, help="Install a lock whose inputs changed since it was compiled.")
@click.option(
    "--wheelhouse",
    type=click.Path(path_type=Path, file_okay=False),
    help="Install from this folder (made by lockgen wheelhouse) with no network access.",
)
@click.option("--system", is_flag=True, help="Allow a non-virtual interpreter (--python): only for a base overlay.")
@hashes_option
@dry_run_option
@selection_options
@config_option
@verbose_option
@errors
def sync_command(
    allow_stale: bool,
    dry_run: bool,
    wheelhouse: Path | None,
    system: bool,
    hashes: bool,
    config_path: Path | None,
    **flags: Any,
) -> None:
    """Install the lock that fits this machine into the environment, exactly, and verify it."""
    from lockgen import report
    from lockgen.install import guards, sync

    cfg = _load(config_path)
    choice = _choose(cfg, flags)
    variant = choice.require()
    lock = guards.load_lock(cfg, variant, allow_stale=allow_stale, warn=lambda m: err(f"warning: {m}"))
    for line in report.withheld(_withheld(), "the lock decides what uv installs, every file hash-checked"):
        err(line)
    plan = sync.sync(cfg, lock, choice.target, choice.facts, variant, dry_run=dry_run, wheelhouse=wheelhouse,
                     system=system, hashes=hashes, say=_say)  # fmt: skip
    out(report.sync_summary(cfg, variant, choice.target, plan, dry_run=dry_run, hashes=hashes))


@main.command("verify", epilog=ENVIRONMENT_HELP)
@hashes_option
@json_option
@selection_options
@config_option
@verbose_option
@errors
def verify_command(hashes: bool, as_json: bool, config_path: Path | None, **flags: Any) -> None:
    """Is the environment exactly the lock sync would choose, every file as its RECORD says?"""
    import json

    from lockgen import report
    from lockgen.install import guards, verify
    from lockgen.locks import pylock
    from lockgen.machine import selection

    cfg = _load(config_path)
    try:
        choice = selection.for_machine(cfg, **flags)
        _warn_choice(choice, flags)
    except LockgenError as exc:  # a --variant or --python refused: a monitor still gets JSON
        if as_json:
            python = flags.get("python")
            out(json.dumps(report.refused_json(flags.get("variant"), None, python and str(python), str(exc)), indent=2))
        raise
    if as_json and choice.selection.chosen is None:  # a monitor reading the JSON gets JSON, then exit 3
        out(json.dumps(report.unfit_json(cfg, choice.selection, choice.target), indent=2))
    variant = choice.require()
    name = cfg.relative(pylock.lock_file(cfg.locks_dir, variant.name))
    try:
        lock = guards.load_lock(cfg, variant, allow_stale=True, warn=lambda m: err(f"warning: {m}"))
    except LockgenError as exc:  # no lock, or one refused: still JSON, then the error
        if as_json:
            out(json.dumps(report.refused_json(variant.name, name, choice.target, str(exc)), indent=2))
        raise
    provided = guards.provided_by_base(cfg, variant, lock)
    base = guards.base_of(cfg, variant)
    found = verify.report(lock, name, variant.name, choice.target, hashes=hashes, provided=provided,
                          base_pins=base.pins if base else None)  # fmt: skip
    out(json.dumps(report.verify_json(found), indent=2) if as_json else report.verify_text(found))
    if found.problems:
        sys.exit(1)


@main.command("wheelhouse")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.argument("patterns", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=8, show_default=True, help="Parallel downloads.")
@click.option("--allow-stale", is_flag=True, help="Fill it from locks whose inputs changed since they were compiled.")
@config_option
@verbose_option
@errors
def wheelhouse_command(
    folder: Path, patterns: tuple[str, ...], jobs: int, allow_stale: bool, config_path: Path | None
) -> None:
    """Download every artifact of the locks (or those matching PATTERN) into FOLDER, checked."""
    from lockgen import report
    from lockgen.install import guards, wheelhouse

    cfg = _load(config_path)
    variants = cfg.select(patterns)
    # refused as sync refuses them: the machine the wheelhouse is for would refuse it there, offline
    locks = {v.name: guards.load_lock(cfg, v, allow_stale=allow_stale, warn=lambda m: err(f"warning: {m}"))
             for v in variants}  # fmt: skip
    from lockgen.install.installer import credentials

    urls = list(dict.fromkeys(u for v in variants for u in credentials(cfg, v)[1]))  # in order, as sync lends them
    progress = err if sys.stderr.isatty() else None
    items = wheelhouse.wanted(locks)
    everywhere = wheelhouse.filenames(cfg)  # other variants' partial downloads stay, to be resumed
    summary = wheelhouse.build(folder, items, credentials=urls, jobs=jobs, progress=progress, say=_say,
                               wanted_anywhere=everywhere)  # fmt: skip
    out(report.wheelhouse_summary(folder, summary))
    from lockgen.install import builds

    for warning in builds.warnings(folder, items, locks):
        err(f"warning: {warning}")


@main.command("diff")
@click.option("--base", default="HEAD", show_default=True, help="git ref to compare the working tree's locks with.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@config_option
@verbose_option
@errors
def diff_command(base: str, fmt: str, config_path: Path | None) -> None:
    """What changed in the locks since a git ref, grouped across variants."""
    import json

    from lockgen.review import diff, diffview

    cfg = _load(config_path)
    old, unreadable = diff.at_ref(cfg, base)
    d = diff.compare(base, old, diff.working_tree(cfg), unreadable)
    output = {"text": diffview.text, "markdown": diffview.markdown}.get(fmt)
    out(json.dumps(diffview.to_json(d), indent=2) if output is None else output(d))


@main.command("why")
@click.argument("package")
@click.option("--variant", metavar="PATTERN", help="Only the variants matching this shell glob.")
@config_option
@verbose_option
@errors
def why_command(package: str, variant: str | None, config_path: Path | None) -> None:
    """The chains of requirements from the intent files to PACKAGE, per variant."""
    from lockgen.review import why

    cfg = _load(config_path)
    lines, found = why.why(cfg, cfg.select([variant] if variant else []), package)
    out("\n".join(lines))
    if not found:
        sys.exit(1)

"""Human-readable output of the commands."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen.locks import pylock

if TYPE_CHECKING:
    from lockgen.compile.compiler import Report, Result
    from lockgen.compile.consistency import Difference
    from lockgen.install.environment import Target
    from lockgen.install.sync import Plan
    from lockgen.install.verify import Report as VerifyReport
    from lockgen.install.wheelhouse import Summary
    from lockgen.machine.detect import Facts
    from lockgen.machine.selection import Selection
    from lockgen.project.config import Config, Variant


class Progress:
    """``[3/6] py312-cu128 updated`` on stderr, redrawn in place, while compile runs."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.lock = threading.Lock()

    def __call__(self, result: Result) -> None:
        with self.lock:
            self.done += 1
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(f"\r\033[K[{self.done}/{self.total}] {result.variant} {result.status}{end}")
            sys.stderr.flush()


def compile_table(config: Config, report: Report, *, dry_run: bool, details: bool = False) -> str:
    width = max((len(r.variant) for r in report.results), default=0)
    lines = []
    if report.recovered == "finished":
        lines.append("finished writing the locks of an interrupted compile first")
    elif report.recovered == "dropped":
        lines.append(
            "dropped the journal of an interrupted compile: the locks folder no longer is as it left it "
            "(checked out since?), and stays as it is"
        )
    for r in report.results:
        if r.status == "failed":
            lines.append(f"{r.variant:<{width}}  failed")
            continue
        delta = f"+{r.added} ~{r.changed} -{r.removed}"
        only = "  (lock unchanged; its requirements export written)" if r.export_only else ""
        lines.append(f"{r.variant:<{width}}  {r.status:<10}  {r.packages:>4} packages  {delta}{only}")
    failures: dict[str, list[str]] = {}  # one cause shared by several variants is said once
    for r in report.results:
        if r.error:
            failures.setdefault(r.error, []).append(r.variant)
    lines.extend(f"\n{', '.join(variants)} failed: {error}" for error, variants in failures.items())
    for path, why in report.orphans.items():
        verb = "pruned" if report.pruned else f"orphan ({why}; --prune deletes it)"
        lines.append(f"{config.relative(path)}: {verb}")
    if details and report.differences:
        lines.append("\nversions that differ across variants of one python, and what requires each:")
        lines.extend(f"  {d.line()}" for d in report.differences)
    elif report.new_differences:
        lines.append("\nnew version differences across variants of one python (lockgen compile --details says why):")
        lines.extend(f"  {line}" for line in _grouped(report.new_differences))
    if dry_run:
        lines.append("dry run: no file was written")
    return "\n".join(lines)


def _grouped(differences: Sequence[Difference]) -> list[str]:
    """One line per python: packages by family (``nvidia-*``), each with its versions."""
    by_python: dict[str, list[Difference]] = {}
    for d in differences:
        by_python.setdefault(d.python, []).append(d)
    out = []
    for python, diffs in by_python.items():
        families: dict[str, list[Difference]] = {}
        for d in diffs:
            prefix = d.package.split("-", 1)[0]
            family = f"{prefix}-*" if sum(1 for x in diffs if x.package.startswith(prefix + "-")) >= 3 else d.package
            families.setdefault(family, []).append(d)
        parts = []
        for family, members in families.items():
            if len(members) == 1:
                parts.append(f"{family} {' / '.join(_by_version(members[0].versions))}")
            else:
                parts.append(f"{family} ({len(members)} packages)")
        out.append(f"python {python}: " + ", ".join(parts))
    return out


def _by_version(versions: Iterable[str]) -> list[str]:
    from packaging.version import InvalidVersion, Version

    def key(v: str) -> tuple[int, Version | str]:
        try:
            return 0, Version(v)
        except InvalidVersion:
            return 1, v

    return sorted(versions, key=key)


def compile_warnings(report: Report, ignored: Sequence[str] = ()) -> list[str]:
    lines = [f"warning: {r.variant}: {w}" for r in report.results for w in r.warnings]
    return lines + withheld(ignored, "the configuration decides what uv resolves, on every machine alike")


def withheld(names: Sequence[str], why: str) -> list[str]:
    """The warning for the UV_* variables set here that uv does not get."""
    if not names:
        return []
    return [f"warning: ignored {', '.join(names)}: {why} (index credentials: ~/.netrc, NETRC or a keyring)"]


def facts(f: Facts) -> str:
    src = f.sources
    rows = [
        ("python", f.python, src.get("python", "")),
        ("platform", " ".join(x for x in (f.os, f.arch, f.libc) if x), src.get("platform", "")),
        ("driver", f.driver or "none", src.get("driver", "")),
        ("cuda", f.cuda or "none", src.get("cuda", "")),
    ]
    lines = [f"{k:<9} {v:<28} ({s})" for k, v, s in rows]
    if not f.gpus:
        lines.append(f"{'gpus':<9} {'none visible':<28} ({src.get('gpus', '')})")
    for g in f.gpus:
        lines.append(f"gpu {g.index:<5} {g.name} ({g.compute_capability or '?'}) {g.uuid}  ({src.get('gpus', '')})")
    lines.append("probes    " + ", ".join(f"{k} {v}" for k, v in f.probes.items()))
    return "\n".join(lines)


def explain(selection: Selection) -> str:
    width = max(len(c.variant.name) for c in selection.candidates)
    return "\n".join(f"{'*' if c.chosen else ' '} {c.variant.name:<{width}}  {c.reason}" for c in selection.candidates)


def selection_json(config: Config, selection: Selection) -> dict[str, object]:
    chosen = selection.chosen
    return {
        "variant": chosen.name if chosen else None,
        "lock": config.relative(pylock.lock_file(config.locks_dir, chosen.name)) if chosen else None,
        "candidates": [
            {"variant": c.variant.name, "eligible": c.eligible, "reason": c.reason} for c in selection.candidates
        ],
    }


def unfit_json(config: Config, selection: Selection, target: Target) -> dict[str, object]:
    """``verify --json`` where no variant fits: not ok, and why each was passed over."""
    return {
        **selection_json(config, selection),
        "environment": str(target.prefix),
        "ok": False,
        "problems": ["no variant fits this machine"],
    }


def refused_json(
    variant: str | None, lock: str | None, environment: Target | str | None, problem: str
) -> dict[str, object]:
    """``verify --json`` where the lock itself is missing or refused, or no environment
    or variant could be settled on (``None`` where it is unknown)."""
    where = environment if environment is None or isinstance(environment, str) else str(environment.prefix)
    return {"variant": variant, "lock": lock, "environment": where, "ok": False, "problems": [problem]}


def sync_summary(
    config: Config, variant: Variant, target: Target, plan: Plan, *, dry_run: bool, hashes: bool = False
) -> str:
    lock = config.relative(pylock.lock_file(config.locks_dir, variant.name))
    head = f"{variant.name}: {lock} -> {target.prefix}"
    why = "the base environment's, as it has them" if plan.overlay else "the installer's own, not in the lock"
    kept = f"kept ({why}): {', '.join(plan.kept)}" if plan.kept else ""
    if plan.empty:
        checked = "sizes and sha256" if hashes else "sizes; --hashes compares every byte"
        done = f"already in sync: every package and file as the lock and RECORD say ({checked})"
        return "\n".join(x for x in (head, done, kept) if x)
    verb = "would change" if dry_run else "changed"
    counts = f"+{len(plan.install)} ~{len(plan.change)} !{len(plan.reinstall)} -{len(plan.remove)}"
    if plan.strays:
        counts += f", {len(plan.strays)} file(s) no package claims"
    return "\n".join(x for x in (head, *plan.lines(), kept, f"{verb}: {counts}") if x)


def verify_text(found: VerifyReport) -> str:
    what = "sha256" if found.hashes else "size"
    head = f"{found.variant}: {found.lock} vs {found.environment}"
    stats = (
        f"{len(found.found.installed)} packages, {found.found.files} files ({what}) in {found.seconds * 1000:.0f} ms"
    )
    if not found.problems:
        return f"{head}\nok: {stats}"
    return "\n".join([head, *found.problems, f"{len(found.problems)} problem(s): {stats}"])


def verify_json(found: VerifyReport) -> dict[str, object]:
    return {
        "variant": found.variant,
        "lock": found.lock,
        "environment": str(found.environment),
        "ok": not found.problems,
        "problems": found.problems,
        "interrupted": found.found.journal is not None,
        "packages": len(found.found.installed),
        "files": found.found.files,
        "hashes": found.hashes,
        "bytes_hashed": found.found.bytes_hashed,
        "seconds": round(found.seconds, 4),
    }


def wheelhouse_summary(folder: Path, summary: Summary) -> str:
    lines = [
        f"{folder}: {len(summary.downloaded) + len(summary.present)} files, {summary.total_bytes / 1e6:.1f} MB "
        f"({len(summary.downloaded)} fetched, {summary.bytes_downloaded / 1e6:.1f} MB; {len(summary.present)} already there)"
    ]
    width = max((len(v) for v in summary.per_variant), default=0)
    for variant, (count, size) in sorted(summary.per_variant.items()):
        lines.append(f"  {variant:<{width}}  {count:>4} files  {size / 1e6:>9.1f} MB")
    lines.append(f"install with: lockgen sync --wheelhouse {folder}  (or uv/pip --no-index --find-links {folder})")
    return "\n".join(lines)

"""Human-readable output of the commands."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgen.compile.compiler import Report, Result
    from lockgen.install.environment import Target
    from lockgen.install.sync import Plan
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


def compile_table(config: Config, report: Report, *, dry_run: bool) -> str:
    width = max((len(r.variant) for r in report.results), default=0)
    lines = []
    for r in report.results:
        if r.status == "failed":
            lines.append(f"{r.variant:<{width}}  failed")
            continue
        delta = f"+{r.added} ~{r.changed} -{r.removed}"
        lines.append(f"{r.variant:<{width}}  {r.status:<10}  {r.packages:>4} packages  {delta}")
    for r in report.results:
        if r.error:
            lines.append(f"\n{r.variant} failed: {r.error}")
    for path in report.orphans:
        verb = "pruned" if report.pruned else "orphan (no such variant; --prune deletes it)"
        lines.append(f"{config.relative(path)}: {verb}")
    if report.differences:
        lines.append("\nversions that differ across variants of one python:")
        lines.extend(f"  {d.line()}" for d in report.differences)
    if dry_run:
        lines.append("dry run: no file was written")
    return "\n".join(lines)


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
        "lock": config.relative(config.locks_dir / chosen.lock_name) if chosen else None,
        "candidates": [
            {"variant": c.variant.name, "eligible": c.eligible, "reason": c.reason} for c in selection.candidates
        ],
    }


def sync_summary(config: Config, variant: Variant, target: Target, plan: Plan, *, dry_run: bool) -> str:
    lock = config.relative(config.locks_dir / variant.lock_name)
    head = f"{variant.name}: {lock} -> {target.prefix}"
    if plan.empty:
        return f"{head}\nalready in sync"
    verb = "would change" if dry_run else "changed"
    return "\n".join([head, *plan.lines(), f"{verb}: +{len(plan.install)} ~{len(plan.change)} -{len(plan.remove)}"])

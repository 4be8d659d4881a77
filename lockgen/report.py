"""Human-readable output of the commands."""

from __future__ import annotations

import sys
import threading

from .compiler import Report, Result
from .config import Config


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
        delta = f"+{r.added} ~{r.changed} -{r.removed}" if r.status != "up to date" else ""
        lines.append(f"{r.variant:<{width}}  {r.status:<10}  {r.packages:>4} packages  {delta}".rstrip())
    for r in report.results:
        if r.error:
            lines.append(f"\n{r.variant} failed: {r.error}")
    for path in report.orphans:
        rel = path.relative_to(config.root).as_posix() if path.is_relative_to(config.root) else str(path)
        verb = "pruned" if report.pruned else "orphan (no such variant; --prune deletes it)"
        lines.append(f"{rel}: {verb}")
    if dry_run:
        lines.append("dry run: no file was written")
    return "\n".join(lines)

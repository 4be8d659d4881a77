"""``lockgen why``: the chains of requirements from the intent files to a package."""

from __future__ import annotations

from lockgen.exceptions import InputError
from lockgen.locks import graph, pylock
from lockgen.names import canonical
from lockgen.project.config import Config, Variant

LIMIT = 10


def why(config: Config, variants: list[Variant], package: str) -> tuple[list[str], bool]:
    """Per variant, the package's version and the chains to it (read from each lock's
    own graph); and whether any lock holds it."""
    from lockgen.project.lines import NAME

    if not NAME.fullmatch(package):
        raise InputError(f"why: {package!r} is not a package name (a name only, no version or extra)")
    name = canonical(package)
    lines, found = [], False
    for variant in variants:
        lock = pylock.read(pylock.lock_file(config.locks_dir, variant.name))
        if lock is None or name not in lock.versions:
            lines.append(f"{variant.name}: {'no lock' if lock is None else 'not in this lock'}")
            continue
        found = True
        lines.append(f"{variant.name}: {name} {pylock.shown(lock.versions[name])}")
        if lock.graph is None:
            lines.append(f"  {name} <- (unknown: the lock has no graph)")
            continue
        lines.extend(chain_lines(lock.graph, name))
    return lines, found


def chain_lines(g: graph.Graph, name: str) -> list[str]:
    """The first ``LIMIT`` chains to ``name``, shortest first, then how many more."""
    shown = graph.chains(g, name, limit=LIMIT)
    lines = [f"  {graph.format_chain(chain)}" for chain in shown]
    total, exact = graph.count_chains(g, name)
    if exact and total > len(shown):
        lines.append(f"  … and {total - len(shown)} more chains")
    elif not exact:  # a cycle: simple chains are counted one by one, and there were too many
        lines.append("  … and perhaps more chains: through a cycle, too many ways to count")
    return lines

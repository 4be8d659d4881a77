"""What uv's debug log says of a resolution: the graph's edges, every package the
resolver took up (whose index page it may have read), and what an offline uv passed over
for want of metadata. Pure: the log is the input; :mod:`lockgen.compile.resolver` asks
uv for it (``RUST_LOG=uv_resolver=debug``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from lockgen.locks import graph as graphs
from lockgen.names import canonical

# uv_resolver's debug lines: the one part of its log lockgen reads. Each pattern
# starts at a newline, searched for in "\n" + log: starting with text rather than
# "^", a search skips ahead to it (3x faster; ~1 ms a resolution).
_DIRECT = re.compile(r"\nDEBUG Adding direct dependency: (?P<dep>[A-Za-z0-9][A-Za-z0-9._-]*)")
_EDGE = re.compile(
    r"\nDEBUG Adding transitive dependency for (?P<pkg>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:\{[^}]*\})?"
    r"==(?P<ver>\S+): (?P<dep>[A-Za-z0-9][A-Za-z0-9._-]*)"
)
_TRIED = re.compile(r"\nDEBUG Tried \d+ versions?: (?P<counts>.*)")
# Offline, a version whose metadata uv has not cached is passed over as unavailable,
# and the resolution goes on without it: to an older version, without an error.
_UNCACHED = re.compile(
    r"\nWARN `?(?P<pkg>[A-Za-z0-9][A-Za-z0-9._-]*)(?:==(?P<ver>[^`\s]+))?`? needs to be downloaded from a registry"
)
_COUNT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:\{[^}]*\})? (\d+)")


def uncached(log: str) -> tuple[str, ...]:
    """What an offline uv passed over because its cache lacked the metadata."""
    if "needs to be downloaded" not in log:
        return ()
    found = (
        f"{canonical(m['pkg'])} {m['ver']}" if m["ver"] else canonical(m["pkg"]) for m in _UNCACHED.finditer("\n" + log)
    )
    return tuple(dict.fromkeys(found))


def from_log(
    log: str, versions: Mapping[str, str], roots: Mapping[str, frozenset[str]]
) -> tuple[dict[str, tuple[str, ...]] | None, frozenset[str] | None]:
    """The graph of the resolved ``versions`` from uv's debug lines, and every package
    name the resolver took up (so whose index page it may have read).

    Both are None where the log cannot vouch for them. The graph: when uv tried more
    than one version of anything (lines from an abandoned branch would be mixed in),
    when it resolved more than once (an sdist's build requirements get a resolver of
    their own, whose lines mix in too), or when the lines leave a package unreachable
    from the intent files. The names: when uv's summary line of what it tried is
    missing (a uv that words its log otherwise), so that no result is trusted on an
    account lockgen cannot read.
    """
    from packaging.version import InvalidVersion, Version

    log = "\n" + log
    summaries = _TRIED.findall(log)
    if not summaries:
        return None, None
    counts: dict[str, int] = {}
    for summary in summaries:
        for name, n in _COUNT.findall(summary):
            counts[canonical(name)] = counts.get(canonical(name), 0) + int(n)
    parents: dict[str, set[str]] = {name: set() for name in versions}
    direct = {canonical(m["dep"]) for m in _DIRECT.finditer(log)}  # without those whose marker is false
    read = set(counts) | direct
    chosen: dict[str, Version | None] = {}
    for m in _EDGE.finditer(log):
        pkg, dep = canonical(m["pkg"]), canonical(m["dep"])
        read.add(dep)
        if pkg not in versions or dep not in versions or dep == pkg:
            continue
        if m["ver"] == versions[pkg] or not versions[pkg]:  # a local project: one tree, one version
            same = True
        else:  # another spelling of the same version ("1.0" for "1.0.0"), or an abandoned one
            if pkg not in chosen:
                try:
                    chosen[pkg] = Version(versions[pkg])
                except InvalidVersion:
                    chosen[pkg] = None
            try:
                same = chosen[pkg] == Version(m["ver"])
            except InvalidVersion:
                same = False
        if same:
            parents[dep].add(pkg)
    for source, names in roots.items():
        for name in names & parents.keys() & (direct or names):
            parents[name].add(source)
    graph = {name: tuple(sorted(ps)) for name, ps in parents.items()}
    single = len(summaries) == 1 and all(n == 1 for n in counts.values())
    complete = single and versions.keys() <= read and graphs.reachable(graph) == versions.keys()
    return (graph if complete else None), frozenset(read | versions.keys())

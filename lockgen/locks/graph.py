"""Who pulled a package in: the dependency graph of a lock, and chains through it.

lockgen records each lock's graph in the lock itself (PEP 751
``packages.dependencies`` and ``[tool.lockgen.roots]``), from uv's ``# via``
annotations of the same resolution; reading it needs no uv and no network.
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from lockgen import uv
from lockgen.exceptions import CommandError
from lockgen.locks import pylock as lockfile
from lockgen.project.config import Config, Variant

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|@)")
PINS = "lockgen-pins.txt"
EMIT = ("--emit-index-url", "--emit-find-links")  # a requirements file pip can install alone

Graph = Mapping[str, tuple[str, ...]]  # package → what requires it (packages or intent files)


def parse(requirements: str) -> dict[str, tuple[str, ...]]:
    """``{package: parents}`` from uv's requirements output (split annotations)."""
    graph: dict[str, list[str]] = {}
    current: str | None = None
    in_via = False
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m:
            current, in_via = canonicalize_name(m["name"]), False
            graph.setdefault(current, [])
            continue
        text = line.strip()
        if current is None or not text.startswith("#"):
            continue
        body = text.lstrip("#").strip()
        if body == "via":
            in_via = True
            continue
        parent = body[4:] if body.startswith("via ") else body if in_via else ""
        if parent and not parent.startswith("-c "):  # a constraint limits, it pulls nothing in
            graph[current].append(_parent(parent))
    return {k: tuple(v) for k, v in graph.items()}


def pins(requirements: str) -> dict[str, str]:
    """``{package: version}`` of the ``name==version`` lines of a requirements file."""
    out: dict[str, str] = {}
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m and m[3] == "==":
            out[canonicalize_name(m["name"])] = line[m.end() :].split()[0].rstrip("\\").strip()
    return out


def pin_lines(versions: Mapping[str, str]) -> str:
    """``name==version`` lines, the inverse of :func:`pins`."""
    return "".join(f"{n}=={v}\n" for n, v in sorted(versions.items()) if v)


def _parent(text: str) -> str:
    text = text.strip()
    if text.startswith("-r "):
        return text[3:].strip()
    return canonicalize_name(text)


def chains(graph: Graph, package: str, *, limit: int = 3) -> list[list[str]]:
    """Shortest chains from ``package`` up to an intent file, shortest first."""
    start = canonicalize_name(package)
    found: list[list[str]] = []
    queue: deque[list[str]] = deque([[start]])
    while queue and len(found) < limit:
        path = queue.popleft()
        for parent in graph.get(path[-1], ()):
            if parent in path:
                continue
            if parent not in graph:  # an intent file: the chain is complete
                found.append([*path, parent])
            else:
                queue.append([*path, parent])
    return found


def format_chain(chain: Iterable[str]) -> str:
    return " <- ".join(chain)


def requirements(config: Config, variant: Variant, versions: Mapping[str, str], folder: Path, *, offline: bool) -> str:
    """uv's requirements output for exactly these versions: hashes and ``# via``."""
    constraints = folder / PINS
    constraints.write_text(pin_lines(versions), encoding="utf-8")
    out = folder / "requirements.txt"
    args = uv.compile_args(
        variant, output=out, fmt="requirements.txt", offline=offline, extra_constraints=[constraints]
    )
    uv.run([*args, *EMIT], cwd=config.root)
    return tidy(out.read_text(encoding="utf-8"))


def tidy(text: str) -> str:
    """Drop the ``-c lockgen-pins.txt`` annotations (the pins are the lock, not a
    reason) and write a single remaining reason on one line: ``# via tool``."""
    lines = [line for line in text.splitlines() if not re.fullmatch(rf"\s*#\s+(via )?-c \S*{PINS}", line)]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "# via":
            entries = []
            while i + 1 < len(lines) and re.match(r"\s*#\s{3}\S", lines[i + 1]):
                entries.append(lines[i + 1].strip().lstrip("#").strip())
                i += 1
            indent = line[: len(line) - len(line.lstrip())]
            if len(entries) == 1:
                out.append(f"{indent}# via {entries[0]}")
            elif entries:
                out += [line, *(f"{indent}#   {e}" for e in entries)]
        else:
            out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def of(
    config: Config, variant: Variant, lock_graph: Graph | None, versions: Mapping[str, str], *, offline: bool
) -> Graph:
    """A lock's graph: from the lock when it has one, else asked of uv (empty if uv cannot)."""
    if lock_graph is not None:
        return lock_graph
    try:
        with tempfile.TemporaryDirectory(prefix="lockgen-graph-") as tmp:
            return parse(requirements(config, variant, versions, Path(tmp), offline=offline))
    except CommandError:
        return {}


def explain(graph: Graph, names: Iterable[str]) -> list[str]:
    """For each name, ``name <- parent <- inputs/x.in`` (the bare name if the graph cannot tell)."""
    out = []
    for name in sorted(names):
        found = chains(graph, name, limit=1)
        out.append(format_chain(found[0]) if found else name)
    return out


def forbidden(config: Config, variant: Variant, lock: lockfile.Lock, *, offline: bool) -> list[str]:
    """The chain to each ``forbid`` name the lock holds; empty when it holds none."""
    hits = config.forbid & lock.versions.keys()
    if not hits:
        return []
    return explain(of(config, variant, lock.graph, lock.versions, offline=offline), hits)


def why(config: Config, variants: list[Variant], package: str) -> tuple[list[str], bool]:
    """``lockgen why``: per variant, the package's version and the chains to it;
    and whether any lock holds it."""
    name = canonicalize_name(package)
    lines, found = [], False
    for variant in variants:
        lock = lockfile.read(config.locks_dir / variant.lock_name)
        if lock is None or name not in lock.versions:
            lines.append(f"{variant.name}: {'no lock' if lock is None else 'not in this lock'}")
            continue
        found = True
        lines.append(f"{variant.name}: {name} {lock.versions[name]}")
        deps = of(config, variant, lock.graph, lock.versions, offline=True)
        for chain in chains(deps, name, limit=10) or [[name, "(unknown: the lock has no graph)"]]:
            lines.append(f"  {format_chain(chain)}")
    return lines, found

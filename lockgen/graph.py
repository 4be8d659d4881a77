"""Who pulled a package in: uv's ``# via`` annotations as a graph, and chains through it."""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from . import uv
from .config import Config, Variant
from .exceptions import CommandError

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|@)")

Graph = Mapping[str, tuple[str, ...]]  # package → what requires it (packages or input files)


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
    out = {}
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m and m[3] == "==":
            out[canonicalize_name(m["name"])] = line[m.end() :].split()[0].rstrip("\\").strip()
    return out


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


def resolve(config: Config, variant: Variant, pins: Mapping[str, str], *, offline: bool) -> Graph:
    """The dependency graph of a lock: uv re-resolves it, pinned, as requirements."""
    with tempfile.TemporaryDirectory(prefix="lockgen-graph-") as tmp:
        constraints = Path(tmp) / "pins.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items()) if v), encoding="utf-8")
        out = Path(tmp) / "requirements.txt"
        args = uv.compile_args(variant, output=out, fmt="requirements.txt", offline=offline, extra_constraints=[constraints])
        uv.run(args, cwd=config.root)
        return parse(out.read_text(encoding="utf-8"))


def explain(config: Config, variant: Variant, pins: Mapping[str, str], names: Iterable[str], *, offline: bool) -> list[str]:
    """For each name, ``name <- parent <- inputs/x.in`` (or the bare name if uv cannot tell)."""
    try:
        graph = resolve(config, variant, pins, offline=offline)
    except CommandError:
        graph = {}
    out = []
    for name in sorted(names):
        found = chains(graph, name, limit=1)
        out.append(format_chain(found[0]) if found else name)
    return out

"""Who pulled a package in: the dependency graph of a lock, and chains through it.

lockgen records each lock's graph in the lock itself (PEP 751
``packages.dependencies`` and ``[tool.lockgen.roots]``); everything here is pure:
reading that graph needs no uv and no network.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from heapq import heappop, heappush

from lockgen.names import canonical

Graph = Mapping[str, tuple[str, ...]]  # package → what requires it (packages or intent files)

_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|@)")
# From a newline, searched for in "\n" + text: faster than "^" (see uvlog._EDGE).
# A match leaves the newline after it, which may start the next table.
_PACKAGE = re.compile(r'\n\[\[packages\]\]\nname = "(?P<name>[^"]+)"(?=\n)(?:\nversion = "(?P<version>[^"]*)"(?=\n))?')


def versions_of(pylock: str) -> dict[str, str]:
    """``{canonical name: version}`` of a lock as uv or lockgen writes it, without a
    TOML parse (a package without a version maps to "")."""
    return {canonical(m["name"]): m["version"] or "" for m in _PACKAGE.finditer("\n" + pylock)}


def parse(requirements: str, name_of: Callable[[str], str | None] = lambda _: None) -> dict[str, tuple[str, ...]]:
    """``{package: parents}`` from uv's requirements output (split annotations).

    uv writes a local project required by its path as that path alone (``./libs/x``,
    ``-e ./libs/x``); ``name_of`` names it from that path as written. A requirement
    it cannot name is left out, and so are its annotations: never given to the
    package written above it."""
    graph: dict[str, list[str]] = {}
    current: str | None = None
    in_via = False
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m:
            current, in_via = canonical(m["name"]), False
            graph.setdefault(current, [])
            continue
        if _unnamed(line):
            current, in_via = name_of(_location(line)), False
            if current is not None:
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
    return {k: tuple(sorted(set(v))) for k, v in graph.items()}


def pins(requirements: str) -> tuple[dict[str, str | None], int]:
    """The requirements of a requirements file: ``{package: version}`` (None for
    ``name @ url``, which states none), and how many are local paths without a name."""
    out: dict[str, str | None] = {}
    unnamed = 0
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m:
            version = (line[m.end() :].split() or [""])[0].rstrip("\\").strip()  # "a==" edited by hand: ""
            out[canonical(m["name"])] = version if m[3] == "==" else None
        elif _unnamed(line):
            unnamed += 1
    return out, unnamed


def hashes(requirements: str) -> dict[str, set[str]]:
    """``{package: its sha256 hashes}`` from a requirements file's ``--hash`` options, a
    wheel or sdist written by path alone (one a local project's ``[tool.uv.sources]``
    names, as uv writes it: ``../vendor/vend-1.0-py3-none-any.whl``) by its file's name."""
    out: dict[str, set[str]] = {}
    current = None
    for line in requirements.splitlines():
        m = _PIN.match(line)
        named = archive_name(_location(line)) if not m and _unnamed(line) else None
        if m or named:
            current = out.setdefault(canonical(m["name"]) if m else named or "", set())
        elif not line.startswith((" ", "\t")):
            current = None
        if current is not None:
            current.update(_HASH.findall(line))
    return out


def markers(requirements: str) -> dict[str, str]:
    """``{package: its marker}`` of a requirements file's pins that carry one
    (``oldpy==1.0 ; python_full_version < '3.11.5' \\``)."""
    out = {}
    for line in requirements.splitlines():
        m = _PIN.match(line)
        if m and " ; " in line:
            out[canonical(m["name"])] = line.split(" ; ", 1)[1].removesuffix("\\").strip()
    return out


def with_markers(requirements: str, found: Mapping[str, str]) -> str:
    """The requirements file with each pin of a package in ``found`` carrying its marker,
    as the pylock's entry does: uv writes a marker the variant's python may not settle
    (``python_full_version < '3.11.5'`` in a lock for 3.11) into a pylock, and none into
    the requirements form, so ``pip install -r`` installed what the pylock leaves out."""
    if not found:
        return requirements
    out = []
    for line in requirements.splitlines(keepends=True):
        m = _PIN.match(line)
        marker = found.get(canonical(m["name"])) if m else None
        if marker and " ; " not in line:
            body, end = line.rstrip("\r\n"), line[len(line.rstrip("\r\n")) :]
            head, slash, _ = body.rpartition(" \\") if body.endswith(" \\") else (body, "", "")
            line = f"{head} ; {marker}{slash}{end}"
        out.append(line)
    return "".join(out)


def unmarked(requirements: str, found: Mapping[str, str]) -> list[str]:
    """The packages pinned in a requirements file whose marker is not the one in
    ``found`` (the pylock's): such an export installs other packages than its pylock."""
    pinned, _ = pins(requirements)
    have = markers(requirements)
    return sorted(n for n in pinned if have.get(n) != found.get(n))


def pin_lines(versions: Mapping[str, str]) -> str:
    """``name==version`` lines, the inverse of :func:`pins`."""
    return "".join(f"{n}=={v}\n" for n, v in sorted(versions.items()) if v)


def _unnamed(line: str) -> bool:
    """A requirement written without a name (a local path: ``./x``, ``-e ./x``), not a
    pin, an annotation or an option such as ``--index-url``."""
    if not line or line[0].isspace() or line.startswith("#") or _PIN.match(line):
        return False
    return not line.startswith("-") or line.startswith(("-e ", "--editable"))


_SDISTS = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar.zst")


def archive_name(path: str) -> str | None:
    """The project a wheel's or sdist's file name names (``vend-1.0-py3-none-any.whl`` →
    ``vend``); None for any other path (a project's folder)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].split("#", 1)[0]
    if name.endswith(".whl"):
        return canonical(name.split("-", 1)[0])
    for suffix in _SDISTS:
        if name.endswith(suffix) and "-" in name:
            return canonical(name[: -len(suffix)].rsplit("-", 1)[0])
    return None


def _location(line: str) -> str:
    """The path of a requirement line written without a name: ``-e ./x ; marker`` → ``./x``."""
    text = line.rstrip("\\ ").split(" ;")[0].strip()
    for flag in ("-e ", "--editable ", "--editable="):
        if text.startswith(flag):
            return text[len(flag) :].strip()
    return text


def _parent(text: str) -> str:
    text = text.strip()
    if text.startswith("-r "):
        return text[3:].strip()
    return canonical(text)


def tidy(text: str, *, pins: str) -> str:
    """Drop the ``-c <pins>`` annotations (the pins are the lock, not a reason) and
    write a single remaining reason on one line: ``# via tool``."""
    lines = [line for line in text.splitlines() if not re.fullmatch(rf"\s*#\s+(via )?-c \S*{re.escape(pins)}", line)]
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


# How many partial chains a search may take up before it settles for what it found: far
# more than any real lock's graph asks; a graph built to defeat the search stops here.
_STEPS = 100_000


def chains(graph: Graph, package: str, *, limit: int = 3) -> list[list[str]]:
    """The ``limit`` shortest chains from ``package`` up to an intent file, shortest
    first (among chains of one length, those through names earlier in the alphabet).

    A lock's graph can hold exponentially many chains (a lattice of layers, each
    package needing both of the next layer's, has 2^depth), so they are not listed and
    then cut: a best-first search takes up the partial chain whose shortest completion
    is shortest, and of those the first by name, which leads it straight to each next
    chain in turn (a chain's own extensions come after it, and before any later name)."""
    start = canonical(package)
    left = _to_intent_files(graph)
    if start not in left:
        return []
    found: list[list[str]] = []
    # (the length of its shortest completion, the chain so far)
    heap: list[tuple[int, tuple[str, ...]]] = [(2 + left[start], (start,))]
    steps = 0
    while heap and len(found) < limit and steps < _STEPS:
        _, path = heappop(heap)
        steps += 1
        if path[-1] not in graph:  # an intent file: the chain is complete
            found.append(list(path))
            continue
        for parent in graph[path[-1]]:
            if parent in path:
                continue
            if parent not in graph:
                heappush(heap, (len(path) + 1, (*path, parent)))
            elif parent in left:
                heappush(heap, (len(path) + 2 + left[parent], (*path, parent)))
    return found


def count_chains(graph: Graph, package: str) -> tuple[int, bool]:
    """How many chains lead from ``package`` up to an intent file; and whether that is
    exact. It is wherever no cycle is reachable from ``package`` (counted, not listed:
    a count may have many digits); past a cycle, chains are counted one by one, as far
    as a bounded walk goes."""
    start = canonical(package)
    if start not in graph:
        return 0, True
    counts: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[tuple[str, int]] = [(start, 0)]
    on_stack.add(start)
    while stack:  # depth first, without recursion: a chain may be thousands deep
        node, i = stack[-1]
        parents = graph[node]
        if i < len(parents):
            stack[-1] = (node, i + 1)
            parent = parents[i]
            if parent in on_stack:
                return _walk_count(graph, start)
            if parent in graph and parent not in counts:
                stack.append((parent, 0))
                on_stack.add(parent)
            continue
        stack.pop()
        on_stack.discard(node)
        counts[node] = sum(counts[p] if p in graph else 1 for p in parents)
    return counts[start], True


def _walk_count(graph: Graph, start: str) -> tuple[int, bool]:
    """Chains from ``start`` counted by walking every simple path, up to ``_STEPS`` steps."""
    total = steps = 0
    path = [start]
    on_path = {start}
    stack: list[Iterator[str]] = [iter(graph[start])]
    while stack:
        steps += 1
        if steps > _STEPS:
            return total, False
        parent = next(stack[-1], None)
        if parent is None:
            stack.pop()
            on_path.discard(path.pop())
        elif parent not in graph:
            total += 1
        elif parent not in on_path:
            path.append(parent)
            on_path.add(parent)
            stack.append(iter(graph[parent]))
    return total, True


def _to_intent_files(graph: Graph) -> dict[str, int]:
    """``{package: the fewest packages after it on a chain to an intent file}`` (repeats
    allowed: a lower bound for a chain that may not repeat), for every package with one."""
    children: dict[str, list[str]] = {}
    for name, parents in graph.items():
        for parent in parents:
            children.setdefault(parent, []).append(name)
    left = {name: 0 for name, parents in graph.items() if any(p not in graph for p in parents)}
    queue = deque(left)
    while queue:
        node = queue.popleft()
        for child in children.get(node, ()):
            if child not in left:
                left[child] = left[node] + 1
                queue.append(child)
    return left


def format_chain(chain: Iterable[str]) -> str:
    return " <- ".join(chain)


def explain(graph: Graph, names: Iterable[str], versions: Mapping[str, str] | None = None) -> list[str]:
    """For each name, ``name version <- parent version <- inputs/x.in`` (the bare name
    if the graph cannot tell)."""
    out = []
    for name in sorted(names):
        found = chains(graph, name, limit=1)
        chain = found[0] if found else [name]
        if versions:
            chain = [f"{n} {versions[n]}" if versions.get(n) else n for n in chain]
        out.append(format_chain(chain))
    return out


def reachable(graph: Graph) -> set[str]:
    """The packages reachable from the intent files through ``graph``."""
    children: dict[str, list[str]] = {}
    for name, parents in graph.items():
        for p in parents:
            children.setdefault(p, []).append(name)
    queue = deque(p for p in children if p not in graph)  # intent files
    seen: set[str] = set()
    while queue:
        for child in children.get(queue.popleft(), ()):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen


def only_needed_by(graph: Graph, names: Iterable[str]) -> set[str]:
    """``names`` and the packages reachable from the intent files only through them."""
    removed = set(names)
    pruned = {n: tuple(p for p in ps if p not in removed) for n, ps in graph.items() if n not in removed}
    still = reachable(pruned)
    return {n for n in graph if n not in still}

"""The rules every lock is held to, new or committed: pure functions of the
configuration, the intent files and the lock.

* :func:`judge` — what the lock *contains*: no forbidden package, a CUDA runtime
  its accelerator can run (a CUDA major newer than the label is an error, a newer
  minor a warning, a CPU variant needs none), the base environment untouched, and
  nothing installed from a local path outside the repository.
* :func:`integrity` — whether the lock is *what lockgen wrote* for this variant:
  its label matches the configuration and its file name, it records what it
  needs truthfully, and every package is reachable from the intent files through
  its dependency graph (a package added by hand is not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockgen.locks import graph as graphs
from lockgen.locks import pylock, runtime, writer
from lockgen.project import bases
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs
from lockgen.project.places import outside_repository

if TYPE_CHECKING:
    from lockgen.compile.resolver import Resolution

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What that index holds CPU builds of (its /whl/cpu page); nothing else has one there.
_ON_CPU_INDEX = frozenset({"torch", "torchvision", "torchaudio", "torchtext", "torchdata", "torchrec", "fbgemm-gpu"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the project's rules say of a lock: errors fail it, warnings are shown."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def meta(
    variant: Variant,
    digest: str,
    resolution: Resolution,
    base: bases.Base | None = None,
    archive_digest: str | None = None,
) -> dict[str, object]:
    """The ``[tool.lockgen]`` table of a new lock (``roots`` and the version are added on rendering)."""
    acc = variant.accelerator
    out: dict[str, object] = {
        "variant": variant.name,
        "python": variant.python,
        "platform": variant.platform.uv,
        "accelerator": acc.name,
    }
    if acc.cuda is not None:
        out["cuda"] = str(acc.cuda)
    out["gpu-archs"] = list(acc.gpu_archs)
    needs = runtime.infer(resolution.versions).cuda
    if needs is not None:
        out["cuda-runtime"] = str(needs)
    if base is not None:
        out["base"] = base.rel
        out["base-packages"] = provided(base, resolution.versions)
    out["input-digest"] = digest
    if archive_digest is not None:
        out["archive-digest"] = archive_digest
    return out


def provided(base: bases.Base, versions: Mapping[str, str]) -> list[str]:
    """The lock's packages the base environment already has, at the lock's version."""
    return sorted(n for n, v in versions.items() if base.pins.get(n) == v)


def judge(config: Config, variant: Variant, lock: pylock.Lock) -> Verdict:
    errors: list[str] = []
    warnings: list[str] = []
    graph = lock.graph or {}
    hits = config.forbid & lock.versions.keys()
    if hits:
        errors.append("forbidden: " + "; ".join(graphs.explain(graph, hits)))
    if variant.base is not None:
        base = bases.read(config.root, variant.base)
        moved = sorted(n for n, v in lock.versions.items() if n in base.pins and base.pins[n] != v)
        if moved:
            errors.append(
                "changes packages the base environment provides: "
                + ", ".join(f"{n} {base.pins[n]} -> {lock.versions[n]}" for n in moved)
            )
        unread = sorted(base.unpinned & lock.versions.keys())
        if unread:
            errors.append(
                f"needs {', '.join(unread)}, which {base.rel} names by a URL with no version lockgen can read: "
                f"write the version the image has (name==VERSION) in its place"
            )
    places = pylock.outside(lock, config.boundary)
    if places:
        errors.append(f"installs from {', '.join(places)}, {outside_repository(config.boundary)}")
    needs = runtime.infer(lock.versions)
    declared = variant.accelerator.cuda
    if declared is None and needs.any:
        errors.append(_cpu_with_cuda(lock, needs))
    if declared is not None and (cpu_only := _cpu_builds(lock, needs)):
        shown = ", ".join(f"{n} {lock.versions[n]}" for n in cpu_only)
        nothing = "nothing in the lock needs CUDA" if needs.cuda is None else "its CUDA packages aside"
        warnings.append(
            f"declares cuda = {str(declared)!r}, but {shown} here {'is a CPU build' if len(cpu_only) == 1 else 'are CPU builds'} "
            f"({nothing}; for {variant.platform.uv}), and a GPU machine that selects this lock would compute on its CPU. "
            "Take the GPU builds from this accelerator's index, or leave this platform out of the accelerator"
        )
    if declared is not None and (found := needs.cuda) is not None:
        if found.major > declared.major:
            errors.append(_newer_major(lock, needs, found, str(declared)))
        elif found.major == declared.major and found.minor > declared.minor:
            warnings.append(
                f"needs CUDA {found}, newer than its cuda = {str(declared)!r}: it runs on a CUDA {declared} driver "
                "through CUDA's minor-version compatibility (PTX and APIs newer than the driver are unavailable); "
                f'declare cuda = "{found}" to require a driver that supports it'
            )
    return Verdict(tuple(errors), tuple(warnings))


def _cpu_builds(lock: pylock.Lock, needs: runtime.Needs) -> list[str]:
    """The lock's torch and jaxlib that are CPU builds: torch whose version is no CUDA
    build (``+cu128``) and which requires no CUDA package (PyPI's Linux x86_64 torch
    requires ``nvidia-*``; its aarch64, macOS and Windows torch, and ``+cpu``, none);
    jaxlib whose version is no CUDA build (``+cuda12.cudnn89``) with no ``jax-cuda*``
    plugin beside it."""
    cuda = {e.package for e in needs.evidence}
    out = []
    if "torch" in lock.versions and "torch" not in cuda and not cuda & set(lock.dependencies.get("torch", ())):
        out.append("torch")
    if "jaxlib" in lock.versions and "jaxlib" not in cuda and not any(n.startswith("jax-cuda") for n in lock.versions):
        out.append("jaxlib")
    return out


def _chains(lock: pylock.Lock, names: list[str], limit: int = 3) -> str:
    shown = graphs.explain(lock.graph or {}, names[:limit], lock.versions)
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return "; ".join(shown) + more


def _order(evidence: list[runtime.Evidence]) -> list[str]:
    """Package names, the runtime itself first."""
    ranked = sorted(evidence, key=lambda e: (not e.runtime, e.package))
    return [e.package for e in ranked]


def _newer_major(lock: pylock.Lock, needs: runtime.Needs, found: runtime.Cuda, declared: str) -> str:
    culprits = [e for e in needs.evidence if e.needs is not None and e.needs.major == found.major]
    names = _order(culprits)
    top = _top_requirer(lock, names)
    pin = f"pin {top} to a build for CUDA {declared.split('.')[0]}" if top else "pin what pulls them"
    return (
        f"needs CUDA {found}, a newer major than its cuda = {declared!r}: {_chains(lock, names)}. "
        f"A CUDA {declared.split('.')[0]} driver cannot run these: {pin} (or take it from this accelerator's index), "
        f'or declare cuda = "{found}"'
    )


def _cpu_with_cuda(lock: pylock.Lock, needs: runtime.Needs) -> str:
    names = _order(list(needs.evidence))
    heavy = graphs.only_needed_by(lock.graph or {}, names) | set(names)
    size = _size(lock, heavy)
    top = _top_requirer(lock, names)
    torch = _on_cpu_index(lock, names)
    if torch:  # torch itself, or through what needs it (transformers, lightning)
        which = f"take {torch} from a CPU index (extra-index-urls = [{CPU_INDEX!r}]) or constrain it to a CPU build"
    elif top in names or (not top and _required(lock, names)):  # the intent files name a CUDA package itself
        asked = top or _required(lock, names)
        which = f"take {asked} out of this CPU variant's intent files (it is a CUDA package; a GPU accelerator's own input file is its place)"
    elif top:  # jax[cuda12], say: no CPU index has it, the extra is what asks for CUDA
        which = f"require {top} without the extra that asks for CUDA (jax[cuda12], say), or constrain it to a CPU build"
    else:
        which = "use a CPU index, or constrain what pulls them to a CPU build"
    return (
        f"a CPU variant, but the lock pulls {len(names)} CUDA package{'s' if len(names) != 1 else ''} "
        f"({_human(size)}): {_chains(lock, names)}. To keep them out, {which}"
    )


def _on_cpu_index(lock: pylock.Lock, names: list[str]) -> str | None:
    """The package of PyTorch's CPU index (torch, most often) through which ``names`` come
    in: among everything that requires them, however indirectly."""
    graph = lock.graph or {}
    seen: set[str] = set(names)  # torch itself may be the evidence (a build that bundles CUDA)
    todo = list(names)
    while todo:
        for parent in graph.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    found = sorted(seen & _ON_CPU_INDEX, key=lambda n: (n != "torch", n))
    return found[0] if found else None


def _required(lock: pylock.Lock, names: list[str]) -> str | None:
    """The first of ``names`` an intent file asks for itself."""
    roots = _recorded_roots(lock)
    asked = {n for required in roots.values() for n in required}
    return next((n for n in names if n in asked), None)


def _top_requirer(lock: pylock.Lock, names: list[str]) -> str | None:
    """The package an intent file asks for that pulls ``names`` in (torch, most often)."""
    for name in names:
        found = graphs.chains(lock.graph or {}, name, limit=1)
        if found and len(found[0]) >= 3:
            return found[0][-2]
    return None


def _size(lock: pylock.Lock, names: set[str]) -> int:
    """Bytes to download for these packages: the largest artifact of each."""
    sizes: dict[str, int] = {}
    for a in lock.artifacts():
        if a.package in names and a.size:
            sizes[a.package] = max(sizes.get(a.package, 0), a.size)
    return sum(sizes.values())


def _human(size: int) -> str:
    if size >= 10**9:
        return f"{size / 10**9:.1f} GB"
    if size >= 10**6:
        return f"{size / 10**6:.0f} MB"
    return f"{size / 10**3:.0f} kB"


# --- integrity --------------------------------------------------------------------


def integrity(
    variant: Variant,
    lock: pylock.Lock,
    inputs: Inputs,
    *,
    file_variant: str | None = None,
    stale: bool = False,
    own_roots: bool = False,
) -> list[str]:
    """How the lock differs from what lockgen writes for ``variant``; empty when it does not.

    A lock known to be ``stale`` (its inputs changed since) is held only to what
    cannot have changed since: its variant's name, its recorded runtime, and the
    graph from its own recorded roots. ``own_roots`` alone (``check``, which reports
    the staleness itself and still compares the label): the graph from its recorded
    roots, so that an intent removed since is no package "added by hand".
    """
    found: list[str] = []
    seal = writer.seal_problem(lock.text)
    if seal:
        found.append(seal)
    expected = _label(variant)
    m = lock.meta
    if file_variant is not None and m.get("variant") not in (None, file_variant):
        found.append(f"its [tool.lockgen] names variant {m.get('variant')!r}, its file name {file_variant!r}")
    for key, value in expected.items():
        if stale and key != "variant":
            continue
        if m.get(key) != value:
            found.append(f"{key} = {_show(m.get(key))} in the lock, {_show(value)} in the configuration")
    needs = runtime.infer(lock.versions).cuda
    recorded = m.get("cuda-runtime")
    if (str(needs) if needs else None) != recorded:
        found.append(f"cuda-runtime = {_show(recorded)} is recorded, but its packages need {needs or 'no CUDA'}")
    foreign = _foreign_wheels(variant, lock)
    if foreign:
        shown = some(foreign, 3)
        found.append(
            f"wheels for another python or platform than {variant.python} on {variant.platform.uv} "
            f"(from another lock?): {shown}"
        )
    missing = _missing(lock)
    if missing:
        shown = some([f"{n} (required by {', '.join(by)})" for n, by in missing], 5)
        found.append(f"requires packages the lock does not have (removed by hand?): {shown}")
    roots, complete = inputs.roots(variant) if not (stale or own_roots) else ({}, False)
    if complete:
        roots = _taken_up(roots, inputs.conditional(variant), lock)
    graph = _graph_with_roots(lock, roots if complete else _recorded_roots(lock))
    stray = sorted(lock.versions.keys() - graphs.reachable(graph))
    if stray:
        shown = some([f"{n} {lock.versions[n]}" for n in stray], 5)
        found.append(f"not required by the intent files through the lock's own graph (added by hand?): {shown}")
    return found


def _label(variant: Variant) -> dict[str, object]:
    acc = variant.accelerator
    return {
        "base": variant.base,
        "variant": variant.name,
        "python": variant.python,
        "platform": variant.platform.uv,
        "accelerator": acc.name,
        "cuda": str(acc.cuda) if acc.cuda is not None else None,
        "gpu-archs": list(acc.gpu_archs),
    }


def some(items: list[str], most: int) -> str:
    """The first ``most`` items, and ``…`` when there are more."""
    return ", ".join(items[:most]) + (" …" if len(items) > most else "")


def _show(value: object) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)


def _foreign_wheels(variant: Variant, lock: pylock.Lock) -> list[str]:
    """Packages whose wheels are all for another python or platform than the variant's.
    uv writes a package's wheels for the target only (none, and the sdist alone, when
    there is none): such a package was copied from another lock, or its wheels edited."""
    from lockgen.locks import tags

    wheels: dict[str, list[str]] = {}
    for a in lock.files:
        if a.kind == "wheel":
            wheels.setdefault(a.package, []).append(a.filename)
    return [
        f"{name} {lock.versions[name]} ({names[0]}{', …' if len(names) > 1 else ''})"
        for name, names in sorted(wheels.items())
        if not any(tags.fits(n, variant.python, variant.platform) for n in names)
    ]


def _taken_up(
    roots: Mapping[str, frozenset[str]], conditional: Mapping[str, frozenset[str]], lock: pylock.Lock
) -> dict[str, frozenset[str]]:
    """The intent files' roots for this lock: a name required only behind a marker is
    one where uv took it up, as the lock's own record says (lockgen evaluates no marker)."""
    taken = lock.roots
    return {
        rel: frozenset(n for n in names if n not in conditional.get(rel, ()) or n in taken.get(rel, ()))
        for rel, names in roots.items()
    }


def _missing(lock: pylock.Lock) -> list[tuple[str, list[str]]]:
    """Packages the lock's own graph requires (its ``dependencies``, its recorded
    roots) that it does not have. lockgen records edges between resolved packages
    only, so each is a package taken out of the lock."""
    requirers: dict[str, list[str]] = {}
    for package, deps in lock.dependencies.items():
        for child in deps:
            if child not in lock.versions:
                requirers.setdefault(child, []).append(package)
    for source, names in lock.roots.items():
        for name in names:
            if name not in lock.versions:
                requirers.setdefault(name, []).append(source)
    return sorted((name, sorted(by)) for name, by in requirers.items())


def _recorded_roots(lock: pylock.Lock) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in lock.roots.items()}


def _graph_with_roots(lock: pylock.Lock, roots: Mapping[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    """The lock's package-to-package edges, with the intent files' own requirements as roots."""
    edges: dict[str, list[str]] = {name: [] for name in lock.versions}
    for package, deps in lock.dependencies.items():
        for child in deps:
            if child in edges:
                edges[child].append(package)
    for source, names in roots.items():
        for name in names & edges.keys():
            edges[name].append(source)
    return {k: tuple(v) for k, v in edges.items()}

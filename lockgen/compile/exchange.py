"""One variant's exchange with the resolver: the request lockgen makes for it, and
the lock it renders from uv's answer. ``compile`` and ``check``'s re-resolutions both
go through here, so that they ask uv the same question and write the same lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lockgen.exceptions import InputError, LockgenError
from lockgen.locks import pylock, writer
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs
from lockgen.project.values import cutoff
from lockgen.redact import unexpanded, without_credentials

if TYPE_CHECKING:
    from lockgen.compile.resolver import Request, Resolution


def request_for(
    config: Config,
    variant: Variant,
    inputs: Inputs,
    *,
    preferences: str = "",
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
    extra_constraints: tuple[str, ...] = (),
) -> Request:
    """The resolver's request for one variant: its settings in uv's terms."""
    from lockgen.compile.resolver import Request

    roots, complete = inputs.roots(variant)
    pins = {}
    if variant.base:
        from lockgen.project import bases

        pins = bases.read(config.root, variant.base).pins
    index_url, extra_index_urls, find_links = config.urls(variant)
    return Request(
        name=variant.name,
        project=config.root,
        output_dir=config.locks_dir,
        inputs=variant.inputs,
        constraints=(*variant.constraints, *extra_constraints),
        pins=pins,
        sources=inputs.sources(variant),
        anchors=inputs.anchors(variant),
        python=variant.python,
        platform=variant.platform.uv,
        index_url=index_url,
        extra_index_urls=extra_index_urls,
        find_links=find_links,
        intent_indexes=inputs.indexes(variant),
        exclude_newer=variant.exclude_newer and cutoff(variant.exclude_newer),
        roots=roots,
        roots_complete=complete,
        preferences=preferences,
        upgrade=upgrade,
        upgrade_packages=upgrade_packages,
        requirements="requirements" in config.formats,
        prerelease=inputs.prerelease(variant),
    )


def preferences_for(
    config: Config, variant: Variant, olds: dict[str, pylock.Lock | None], former: pylock.Lock | None = None
) -> str:
    """uv's preferences for a variant: its own lock's pins (or, renamed, those of the
    lock it had under its ``former`` name), then its siblings'."""
    own = olds.get(variant.name) or former
    text, _ = pylock.preferences([*([own] if own else []), *_siblings(config, variant, olds)])
    return text


# How a variant with no lock of its own is told to be one renamed, strictest first: what
# its lock records it is built for, and the intent files it is resolved from ("roots");
# then without one of those; then as changed beside the rename (its GPU architectures,
# its CUDA) but resolved from the same files.
_RENAMED_BY = (
    (*pylock.BUILT_FOR, "roots"),
    pylock.BUILT_FOR,
    ("python", "platform", "cuda", "base", "roots"),
    ("python", "platform", "base", "roots"),
)


def formers(
    config: Config, variants: Sequence[Variant], olds: dict[str, pylock.Lock | None], inputs: Inputs
) -> dict[str, pylock.Lock]:
    """Those of ``variants`` with no lock of their own, each with the lock it had under another name
    (an accelerator renamed): a lock no configured variant owns whose record is the
    variant's, where no other such lock or lockless variant shares it (see
    ``_RENAMED_BY``). Its pins, not its siblings', are the variant's to keep. A
    preference only: what the inputs force still moves."""
    chosen = {v.name for v in variants if olds.get(v.name) is None}
    if not chosen:
        return {}
    lockless = {v.name: v for v in config.variants if olds.get(v.name) is None}  # all: each may share a record
    gone: dict[str, pylock.Lock] = {}
    for path in pylock.orphans(config.locks_dir, set(olds), ()):
        if path.name.startswith("pylock."):
            try:
                lock = pylock.read(path)
            except InputError:
                continue  # unreadable: no pins to keep
            if lock is not None:
                gone[path.name] = lock
    if not gone:
        return {}
    came = {name: {**v.settings(), "roots": _roots(inputs, v)} for name, v in lockless.items()}
    was = {name: {**lock.meta, "roots": sorted(f for f, n in lock.roots.items() if n)} for name, lock in gone.items()}
    out: dict[str, pylock.Lock] = {}
    for keys in _RENAMED_BY:
        for old, new in pylock.paired(was, came, keys).items():
            out[new] = gone[old]
            del was[old], came[new]
    return {name: lock for name, lock in out.items() if name in chosen}


def _roots(inputs: Inputs, variant: Variant) -> list[str] | None:
    """The variant's intent files that require something, as a lock records its roots (an
    empty one it leaves out); None for a variant not compiled now whose files are bad."""
    try:
        return sorted(f for f, names in inputs.roots(variant)[0].items() if names)
    except InputError:
        return None


def render(
    config: Config, variant: Variant, digest: str, resolution: Resolution, archive_digest: str | None = None
) -> pylock.Lock:
    """The lock lockgen writes for a resolution (InputError if uv wrote an invalid one)."""
    from lockgen.compile import rules

    path = pylock.lock_file(config.locks_dir, variant.name)
    base = None
    if variant.base:
        from lockgen.project import bases

        base = bases.read(config.root, variant.base)
    table = rules.meta(variant, digest, resolution, base, archive_digest)
    return pylock.parse(path, writer.render(without_credentials(resolution.pylock), table, resolution.graph))


def render_export(config: Config, variant: Variant, resolution: Resolution, lock: pylock.Lock) -> str | None:
    """The requirements export lockgen writes beside ``lock``, where it is configured:
    its pins carrying the lock's markers."""
    if resolution.requirements is None or "requirements" not in config.formats:
        return None
    from lockgen.locks import graph

    path = config.relative(pylock.requirements_file(config.locks_dir, variant.name))
    body = graph.with_markers(resolution.requirements, lock.markers)
    return writer.requirements_text(path, unexpanded(without_credentials(body)))


def _siblings(config: Config, variant: Variant, olds: dict[str, pylock.Lock | None]) -> list[pylock.Lock]:
    """Other variants' locks, closest first: same python, same platform, file order.
    For a package its own lock lacks, a variant prefers its closest sibling's version,
    so variants agree unless inputs force otherwise (and a new variant starts from
    its siblings' versions rather than the newest)."""
    ranked = sorted(
        (v for v in config.variants if v is not variant),
        key=lambda v: (v.python != variant.python, v.platform != variant.platform, v.accelerator.order),
    )
    return [lock for v in ranked if (lock := olds.get(v.name)) is not None]


def explain_base(request: Request, error: LockgenError, *, offline: bool) -> LockgenError:
    """A variant on a base failed: resolve it without the base, and name the base
    packages the inputs would change and what requires each change."""
    from dataclasses import replace

    from lockgen.compile.resolver import resolve

    try:
        free = resolve(replace(request, pins={}), offline=offline)
    except LockgenError:
        return error  # it fails without the base too: uv's own reason says why
    changed = sorted(n for n, v in request.pins.items() if n in free.versions and free.versions[n] != v)
    if not changed:
        return error
    from lockgen.locks import graph as graphs

    lines = []
    for name in changed:
        chain = graphs.explain(free.graph, [name], free.versions)[0]
        lines.append(f"{name} {request.pins[name]} (the base) would have to be {free.versions[name]}: {chain}")
    return LockgenError(
        "the base environment cannot stay as it is: "
        + "; ".join(lines)
        + ". Pin what requires it to a version that accepts the base's, or update the base file"
    )


__all__ = ["explain_base", "preferences_for", "render", "request_for"]

"""What only a resolver can tell ``check``, asked through the resolver seam.

* :func:`confirmer`: does a variant resolve with another version of a package
  (offline)? — so a version difference between variants is reported only when
  nothing forces it.
* :func:`resolve`: ``check --resolve``. Each variant is resolved again with its
  own lock as the preference, as ``uv lock --locked`` does, and the result must
  be the lock, byte for byte: a package, version, URL or hash edited by hand
  cannot pass. From uv's cache first; where that cannot answer (nothing cached,
  or a cached index page older than the lock), from the index.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgen import private
from lockgen.compile import exchange
from lockgen.compile.consistency import Confirm
from lockgen.compile.resolver import ResolveError, resolve
from lockgen.exceptions import InputError, LockgenError
from lockgen.locks import pylock as lockfile
from lockgen.locks import writer
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs
from lockgen.review import diff, diffview


def confirmer(config: Config) -> Confirm:
    """Would ``variant`` take ``version`` of ``package``? Only if uv resolves it that way
    and the project's rules pass the lock it would get (a torch built for a newer CUDA
    than the accelerator's resolves, and is forced out all the same)."""
    from lockgen.compile import rules

    inputs = Inputs.of(config)

    def confirm(variant: Variant, lock: lockfile.Lock, package: str, version: str) -> bool:
        with private.folder("pin") as tmp:
            pin = tmp / "pin.txt"
            pin.write_text(f"{package}=={version}\n", encoding="utf-8")
            request = exchange.request_for(
                config, variant, inputs, preferences=lock.text, extra_constraints=(str(pin),)
            )
            try:
                resolution = resolve(request, offline=True)
                new = exchange.render(
                    config, variant, inputs.digest(variant), resolution, inputs.archive_digest(variant)
                )
            except LockgenError:
                return False
            if resolution.uncached:  # the cache could not say: the version was not shown to be possible
                return False
        return not rules.judge(config, variant, new).errors

    return confirm


@dataclass(frozen=True, slots=True, kw_only=True)
class Rechecked:
    """What resolving every variant again, and comparing, found."""

    problems: list[str]
    verified: list[str]  # variants whose lock equals a fresh resolution
    unverified: list[str]  # variants no resolution could be had for, with why


def resolve_locks(config: Config, locks: dict[Variant, lockfile.Lock]) -> Rechecked:
    inputs = Inputs.of(config)
    problems: list[str] = []
    verified: list[str] = []
    unverified: list[str] = []
    for variant, lock in locks.items():
        # A lock current by lockgen 0.3's digest keeps it: only the resolution is compared.
        digest = lock.digest if lock.digest and inputs.current(variant, lock.digest) else inputs.digest(variant)
        request = exchange.request_for(config, variant, inputs, preferences=lock.text)
        fresh: lockfile.Lock | None = None
        export: str | None = None
        error = ""
        online = False
        for offline in (True, False):
            try:
                resolution = resolve(request, offline=offline)
                fresh = exchange.render(config, variant, digest, resolution, inputs.archive_digest(variant))
                export = exchange.render_export(config, variant, resolution, fresh)
                online = not offline
            except (ResolveError, InputError) as exc:
                error = str(exc).splitlines()[-1]
                continue
            if resolution.uncached:
                error = f"uv's cache lacks the metadata of {', '.join(resolution.uncached[:3])}"
            if _same(fresh.text, lock.text):
                break
        moved = inputs.changed(variant)
        if moved:  # a local project's file written while uv read it: the result may be from either text
            unverified.append(f"{variant.name}: {', '.join(moved)} changed while uv resolved (run check again)")
        elif fresh is None:
            unverified.append(f"{variant.name}: could not resolve ({error})")
        elif _same(fresh.text, lock.text):
            differs = _export_differs(config, variant, export)
            if differs:
                problems.append(differs)
            else:
                verified.append(variant.name)
        elif not online:  # only the cache answered, and it may be older than the lock
            unverified.append(
                f"{variant.name}: uv's cache gives another result and the index could not be asked ({error})"
            )
        else:
            problems.append(
                f"{variant.name}: the lock differs from a fresh resolution of its inputs: {_explain(fresh, lock)}"
            )
    return Rechecked(problems=problems, verified=verified, unverified=unverified)


def _export_differs(config: Config, variant: Variant, export: str | None) -> str | None:
    """Why the variant's requirements export is not the one a fresh resolution writes."""
    if export is None:
        return None
    path = lockfile.requirements_file(config.locks_dir, variant.name)
    try:
        text = lockfile.read_text(path)
    except InputError as exc:
        return f"{variant.name}: {exc}"
    if text is None or writer.unsealed_export(text) == writer.unsealed_export(export):
        return None  # a missing export is plain check's to report
    ours, theirs = (set(t.splitlines()) for t in (text, export))
    changed = sorted(line.strip() for line in ours - theirs if line.strip() and not line.startswith("#"))
    what = f": {', '.join(changed[:3])}" if changed else ""
    return f"{variant.name}: {config.relative(path)} differs from a fresh resolution's export{what}"


def _same(a: str, b: str) -> bool:
    """Byte for byte, but for which lockgen version wrote it (and so its seal)."""
    return a == b or writer.unversioned(a) == writer.unversioned(b)


def _explain(fresh: lockfile.Lock, lock: lockfile.Lock) -> str:
    d = diff.compare("resolved", {"v": fresh}, {"v": lock})
    parts = []
    for h in d.hash_changes:
        theirs, ours = diffview.shortened(h.old, h.new)
        parts.append(f"{h.package} {h.version}: {h.artifact} has sha256 {ours} in the lock, {theirs} resolved")
    parts += [f"{c.package} {c.new} in the lock, {c.old} resolved" for c in d.changed]
    parts += [f"{c.package} {c.new} is in the lock but not in the resolution" for c in d.added]
    parts += [f"{c.package} {c.old} is missing from the lock" for c in d.removed]
    for f in d.file_changes:
        if f.old is None:
            parts.append(f"{f.package}: {f.artifact} is in the lock but not in the resolution")
        elif f.new is None:
            parts.append(f"{f.package}: {f.artifact} is missing from the lock")
        else:
            parts.append(f"{f.package}: {f.artifact} is at {f.new} in the lock, {f.old} resolved")
    parts += [f"its {c.key} is {c.new!r} in the lock, {c.old!r} resolved" for c in d.labels]
    parts += [f"its {', '.join(what)} differ from the resolution's" for _, what in d.otherwise]
    return "; ".join(parts) or "its text differs (not its packages or hashes)"

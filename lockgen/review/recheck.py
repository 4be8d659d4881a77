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

import tempfile
from dataclasses import dataclass
from pathlib import Path

from lockgen.compile import compiler
from lockgen.compile.consistency import Confirm
from lockgen.compile.resolver import ResolveError, resolve
from lockgen.exceptions import InputError, LockgenError
from lockgen.locks import pylock as lockfile
from lockgen.project.config import Config, Variant
from lockgen.project.intents import Inputs
from lockgen.review import diff


def confirmer(config: Config) -> Confirm:
    inputs = Inputs.of(config)

    def confirm(variant: Variant, lock: lockfile.Lock, package: str, version: str) -> bool:
        with tempfile.TemporaryDirectory(prefix="lockgen-pin-") as tmp:
            pin = Path(tmp) / "pin.txt"
            pin.write_text(f"{package}=={version}\n", encoding="utf-8")
            request = compiler.request_for(
                config, variant, inputs, preferences=lock.text, extra_constraints=(str(pin),)
            )
            try:
                resolve(request, offline=True)
            except LockgenError:
                return False
        return True

    return confirm


@dataclass(frozen=True, slots=True, kw_only=True)
class Rechecked:
    problems: list[str]
    verified: list[str]  # variants whose lock equals a fresh resolution
    unverified: list[str]  # variants no resolution could be had for, with why


def resolve_locks(config: Config, locks: dict[Variant, lockfile.Lock]) -> Rechecked:
    inputs = Inputs.of(config)
    problems: list[str] = []
    verified: list[str] = []
    unverified: list[str] = []
    for variant, lock in locks.items():
        digest = inputs.digest(variant)
        request = compiler.request_for(config, variant, inputs, preferences=lock.text)
        fresh: lockfile.Lock | None = None
        error = ""
        for offline in (True, False):
            try:
                fresh = compiler.render(config, variant, digest, resolve(request, offline=offline))
            except (ResolveError, InputError) as exc:
                error = str(exc).splitlines()[-1]
                continue
            if fresh.text == lock.text:
                break
        if fresh is None:
            unverified.append(f"{variant.name}: could not resolve ({error})")
        elif fresh.text == lock.text:
            verified.append(variant.name)
        else:
            problems.append(
                f"{variant.name}: the lock differs from a fresh resolution of its inputs: {_explain(fresh, lock)}"
            )
    return Rechecked(problems=problems, verified=verified, unverified=unverified)


def _explain(fresh: lockfile.Lock, lock: lockfile.Lock) -> str:
    d = diff.compare("resolved", {"v": fresh}, {"v": lock})
    parts = [
        f"{h.package} {h.version}: {h.artifact} has sha256 {h.new[:12]}… in the lock, {h.old[:12]}… resolved"
        for h in d.hash_changes
    ]
    parts += [f"{c.package} {c.new} in the lock, {c.old} resolved" for c in d.changed]
    parts += [f"{c.package} {c.new} is in the lock but not in the resolution" for c in d.added]
    parts += [f"{c.package} {c.old} is missing from the lock" for c in d.removed]
    parts += _artifact_changes(fresh, lock) if not parts else []
    return "; ".join(parts) or "its text differs (not its packages or hashes)"


def _artifact_changes(fresh: lockfile.Lock, lock: lockfile.Lock) -> list[str]:
    a = {(x.package, x.filename): x for x in fresh.artifacts()}
    b = {(x.package, x.filename): x for x in lock.artifacts()}
    out = [f"{k[0]}: {k[1]} is in the lock but not in the resolution" for k in sorted(b.keys() - a.keys())]
    out += [f"{k[0]}: {k[1]} is missing from the lock" for k in sorted(a.keys() - b.keys())]
    for key in sorted(a.keys() & b.keys()):
        if (a[key].url, a[key].path, a[key].size) != (b[key].url, b[key].path, b[key].size):
            out.append(f"{key[0]}: {key[1]}'s location or size differs from the resolution")
    return out

"""Versions across variants of one python: what differs, why, and what nothing forces (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from lockgen.locks import pylock as lockfile
from lockgen.project.config import Variant


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """One package at different versions across variants of one python."""

    package: str
    python: str
    versions: dict[str, tuple[str, ...]]  # version → variants holding it
    requirers: dict[str, tuple[str, ...]]  # variant → "torch 2.7.1" / "inputs/cu126.in"

    def line(self) -> str:
        parts = []
        for version, variants in self.versions.items():
            why = sorted({r for v in variants for r in self.requirers[v]})
            parts.append(f"{version} in {', '.join(variants)} (required by {', '.join(why) or '?'})")
        return f"{self.package}: " + "; ".join(parts)


def differences(locks: Mapping[Variant, lockfile.Lock]) -> list[Difference]:
    """Packages whose version differs between variants of the same python."""
    by_python: dict[str, list[tuple[Variant, lockfile.Lock]]] = {}
    for variant, lock in locks.items():  # pairs, not lookups: hashing a Variant hashes all its settings
        by_python.setdefault(variant.python, []).append((variant, lock))
    found = []
    for python, pairs in by_python.items():
        names = sorted({n for _, lock in pairs for n in lock.versions})
        for name in names:
            versions: dict[str, list[str]] = {}
            for v, lock in pairs:
                if name in lock.versions:
                    versions.setdefault(lock.versions[name], []).append(v.name)
            if len(versions) > 1:
                found.append(
                    Difference(
                        package=name,
                        python=python,
                        versions={k: tuple(vs) for k, vs in versions.items()},
                        requirers={v.name: requirers(lock, name) for v, lock in pairs if name in lock.versions},
                    )
                )
    return found


def requirers(lock: lockfile.Lock, package: str) -> tuple[str, ...]:
    """What requires ``package`` in this lock: ``"torch 2.7.1"`` or an intent file."""
    graph = lock.graph or {}
    versions = lock.versions
    return tuple(f"{p} {versions[p]}" if p in versions else p for p in graph.get(package, ()))


Confirm = Callable[[Variant, lockfile.Lock, str, str], bool]  # does the variant resolve with package==version?


def unforced(locks: Mapping[Variant, lockfile.Lock], diffs: list[Difference], confirm: Confirm) -> list[str]:
    """Differences nothing forces: a variant on an older version than another of its
    python, with the same requirers at the same versions, the same platform and
    constraints, that ``confirm`` (uv, offline, with its own index, base and rules)
    finds takes the newer one. Then ``compile -P`` gives it the newer version, which is
    the remedy named; a variant an index or a base holds back is not reported."""
    by_name = {v.name: v for v in locks}
    out = []
    for d in diffs:
        groups = sorted(d.versions.items(), key=lambda group: _order(group[0]))  # oldest first
        for i, (older, holders) in enumerate(groups):
            for name in holders:  # every variant held back, not only the first: one run names them all
                a = by_name[name]
                for newer, holders_new in reversed(groups[i + 1 :]):  # the newest it would take
                    b = _comparable(by_name, d, name, holders_new)
                    if b is not None and confirm(a, locks[a], d.package, newer):
                        out.append(
                            f"{a.name}: {d.package} {older} differs from {newer} in {b.name}, and nothing forces "
                            f"it (run: lockgen compile -P {d.package} {a.name})"
                        )
                        break
    return out


def _order(version: str) -> tuple[int, Version | str]:
    """Versions by PEP 440; one it cannot read (a source tree's, which has none) first."""
    try:
        return 1, Version(version)
    except InvalidVersion:
        return 0, version


def _comparable(
    by_name: Mapping[str, Variant], d: Difference, name_a: str, holders_b: tuple[str, ...]
) -> Variant | None:
    """A variant of ``holders_b`` that differs from ``name_a`` in nothing that could
    force the difference: platform, constraints, and what requires the package."""
    a = by_name[name_a]
    for name_b in holders_b:
        b = by_name[name_b]
        same = (a.platform == b.platform and a.constraints == b.constraints
                and bool(d.requirers[name_a]) and d.requirers[name_a] == d.requirers[name_b])  # fmt: skip
        if same:
            return b
    return None

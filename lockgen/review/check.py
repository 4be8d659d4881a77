"""``lockgen check``: are the committed locks valid, current and clean? (SPEC §5)"""

from __future__ import annotations

from collections.abc import Mapping

from lockgen.compile import compiler, consistency
from lockgen.exceptions import InputError
from lockgen.locks import graph
from lockgen.locks import pylock as lockfile
from lockgen.project.config import Config
from lockgen.project.intents import Inputs


def problems(config: Config) -> list[str]:
    """One line per problem; empty when every lock is in order. Never uses the network."""
    inputs = Inputs(config.root)
    out: list[str] = []
    current = {}
    for variant in config.variants:
        path = config.locks_dir / variant.lock_name
        rel = config.relative(path)
        try:
            lock = lockfile.read(path)
        except InputError as exc:
            out.append(f"{variant.name}: {exc}")
            continue
        if lock is None:
            out.append(f"{variant.name}: {rel} is missing (run: lockgen compile {variant.name})")
            continue
        current[variant] = lock
        if lock.meta.get("variant") != variant.name:
            out.append(f"{variant.name}: {rel} has no [tool.lockgen] table for this variant")
        elif lock.digest != inputs.digest(variant):
            out.append(
                f"{variant.name}: {rel} is stale: its inputs or settings changed (run: lockgen compile {variant.name})"
            )
        chains = graph.forbidden(config, variant, lock, offline=True)
        if chains:
            out.append(f"{variant.name}: forbidden: " + "; ".join(chains))
        if "requirements" in config.formats:
            out.extend(_requirements(config, variant.name, lock.versions))
    out.extend(consistency.unforced(config, current, consistency.differences(current)))
    for path in compiler.orphans(config):
        out.append(
            f"{config.relative(path)}: orphan: no such variant is configured (lockgen compile --prune removes it)"
        )
    return out


def _requirements(config: Config, name: str, versions: Mapping[str, str]) -> list[str]:
    path = config.locks_dir / f"requirements.{name}.txt"
    if not path.is_file():
        return [f"{name}: {config.relative(path)} is missing (run: lockgen compile {name})"]
    if graph.pins(path.read_text(encoding="utf-8")) != versions:
        return [f"{name}: {config.relative(path)} does not match {name}'s pylock (run: lockgen compile {name})"]
    return []

"""What lockgen keeps inside an environment, in ``<site-packages>/.lockgen/``.

* ``record.json`` — what the last complete sync installed: the lock, and for each
  package its version and the sha256 of the artifacts the lock named for it. A
  package whose locked artifacts differ from the recorded ones is reinstalled,
  even at the same version.
* ``journal.json`` — written (and flushed to disk) before a sync changes anything,
  removed when it has finished and verified. Its presence means a sync was
  interrupted: the next one reinstalls every package it names.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgen import __version__, files
from lockgen.install.environment import Target
from lockgen.locks import pylock

FOLDER = ".lockgen"


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """What the last completed sync installed into an environment."""

    lock: str  # the lock file it installed, as the project names it
    variant: str
    packages: Mapping[str, tuple[str, tuple[str, ...]]]  # name → (version, artifact sha256s)
    checked: Mapping[str, Any] = field(default_factory=dict)  # a torch kernel check that passed
    installed: Mapping[str, str] = field(default_factory=dict)  # name → fingerprint of the RECORD it installed
    sources: Mapping[str, str] = field(default_factory=dict)  # local project → its metadata files' sha256


@dataclass(frozen=True, slots=True, kw_only=True)
class Journal:
    """An unfinished sync: what it meant to change, for the next sync to repair."""

    lock: str
    touched: tuple[str, ...]  # every package the interrupted plan meant to change
    pid: int
    files: tuple[str, ...] = ()  # every file those packages' RECORDs named before the change


def identities(lock: pylock.Lock) -> dict[str, tuple[str, ...]]:
    """For each locked package, the sha256 of every artifact the lock names for it."""
    out: dict[str, list[str]] = {}
    for a in lock.artifacts():
        out.setdefault(a.package, []).append(a.sha256 or "")
    return {name: tuple(sorted(shas)) for name, shas in out.items()}


def folder(target: Target) -> Path | None:
    sites = target.site_packages()
    return sites[0] / FOLDER if sites else None


def _read(target: Target, name: str) -> dict[str, Any] | None:
    where = folder(target)
    if where is None:
        return None
    data = files.read_json(where / name)
    return data if isinstance(data, dict) else None


def read_record(target: Target) -> Record | None:
    data = _read(target, "record.json")
    if data is None:
        return None
    try:
        packages = {str(k): (str(v[0]), tuple(map(str, v[1]))) for k, v in data["packages"].items()}
        installed = {str(k): str(v) for k, v in (data.get("installed") or {}).items()}
        sources = {str(k): str(v) for k, v in (data.get("sources") or {}).items()}
        checked = data.get("checked")
        return Record(lock=str(data["lock"]), variant=str(data["variant"]), packages=packages,
                      checked=checked if isinstance(checked, dict) else {}, installed=installed,
                      sources=sources)  # fmt: skip
    except (KeyError, TypeError, IndexError, AttributeError):
        return None  # unreadable: as if there were none, so everything is checked afresh


def write_record(target: Target, record: Record) -> None:
    """Keep ``record`` as what sync installed (unwritten where it is already so)."""
    where = folder(target)
    if where is None or read_record(target) == record:
        return
    data = {
        "lockgen": __version__,
        "lock": record.lock,
        "variant": record.variant,
        "packages": {k: [v[0], list(v[1])] for k, v in sorted(record.packages.items())},
        "checked": dict(record.checked),
        "installed": dict(sorted(record.installed.items())),
        "sources": dict(sorted(record.sources.items())),
    }
    files.write_atomic(where / "record.json", json.dumps(data, indent=1) + "\n")


def read_journal(target: Target) -> Journal | None:
    where = folder(target)
    if where is None or not (where / "journal.json").exists():
        return None
    data = _read(target, "journal.json") or {}
    touched = data.get("touched")
    # A journal cut short is still a journal: something may have changed, so
    # everything installed is checked and every broken package reinstalled.
    listed = data.get("files")
    pid = data.get("pid")
    return Journal(
        lock=str(data.get("lock", "")),
        touched=tuple(map(str, touched)) if isinstance(touched, list) else (),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
        files=tuple(map(str, listed)) if isinstance(listed, list) else (),
    )


def begin(target: Target, lock: str, touched: set[str], paths: set[str]) -> None:
    """Say, durably, that a sync is about to change the environment: which packages,
    and every file their RECORDs name now (an uninstall cut short can leave files
    whose RECORD is already gone; the journal still knows them)."""
    where = folder(target)
    if where is None:
        return
    data = {
        "lock": lock,
        "touched": sorted(touched),
        "files": sorted(paths),
        "pid": os.getpid(),
        "started": time.time(),
    }
    files.write_atomic(where / "journal.json", json.dumps(data) + "\n")


def end(target: Target) -> None:
    where = folder(target)
    if where is not None:
        try:
            (where / "journal.json").unlink(missing_ok=True)
        except OSError as exc:
            raise files.failure(exc, "remove") from None

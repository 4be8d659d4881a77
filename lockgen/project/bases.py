"""Base environments: a freeze (``uv pip freeze`` / ``pip freeze``) of what a target
machine already has installed, such as Colab's image or a vendor's CUDA container.

Only ``name==version`` lines pin anything. A package installed from a URL or a
folder (``name @ file:///…``, ``-e …``) cannot be re-resolved, so it is read as
present but not pinned; comments and blank lines are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.names import canonical

_PIN = re.compile(r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*===?\s*(?P<version>[^\s;#]+)")
_AT = re.compile(r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*@\s*\S+")


@dataclass(frozen=True, slots=True)
class Base:
    """A base file's pins: what the target machine already has, and keeps."""

    rel: str
    pins: dict[str, str]  # canonical name → version
    unpinned: frozenset[str]  # installed from a URL or folder


def read(root: Path, rel: str) -> Base:
    path = root / rel
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{rel}: cannot read: {exc.strerror}") from None
    pins: dict[str, str] = {}
    unpinned: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-e ", "--editable")):
            continue
        m = _PIN.fullmatch(line)
        if m:
            name = canonical(m["name"])
            if pins.get(name, m["version"]) != m["version"]:
                raise InputError(
                    f"{rel}:{number}: {name} again, at {m['version']} (already {pins[name]}): which is it?"
                )
            pins[name] = m["version"]
            continue
        m = _AT.fullmatch(line)
        if m:
            unpinned.add(canonical(m["name"]))
            continue
        raise InputError(f"{rel}:{number}: not a freeze line (name==version): {line!r}")
    return Base(rel=rel, pins=pins, unpinned=frozenset(unpinned))

"""Base environments: a freeze (``uv pip freeze`` / ``pip freeze``) of what a target
machine already has installed, such as Colab's image or a vendor's CUDA container.

``name==version`` lines pin; so does ``name @ URL`` where the URL names a wheel or an
sdist (``uv pip freeze`` writes one for a package installed from a file), its version
read from the file's name. A package installed from a VCS URL or a folder has no
version lockgen can read: it is present but not pinned, and a lock that needs it fails
(compile cannot know which version the image has); so does an editable install that
names its package (``-e git+…#egg=name``). An editable line naming none (``-e /src/x``)
names no package lockgen can know. Comments and blank lines are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.names import canonical

_PIN = re.compile(r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*===?\s*(?P<version>[^\s;#]+)")
_EGG = re.compile(r"#(?:.*&)?egg=(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_AT = re.compile(r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*@\s*(?P<url>\S+)")


@dataclass(frozen=True, slots=True)
class Base:
    """A base file's pins: what the target machine already has, and keeps."""

    rel: str
    pins: dict[str, str]  # canonical name → version
    unpinned: frozenset[str]  # installed from a VCS URL or a folder: no version to read


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
        if line.startswith(("-e ", "--editable")):  # an editable install: named only by #egg=
            egg = _EGG.search(line)
            if egg:
                unpinned.add(canonical(egg["name"]))
            continue
        m = _PIN.fullmatch(line)
        at = None if m else _AT.fullmatch(line)
        if m is not None:
            name, version = canonical(m["name"]), m["version"]
        elif at is not None:
            name, version = canonical(at["name"]), _file_version(at["name"], at["url"])
        else:
            raise InputError(f"{rel}:{number}: not a freeze line (name==version): {line!r}")
        if version is None:
            unpinned.add(name)
        elif pins.setdefault(name, version) != version:
            raise InputError(f"{rel}:{number}: {name} again, at {version} (already {pins[name]}): which is it?")
    return Base(rel=rel, pins=pins, unpinned=frozenset(unpinned))


def _file_version(name: str, url: str) -> str | None:
    """The version in the name of the wheel or sdist ``url`` ends with, if it is one of
    ``name``'s; None for a VCS URL, a folder, or a file named otherwise."""
    from urllib.parse import unquote, urlsplit

    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

    if "+" in url.split(":", 1)[0]:  # git+https://…: a commit, not a version
        return None
    filename = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    try:
        if filename.endswith(".whl"):
            found, version, _, _ = parse_wheel_filename(filename)
        else:
            found, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(version) if found == canonical(name) else None

"""Local projects an intent file installs (``-e ./libs/x``, ``x @ file:./libs/x``): which
of their files decide what uv resolves for them, so that the input digest covers them.

uv's own cache keys for a source tree are its ``pyproject.toml``, ``setup.cfg`` and
``setup.py``, or, where ``[tool.uv] cache-keys`` names files, those. A build backend may
read metadata from other files: setuptools' ``[tool.setuptools.dynamic]`` takes
dependencies or a version from a file (``dependencies = {file = ["requirements.txt"]}``),
and those count too, as a user would expect of a project whose requirements live there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
# [project] keys that, left dynamic, a build backend fills from its own [tool] table.
_FROM_TOOLS = {"version", "dependencies", "optional-dependencies", "requires-python"}
_MAX_FILES = 1000  # a glob in cache-keys that matches a whole tree is no metadata file list


def metadata_files(folder: Path, boundary: Path | None = None) -> list[str]:
    """The files of the project in ``folder`` that decide its metadata, relative to it
    (posix), sorted: uv's cache keys and the files a backend reads metadata from.
    Only regular files inside ``folder`` (and the repository) count."""
    out = {name for name in PROJECT_FILES if (folder / name).is_file()}
    document = _pyproject(folder)
    tool = _table(document, "tool")
    keys = _list(_table(tool, "uv").get("cache-keys"))  # "path", {file = "glob"}, {git = …}, {env = …}
    patterns = [key.get("file") if isinstance(key, dict) else key for key in keys]
    for spec in _table(_table(tool, "setuptools"), "dynamic").values():
        if isinstance(spec, dict):  # dependencies = {file = [...]}; optional-dependencies = {dev = {file = ...}}
            for entry in (spec, *(v for v in spec.values() if isinstance(v, dict))):
                patterns.extend(_list(entry.get("file")))
    top, fence = folder.resolve(), boundary.resolve() if boundary is not None else None
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern or Path(pattern).is_absolute():
            continue
        try:
            matches = [Path(pattern)] if not any(c in pattern for c in "*?[") else list(folder.glob(pattern))
        except (ValueError, OSError):  # a pattern pathlib refuses: uv's own to judge
            continue
        for match in matches[:_MAX_FILES]:
            path = folder / match if not match.is_absolute() else match
            real = path.resolve()
            if path.is_file() and real.is_relative_to(top) and (fence is None or real.is_relative_to(fence)):
                out.add(path.relative_to(folder).as_posix())
    return sorted(out)


def file_sha(path: Path) -> str:
    """sha256 of what in a local project's file decides its resolution: of a
    ``pyproject.toml``, its ``[project]``, ``[build-system]`` and ``[tool.uv]`` tables
    (uv reads a project's ``sources`` even with ``--no-config``; a linter's settings
    edited beside them change nothing), unless ``[project]`` is missing or leaves its
    version or dependencies dynamic, when a backend's ``[tool]`` table may state them
    and the whole file counts; any other file whole. OSError if unreadable."""
    data = path.read_bytes()
    if path.name == "pyproject.toml":
        document = _parsed(data)
        project = document.get("project")
        dynamic = project.get("dynamic", []) if isinstance(project, dict) else None
        if isinstance(dynamic, list) and not _FROM_TOOLS & {str(d) for d in dynamic}:
            tool = document.get("tool")
            uv = tool.get("uv") if isinstance(tool, dict) else None
            stated = {"project": project, "build-system": document.get("build-system"), "tool.uv": uv}
            data = json.dumps(stated, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()


def _pyproject(folder: Path) -> dict[str, Any]:
    try:
        return _parsed((folder / "pyproject.toml").read_bytes())
    except OSError:
        return {}


def _parsed(data: bytes) -> dict[str, Any]:
    from lockgen._toml import TOMLDecodeError, loads

    try:
        document: dict[str, Any] = loads(data.decode("utf-8"))
    except (UnicodeDecodeError, TOMLDecodeError):
        return {}
    return document


def _table(document: object, key: str) -> dict[str, Any]:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    """A TOML value that may be one item or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

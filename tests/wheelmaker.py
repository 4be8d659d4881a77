"""Tiny but real wheels, and the folders uv reads them from (find-links, simple index)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] | list[str] = (),
    *,
    tag: str = "py3-none-any",
    python: str | None = None,
    payload: str = "",
    extras: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
) -> Path:
    """Write ``name-version-tag.whl`` into ``folder`` (with ``files`` besides the usual
    ones, archive path → text); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_").lower()
    dist = f"{module}-{version}"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if python:
        meta.append(f"Requires-Python: {python}")
    meta += [f"Provides-Extra: {e}" for e in extras]
    meta += [f"Requires-Dist: {r}" for r in requires]
    files = {
        f"{module}/__init__.py": payload or f"__version__ = {version!r}\n",
        f"{dist}.dist-info/METADATA": "\n".join(meta) + "\n\n",
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: lockgen-tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
        **(files or {}),
    }
    path = folder / f"{dist}-{tag}.whl"
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))  # same bytes every time
            z.writestr(info, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(text.encode())}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(
            zipfile.ZipInfo(f"{dist}.dist-info/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n"
        )
    return path


def make_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 simple index over ``wheels`` at ``root``; returns its file:// URL."""
    by_project: dict[str, list[Path]] = {}
    for w in wheels:
        project = w.name.split("-")[0].replace("_", "-").lower()
        by_project.setdefault(project, []).append(w)
    for project, files in by_project.items():
        page = root / project
        page.mkdir(parents=True, exist_ok=True)
        links = "\n".join(
            f'<a href="{w.resolve().as_uri()}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">{w.name}</a><br/>'
            for w in sorted(files)
        )
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}\n</body></html>\n")
    (root / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n"
        + "\n".join(f'<a href="{p}/">{p}</a><br/>' for p in sorted(by_project))
        + "\n</body></html>\n"
    )
    return root.resolve().as_uri()


# A PEP 517 backend small enough to ship in a test: it reads the sdist's PKG-INFO
# and builds a wheel of nothing but that metadata.
_BACKEND = """
import base64, hashlib, os, zipfile

WHEEL = "Wheel-Version: 1.0\\nGenerator: lockgen-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _dist():
    meta = open("PKG-INFO").read()
    fields = dict(line.split(": ", 1) for line in meta.splitlines() if ": " in line)
    return meta, f"{fields['Name'].replace('-', '_')}-{fields['Version']}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(directory, config_settings=None):
    meta, dist = _dist()
    os.makedirs(os.path.join(directory, dist + ".dist-info"))
    for name, text in (("METADATA", meta), ("WHEEL", WHEEL)):
        with open(os.path.join(directory, dist + ".dist-info", name), "w") as f:
            f.write(text)
    return dist + ".dist-info"


def build_wheel(directory, config_settings=None, metadata_directory=None):
    meta, dist = _dist()
    record = []
    with zipfile.ZipFile(os.path.join(directory, dist + "-py3-none-any.whl"), "w") as z:
        for name, text in (("METADATA", meta), ("WHEEL", WHEEL)):
            z.writestr(dist + ".dist-info/" + name, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{dist}.dist-info/{name},sha256={digest},{len(text.encode())}")
        z.writestr(dist + ".dist-info/RECORD", "\\n".join([*record, dist + ".dist-info/RECORD,,"]) + "\\n")
    return dist + "-py3-none-any.whl"


get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
"""


def make_backend(folder: Path, name: str = "tinybackend") -> Path:
    """A wheel of a build backend that :func:`make_sdist` packages can name."""
    return make_wheel(folder, name, "1.0", payload=_BACKEND)


def make_local_project(folder: Path, name: str, version: str, requires: tuple[str, ...] | list[str] = ()) -> Path:
    """A source tree uv can build offline: its own backend inside it, nothing to fetch."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tinybackend.py").write_text(_BACKEND)
    (folder / "PKG-INFO").write_text("\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                                               *(f"Requires-Dist: {r}" for r in requires)]) + "\n\n")  # fmt: skip
    deps = ", ".join(f'"{r}"' for r in requires)
    (folder / "pyproject.toml").write_text(  # as a real project states its metadata: here
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "tinybackend"\nbackend-path = ["."]\n'
    )
    return folder


def make_sdist(
    folder: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] | list[str] = (),
    *,
    backend: str = "tinybackend",
    build_requires: tuple[str, ...] | list[str] = (),
) -> Path:
    """``name-version.tar.gz`` built by ``backend``, which uv must find on an index
    with ``build_requires``."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    meta = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                      *(f"Requires-Dist: {r}" for r in requires)]) + "\n\n"  # fmt: skip
    files = {
        "PKG-INFO": meta,
        "pyproject.toml": f"[build-system]\nrequires = {[backend, *build_requires]!r}\n".replace("'", '"')
        + f'build-backend = "{backend.replace("-", "_")}"\n',
    }
    path = folder / f"{dist}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for arc, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{dist}/{arc}")
            info.size, info.mtime = len(data), 1577836800
            tar.addfile(info, io.BytesIO(data))
    return path

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
) -> Path:
    """Write ``name-version-tag.whl`` into ``folder``; returns its path."""
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

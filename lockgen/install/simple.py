"""A wheelhouse's PEP 503 simple index (``DIR/simple/``): written whole, beside the old
one and then put in its place, and only over pages this wheelhouse wrote."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterable, Set
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import files
from lockgen.exceptions import InputError
from lockgen.names import canonical

if TYPE_CHECKING:
    from lockgen.install.wheelhouse import Wanted

STALE = ".lockgen-simple-"  # an index being written, or the one it replaces, that a kill left


def refuse_foreign(folder: Path, ours: Set[str]) -> None:
    """``folder/simple`` may hold only what an earlier run wrote: its root page and one
    page for each project of ``ours`` (the packages its manifest knows). Anything else
    — a mirror's pages of other projects, a link to another folder — would be replaced
    or written through: bad input, before anything is fetched."""
    simple = folder / "simple"
    if simple.is_symlink() or (simple.exists() and not simple.is_dir()):
        raise InputError(f"{simple}: is not a folder of this wheelhouse's own (a link or a file): remove it")
    if not simple.is_dir():
        return
    foreign = []
    with os.scandir(simple) as entries:
        for entry in entries:
            if entry.name == "index.html" and entry.is_file(follow_symlinks=False):
                continue
            if entry.is_dir(follow_symlinks=False) and entry.name in ours and _one_page(Path(entry.path)):
                continue
            foreign.append(entry.name)
    if foreign:
        shown = ", ".join(sorted(foreign)[:5]) + (", …" if len(foreign) > 5 else "")
        raise InputError(
            f"{simple}: holds what this wheelhouse did not write ({shown}); lockgen writes {simple} whole: "
            "give wheelhouse a folder of its own, or remove that"
        )


def _one_page(project: Path) -> bool:
    with os.scandir(project) as entries:
        return all(e.name == "index.html" and e.is_file(follow_symlinks=False) for e in entries)


def write(folder: Path, items: Iterable[Wanted]) -> None:
    """A PEP 503 simple index under ``folder/simple`` with relative links and hashes,
    written beside the old one and then renamed into its place: an installer reading
    it meanwhile finds the old index or the new, whole."""
    by_project: dict[str, list[Wanted]] = {}
    for item in items:
        by_project.setdefault(canonical(item.package), []).append(item)
    files.clean_stale(folder, prefix=STALE)
    new = Path(tempfile.mkdtemp(prefix=STALE, dir=folder))
    try:
        for project, entries in sorted(by_project.items()):
            links = "\n".join(
                f'<a href="../../{html.escape(urllib.parse.quote(e.filename))}#sha256={e.sha256}">'
                f"{html.escape(e.filename)}</a><br/>"
                for e in sorted(entries, key=lambda e: e.filename)
            )
            page = f"<!DOCTYPE html>\n<html><head><title>Links for {project}</title></head><body>\n{links}\n</body></html>\n"
            files.write_atomic(new / project / "index.html", page)
        root = "\n".join(f'<a href="{p}/">{p}</a><br/>' for p in sorted(by_project))
        files.write_atomic(new / "index.html", f"<!DOCTYPE html>\n<html><body>\n{root}\n</body></html>\n")
        os.chmod(new, 0o755)  # mkdtemp's 0700 would keep a web server out
        simple = folder / "simple"
        old = folder / f"{STALE}old-{os.getpid()}"
        if simple.exists():
            os.rename(simple, old)
        os.rename(new, simple)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)

"""A wheelhouse's PEP 503 simple index (``DIR/simple/``): each page replaced whole, and
only over pages this wheelhouse wrote."""

from __future__ import annotations

import html
import os
import shutil
import urllib.parse
from collections.abc import Iterable, Set
from pathlib import Path
from typing import TYPE_CHECKING

from lockgen import files
from lockgen.exceptions import InputError
from lockgen.names import canonical

if TYPE_CHECKING:
    from lockgen.install.wheelhouse import Wanted


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
            if entry.name.startswith(".") or (entry.name == "index.html" and entry.is_file(follow_symlinks=False)):
                continue  # a .DS_Store, an editor's swap file: no page
            if entry.is_dir(follow_symlinks=False) and entry.name in ours and _one_page(Path(entry.path)):
                continue
            foreign.append(entry.name)
    if foreign:
        shown = ", ".join(sorted(foreign)[:5]) + (", …" if len(foreign) > 5 else "")
        raise InputError(
            f"{simple}: holds what this wheelhouse did not write ({shown}), or its manifest ({folder.name}/"
            f".lockgen-wheelhouse.json) has gone; lockgen writes {simple} whole: give wheelhouse a folder of its "
            "own, or remove that"
        )


def _one_page(project: Path) -> bool:
    """A page folder as this wheelhouse writes it: its ``index.html`` (and dot-files: what
    a killed write left, a .DS_Store)."""
    with os.scandir(project) as entries:
        return all(e.name.startswith(".") or (e.name == "index.html" and e.is_file(follow_symlinks=False))
                   for e in entries)  # fmt: skip


def write(folder: Path, items: Iterable[Wanted]) -> None:
    """A PEP 503 simple index under ``folder/simple`` with relative links and hashes.
    Each page is replaced whole (a server reading it meanwhile serves it old or new,
    never torn), the root page last; then the pages of projects no longer served go."""
    by_project: dict[str, list[Wanted]] = {}
    for item in items:
        by_project.setdefault(canonical(item.package), []).append(item)
    simple = folder / "simple"
    for project, entries in sorted(by_project.items()):
        links = "\n".join(
            f'<a href="../../{html.escape(urllib.parse.quote(e.filename))}#sha256={e.sha256}">'
            f"{html.escape(e.filename)}</a><br/>"
            for e in sorted(entries, key=lambda e: e.filename)
        )
        page = (
            f"<!DOCTYPE html>\n<html><head><title>Links for {project}</title></head><body>\n{links}\n</body></html>\n"
        )
        files.clean_stale(simple / project)  # a write a kill cut short
        files.write_atomic(simple / project / "index.html", page)
    files.clean_stale(simple)  # the root page's write a kill cut short
    root = "\n".join(f'<a href="{p}/">{p}</a><br/>' for p in sorted(by_project))
    files.write_atomic(simple / "index.html", f"<!DOCTYPE html>\n<html><body>\n{root}\n</body></html>\n")
    with os.scandir(simple) as listing:  # only this wheelhouse's own pages are here (refuse_foreign)
        gone = [
            e.path
            for e in listing
            if e.is_dir(follow_symlinks=False) and e.name not in by_project and not e.name.startswith(".")
        ]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)

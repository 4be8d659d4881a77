"""One intent file (pip-compile ``.in`` syntax), read and checked once.

Read as pip and uv read it: a UTF-8 BOM, CRLF line ends and ``\\`` continuations are
accepted; ``-r``/``-c`` paths are relative to the file that names them. Reading is
linear in the file's size: a requirement line is checked by one regular expression,
and only lines it cannot vouch for go to ``packaging``'s full parser. What the files
of a variant make together (includes, the digest) is :mod:`lockgen.project.intents`'.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.files import unreachable
from lockgen.names import canonical
from lockgen.project import lines
from lockgen.project.places import (
    CHAINED,
    ENV_VAR,
    IGNORED,
    SCHEME,
    Places,
    inside,
    outside_repository,
    unquoted,
    varies,
)

_INCLUDE = re.compile(r"(?P<flag>-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(?P<path>\"[^\"]+\"|'[^']+'|\S+)")
_GLUED = re.compile(r"-[rcefi][^\s=]")  # -rother.in: pip reads it, uv refuses it
# Options pip and uv accept inside requirement files; their text is digested as written.
# uv ignores --prefer-binary, --trusted-host, --use-feature and --require-hashes there
# (it warns; lockgen locks with hashes anyway); --pre it ignores too, and lockgen honours.
_OPTIONS = frozenset((
    "-e", "--editable", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
    "--no-index", "--no-binary", "--only-binary", "--pre", "--prefer-binary", "--trusted-host",
    "--require-hashes", "--use-feature",
))  # fmt: skip
_INDEX_OPTIONS = {
    "-i": "--index-url", "--index-url": "--index-url", "--extra-index-url": "--extra-index-url",
    "-f": "--find-links", "--find-links": "--find-links", "--no-index": "--no-index",
}  # fmt: skip
_HASH = re.compile(r"--hash(?:[=\s]\s*(\S*)|$)")


@dataclass(frozen=True, slots=True)
class IntentFile:
    """One intent file, read once."""

    rel: str  # relative to the project root, posix
    sha256: str
    requires: tuple[str | None, ...]  # canonical names; None for a URL or path uv names
    includes: tuple[str, ...]  # -r files, relative to the project root
    constraints: tuple[str, ...]  # -c files
    lines: Mapping[tuple[str, str], int] = field(default_factory=dict, compare=False)  # ("-r"|"-c", file) → line
    conditional: frozenset[str] = frozenset()  # names required only behind an environment marker
    projects: tuple[str, ...] = ()  # local project folders it installs (relative to the project root)
    archives: tuple[str, ...] = ()  # local wheels and sdists it installs by path or file: URL (so too)
    # (line, its marker) for each requirement whose marker names python_full_version
    patch_markers: tuple[tuple[int, str], ...] = ()
    pre: bool = False  # it says --pre: pre-releases may be taken
    # Its options that decide which index pages uv reads: (--index-url | --extra-index-url |
    # --find-links | --no-index, the value as uv reads it).
    indexes: tuple[tuple[str, str], ...] = ()
    # (line, what, named) for each line uv refuses in a constraints file: an editable (named:
    # ``-e x @ file:./x``, which the command line's --constraint takes), a requirement with
    # no name (a bare URL or path).
    unconstrainable: tuple[tuple[int, str, bool], ...] = field(default=(), compare=False)
    # The file as uv reads it, copied: logical lines joined (pip's ``\`` continuations,
    # which uv cannot read), -r/-c targets as INCLUDE markers, -f folders absolute (and
    # each such absolute folder → that folder relative to the project root).
    copy: str = field(default="", compare=False)
    anchors: Mapping[str, str] = field(default_factory=dict, compare=False)


INCLUDE = "\0{}\0"  # an include's target (relative to the project root) in a ``copy``
INCLUDED = re.compile("\0([^\0]*)\0")  # finds each, its target the group


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads intent files of the project at ``root``; ``places`` checks what they name."""

    root: Path
    boundary: Path | None  # the repository root: no include may reach outside it
    places: Places
    validate: bool = True  # check every requirement line (compile, check); sync only needs the digest

    def read(self, rel: str) -> IntentFile:
        """The file at ``rel`` (relative to the project root), read and checked."""
        path = self.root / rel
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise InputError(f"{rel}: is a folder, not an intent file") from None
        except FileNotFoundError:
            raise InputError(f"{rel}: no such file") from None
        except OSError as exc:
            raise InputError(f"{rel}: cannot read: {exc.strerror}") from None
        text = lines.decode(rel, data)
        requires: list[str | None] = []
        includes: list[str] = []
        constraints: list[str] = []
        normal: list[str] = []  # the file as uv reads it wherever it is copied
        anchors: dict[str, str] = {}
        named_at: dict[tuple[str, str], int] = {}
        projects: list[Path] = []
        marked: dict[str, bool] = {}  # name → every line requiring it carries a marker
        pre = False
        indexes: list[tuple[str, str]] = []
        unconstrainable: list[tuple[int, str, bool]] = []
        patch_markers: list[tuple[int, str]] = []
        for number, line in lines.logical_lines(text):
            line = lines.strip_comment(line).strip()
            if not line:
                continue
            if line.startswith("-"):
                for kind, value in self._options(rel, number, line, normal, anchors):
                    if kind in ("-r", "-c"):
                        (includes if kind == "-r" else constraints).append(value)
                        named_at.setdefault((kind, value), number)
                    elif kind == "--pre":
                        pre = True
                    elif kind in _INDEX_OPTIONS:
                        indexes.append((_INDEX_OPTIONS[kind], self.places.expanded(value)))
                    elif kind in ("-e", "--editable"):
                        unconstrainable.append((number, "an editable", bool(lines.AT_URL.fullmatch(value))))
                        requires.append(None)
                        place = self._editable(rel, number, value)
                        if place is not None and not varies(value):  # as for a requirement's path
                            projects.append(place)
                continue
            name = self._requirement(rel, number, line, projects)
            if name is None:
                unconstrainable.append((number, "a requirement with no name", False))
            requires.append(name)
            if name is not None:
                marked[name] = marked.get(name, True) and lines.has_marker(line)
            if ("python_full_version" in line or "implementation_version" in line) and lines.has_marker(line):
                patch_markers.append((number, re.split(r"\s--hash", line, maxsplit=1)[0].rsplit(";", 1)[1].strip()))
            normal.append(line)
        return IntentFile(
            rel=rel,
            sha256=hashlib.sha256(data).hexdigest(),
            requires=tuple(requires),
            includes=tuple(includes),
            constraints=tuple(constraints),
            lines=named_at,
            conditional=frozenset(n for n, m in marked.items() if m),
            projects=self._relative(p for p in projects if p.is_dir()),
            archives=self._relative(p for p in projects if p.is_file()),
            copy="\n".join(normal) + "\n",
            anchors=anchors,
            pre=pre,
            indexes=tuple(indexes),
            unconstrainable=tuple(unconstrainable),
            patch_markers=tuple(patch_markers),
        )

    def _relative(self, places: Iterable[Path]) -> tuple[str, ...]:
        return tuple(sorted({Path(os.path.relpath(p, self.root)).as_posix() for p in places}))

    def _options(
        self, rel: str, number: int, line: str, normal: list[str], anchors: dict[str, str]
    ) -> Iterator[tuple[str, str]]:
        """Each option of an option line as (option, value), checked, its form for uv's
        copy appended to ``normal``: ``-r``/``-c`` as ``("-r", target)``. ``--no-index`` and
        ``--require-hashes`` may be followed by another option on their line
        (``--no-index -f wheels``), as uv reads it."""
        where = f"{rel}:{number}"
        rest = line
        while rest:
            if _GLUED.match(rest):
                raise InputError(f"{where}: {rest.split()[0]!r}: uv reads no value glued to {rest[:2]}: write "
                                 f"{rest[:2]} {rest[2:].split()[0]}")  # fmt: skip
            m = _INCLUDE.fullmatch(rest)
            if m:
                target = self._include(rel, number, m["path"])
                marker = INCLUDE.format(target)
                normal.append(f"{m['flag']} " + (f'"{marker}"' if " " in target else marker))  # uv drops the quotes
                yield ("-r" if m["flag"] in ("-r", "--requirement") else "-c"), target
                return
            option = rest.split("=")[0].split()[0]
            if option not in _OPTIONS:
                raise InputError(f"{where}: unknown option {option!r}")
            written = rest[len(option) :].lstrip(" =").strip()
            value = written if option in ("-e", "--editable") else unquoted(written)  # uv keeps -e's quotes
            if option in CHAINED and value.startswith("-"):  # another option follows the flag
                normal.append(option)
                rest, value = value, ""
            else:
                normal.append(self._anchored(rel, rest, option, anchors))
                rest = ""
            if self.validate:  # what uv would refuse once for every variant; sync reads only the digest
                self.places.option(where, option, value)
            if option in IGNORED and "--pre" in (w.split("=")[0] for w in value.split()):
                yield "--pre", ""  # --trusted-host h --pre: honoured wherever it stands
            if option in ("-f", "--find-links"):
                self.places.named(where, option, value, base=(self.root / rel).parent)
            yield option, value

    def _editable(self, rel: str, number: int, value: str) -> Path | None:
        """The project folder ``-e`` installs (``-e ./x``, ``-e name @ file:./x``), checked;
        None where it is not local."""
        where = f"{rel}:{number}"
        at = lines.AT_URL.fullmatch(value)
        target = at["url"].strip() if at else value
        if at and self.validate:
            self.places.option(where, "-e", target)  # the URL's own checks (no VCS URL is editable)
        return self.places.named(where, "-e", target)

    def _anchored(self, rel: str, line: str, option: str, anchors: dict[str, str]) -> str:
        """The option line for a copy of the file kept elsewhere: uv reads a ``-f``
        folder relative to the file naming it, so a relative one becomes absolute
        (``anchors``: that absolute path → the folder relative to the project root, as a
        requirements export names it: run from the project's folder, as its header says,
        pip finds it there, and it names no path of this machine's)."""
        if option not in ("-f", "--find-links"):
            return line
        value = self.places.expanded(unquoted(line[len(option) :].lstrip(" =").strip()))
        if not value or SCHEME.match(value) or os.path.isabs(value) or ENV_VAR.search(value):
            return line  # uv reads it the same from anywhere (an unset variable: it fails the same too)
        anchored = os.path.normpath((self.root / rel).parent / value)
        anchors[anchored] = Path(os.path.relpath(anchored, self.root)).as_posix()
        return f"{option} " + (f'"{anchored}"' if " " in anchored else anchored)

    def _include(self, rel: str, number: int, written: str) -> str:
        """The file ``-r``/``-c`` names (quotes dropped, ``${VAR}`` expanded, relative to
        the file naming it), relative to the project root; it must be in the repository."""
        target = self.places.expanded(unquoted(written))
        unset = ENV_VAR.search(target)
        if unset:
            raise InputError(
                f"{rel}:{number}: includes {written}, but {unset[0]} is not set here; a variable in -r/-c must be set "
                "wherever lockgen reads the file (sync and verify too: the included file is in the digest)"
            )
        if "://" in target:
            raise InputError(f"{rel}:{number}: includes a URL ({target}); lockgen reads only files in the project")
        resolved = (self.root / rel).parent / target
        normal = Path(os.path.normpath(resolved))
        if self.boundary is not None and not inside(normal, self.boundary):
            raise InputError(f"{rel}:{number}: includes {target}, {outside_repository(self.boundary)}")
        problem = unreachable(normal)
        if problem:
            raise InputError(f"{rel}:{number}: includes {target}: {problem}")
        if not normal.is_file():
            raise InputError(f"{rel}:{number}: includes {target}, which does not exist")
        return Path(os.path.relpath(normal, self.root)).as_posix()

    def _requirement(self, rel: str, number: int, line: str, projects: list[Path]) -> str | None:
        requirement, flag, hashes = line.partition(" --hash")  # uv passes an intent's hashes over: it locks its own
        requirement = requirement.strip()
        if self.validate and flag and any(not h for h in _HASH.findall("--hash" + hashes)):
            raise InputError(f"{rel}:{number}: --hash needs a value")
        m = lines.SIMPLE.fullmatch(requirement)
        archive = requirement.endswith((".whl", ".tar.gz", ".zip"))  # a file, as pip and uv read it, not a name
        if m and not archive and (m["specs"] is None or lines.plain_specifiers(m["specs"])):
            return canonical(m["name"])
        at = lines.AT_URL.fullmatch(requirement)
        if at is not None or lines.looks_like_location(requirement):
            where = re.split(r"\s+;", at["url"] if at else requirement)[0].strip()
            place = self.places.location(f"{rel}:{number}", where)
            if place is not None:
                self.places.present(f"{rel}:{number}", where, place)
                self.places.a_project(f"{rel}:{number}", where, place)
                if not varies(where):  # where a variable puts it differs by machine: no digest holds it
                    projects.append(place)
        named = lines.LEADING_NAME.match(requirement)
        if lines.looks_like_location(requirement) and not (named and "@" in requirement[named.end() - 1 :]):
            return None  # a bare URL or path: its name is uv's to find out
        if self.validate:
            lines.check_requirement(f"{rel}:{number}", requirement)
        found = lines.LEADING_NAME.match(requirement)
        return canonical(found["name"]) if found else None

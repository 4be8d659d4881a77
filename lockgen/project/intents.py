"""Intent files (pip-compile ``.in`` syntax) and the input digest.

Files are read as pip and uv read them: a UTF-8 BOM, CRLF line ends and ``\\``
continuations are accepted; ``-r``/``-c`` paths are relative to the file that
names them. Reading is linear in the file's size: a requirement line is checked
by one regular expression, and only lines it cannot vouch for go to
``packaging``'s full parser.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.files import unreachable
from lockgen.names import canonical
from lockgen.project import lines, local
from lockgen.project.config import Config, Variant
from lockgen.project.places import CHAINED, ENV_VAR, IGNORED, SCHEME, Places, inside, outside_repository, unquoted

DIGEST_SCHEME = 1
MAX_DEPTH = 200  # uv overflows its stack somewhere past 600 nested -r files
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
_CREDENTIALED = re.compile(r"https?://[^\s/?#]+@\S+", re.IGNORECASE)  # the user part up to the authority's last '@'
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


@dataclass(slots=True)
class Inputs:
    """Reads each intent file once; keyed by path relative to the project root.

    ``boundary`` is the project's repository root (git top level, else the
    configuration's folder): nothing outside it may be read, so that a fresh
    clone reproduces every lock.
    """

    root: Path
    boundary: Path | None = None
    validate: bool = True  # check every requirement line (compile, check); sync only needs the digest
    _files: dict[str, IntentFile] = field(default_factory=dict)
    # (inputs, constraints) whose constraints were found usable: closure() is asked many times a variant
    _usable: set[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=set)
    places: Places = field(init=False)
    projects: local.Projects = field(init=False)  # local projects' metadata files, digested once

    def __post_init__(self) -> None:
        self.places = Places(self.root, self.boundary, self.validate)
        self.projects = local.Projects(self.root, self.boundary)

    @classmethod
    def of(cls, config: Config, *, validate: bool = True) -> Inputs:
        return cls(config.root, config.boundary, validate)

    def current(self, variant: Variant, digest: str | None) -> bool:
        """Was a lock labelled ``digest`` compiled from the variant's inputs as they are now?
        Also by lockgen 0.3's digest, which counted the credentials of configured index
        URLs: an upgrade must not make every such lock stale on every machine at once."""
        if digest == self.digest(variant):
            return True
        urls = (variant.index_url or "", *variant.extra_index_urls, *variant.find_links)
        return digest is not None and "@" in "".join(urls) and digest == self.digest(variant, with_credentials=True)

    def digest(self, variant: Variant, *, with_credentials: bool = False) -> str:
        """sha256 over the variant's settings and every file it reads."""
        closure = self.closure(variant)
        files = {f.rel: f.sha256 for f in closure}
        for project in self.local_projects(closure):
            files.update(self.projects.files(project))
        settings = variant.settings(with_credentials=with_credentials)
        if variant.base is not None:
            files[variant.base] = self.projects.file_sha(variant.base)
        payload: dict[str, object] = {"scheme": DIGEST_SCHEME, "settings": settings, "files": sorted(files.items())}
        if any(f.pre for f in closure):  # honoured since 0.3: such a lock, resolved without it, is stale
            payload["prerelease"] = True
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def closure(self, variant: Variant) -> list[IntentFile]:
        """Every file the variant reads: its inputs and constraints and what they include."""
        seen: dict[str, IntentFile] = {}
        for start in (*variant.inputs, *variant.constraints):
            self._walk(start, seen)
        if self.validate and (variant.inputs, variant.constraints) not in self._usable:
            self._constraints_usable(variant, seen)
            self._usable.add((variant.inputs, variant.constraints))
        return list(seen.values())

    def _constraints_usable(self, variant: Variant, seen: Mapping[str, IntentFile]) -> None:
        """What uv reads as constraints (a ``-c`` file, the configuration's ``constraints``,
        and what they include) holds no line uv refuses there: bad input at that line,
        rather than one uv failure per variant naming the file that included it. uv takes
        a named editable (``-e x @ file:./x``) in a file its command line names
        (``constraints``), and no editable at all behind a ``-c`` line; a nameless
        requirement in neither."""
        via = {rel: ("the configuration's constraints", True) for rel in variant.constraints}
        for intent in seen.values():
            via.update((rel, (f"{intent.rel} says -c {rel}", False)) for rel in intent.constraints)
        stack = list(via)
        while stack:
            rel = stack.pop()
            intent = seen.get(rel) or self.file(rel)
            why, named_ok = via[rel]
            for number, what, named in intent.unconstrainable:
                if not (named and named_ok):
                    raise InputError(
                        f"{rel}:{number}: {what} cannot be a constraint here, and uv reads this file as constraints "
                        f"({why}): move the line to a requirements file"
                    )
            for child in intent.includes:  # what a constraints file includes is constraints, as it is
                if child not in via:
                    via[child] = via[rel]
                    stack.append(child)
            for child in intent.constraints:
                if child not in via:
                    via[child] = (f"{rel} says -c {child}", False)
                    stack.append(child)

    def sources(self, variant: Variant) -> dict[str, str]:
        r"""Every file the variant reads, as uv is to read it (``\`` continuations, which
        uv cannot read, joined; includes pointing at one another's copies): the very
        bytes its input digest was taken of. Read from the originals, an edit made and
        undone while uv resolved (a ``git stash`` and ``pop``) gave a lock labelled with
        one text and resolved from another, which check and compile then called current."""
        return {f.rel: f.copy for f in self.closure(variant)}

    def indexes(self, variant: Variant) -> tuple[tuple[str, str], ...]:
        """The index options its files give uv, in the order uv meets them: with the
        configuration's indexes, what decides which pages its resolution reads."""
        return tuple(option for f in self.closure(variant) for option in f.indexes)

    def anchors(self, variant: Variant) -> dict[str, str]:
        """Each ``-f`` folder the copies name by an absolute path → the folder relative to
        the project root."""
        return {path: folder for f in self.closure(variant) for path, folder in f.anchors.items()}

    def credentialed_urls(self, variant: Variant) -> list[str]:
        """The http(s) URLs with a user in them that the variant's files name, in the
        order they name them (``${VAR}`` expanded; not in comments): where sync and the
        wheelhouse find the credentials of the hosts its lock names without them."""
        out: dict[str, None] = {}
        for f in self.closure(variant):
            text = lines.decode(f.rel, (self.root / f.rel).read_bytes())
            text = self.places.expanded("\n".join(lines.strip_comment(line) for line in text.splitlines()))
            out.update((m[0], None) for m in _CREDENTIALED.finditer(text) if not ENV_VAR.search(m[0]))  # set here
        return list(out)

    def roots(self, variant: Variant) -> tuple[dict[str, frozenset[str]], bool]:
        """``{intent file: names it requires}`` over the variant's requirement files
        (inputs and their ``-r`` includes, not constraints); and whether every
        requirement's name is known before resolution (a bare URL's is not)."""
        out: dict[str, frozenset[str]] = {}
        complete = True
        for intent in self._requirement_files(variant):
            complete &= None not in intent.requires
            out[intent.rel] = frozenset(n for n in intent.requires if n is not None)
        return out, complete

    def prerelease(self, variant: Variant) -> bool:
        """Does a file the variant reads say ``--pre``? pip-compile then takes pre-releases;
        uv ignores the option in a file, so lockgen asks for them on uv's command line."""
        return any(f.pre for f in self.closure(variant))

    def conditional(self, variant: Variant) -> dict[str, frozenset[str]]:
        """``{intent file: names it requires only behind a marker}``: whether the variant
        takes them is uv's to say (lockgen does not evaluate markers)."""
        return {f.rel: f.conditional for f in self._requirement_files(variant) if f.conditional}

    def _requirement_files(self, variant: Variant) -> Iterator[IntentFile]:
        seen: set[str] = set()
        stack = list(reversed(variant.inputs))
        while stack:
            rel = stack.pop()
            if rel in seen:
                continue
            seen.add(rel)
            intent = self.file(rel)
            yield intent
            stack.extend(reversed(intent.includes))

    def _walk(self, start: str, seen: dict[str, IntentFile]) -> None:
        """Depth-first over includes without recursion (a chain may be thousands deep),
        refusing a cycle with the files in it."""
        path: list[str] = []  # the chain from ``start`` to the file being read
        stack: list[tuple[str, Iterator[tuple[str, str]]]] = []
        if start in seen:
            return
        intent = self.file(start)
        seen[start] = intent
        path.append(start)
        stack.append((start, _named(intent)))
        while stack:
            rel, children = stack[-1]
            kind, child = next(children, ("", None))
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child in path:
                cycle = [*path[path.index(child) :], child]
                line = self.file(rel).lines.get((kind, child))
                raise InputError(f"{rel}{f':{line}' if line else ''}: include cycle: {' -> '.join(cycle)}")
            if child in seen:
                continue
            if len(path) >= MAX_DEPTH:
                raise InputError(
                    f"{path[0]}: includes nest {len(path)} files deep ({path[0]} -> {path[1]} -> … -> {child}); "
                    f"uv cannot read chains that deep: keep them under {MAX_DEPTH}"
                )
            intent = self.file(child)
            seen[child] = intent
            path.append(child)
            stack.append((child, _named(intent)))

    def file(self, rel: str) -> IntentFile:
        if rel not in self._files:
            self._files[rel] = self._read(rel)
        return self._files[rel]

    def _read(self, rel: str) -> IntentFile:
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
                        if place is not None:
                            projects.append(place)
                continue
            name = self._requirement(rel, number, line, projects)
            if name is None:
                unconstrainable.append((number, "a requirement with no name", False))
            requires.append(name)
            if name is not None:
                marked[name] = marked.get(name, True) and lines.has_marker(line)
            normal.append(line)
        return IntentFile(
            rel=rel,
            sha256=hashlib.sha256(data).hexdigest(),
            requires=tuple(requires),
            includes=tuple(includes),
            constraints=tuple(constraints),
            lines=named_at,
            conditional=frozenset(n for n, m in marked.items() if m),
            projects=tuple(sorted({Path(os.path.relpath(p, self.root)).as_posix() for p in projects if p.is_dir()})),
            copy="\n".join(normal) + "\n",
            anchors=anchors,
            pre=pre,
            indexes=tuple(indexes),
            unconstrainable=tuple(unconstrainable),
        )

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
                projects.append(self.places.present(f"{rel}:{number}", where, place))
                self.places.a_project(f"{rel}:{number}", where, place)
        named = lines.LEADING_NAME.match(requirement)
        if lines.looks_like_location(requirement) and not (named and "@" in requirement[named.end() - 1 :]):
            return None  # a bare URL or path: its name is uv's to find out
        if self.validate:
            lines.check_requirement(f"{rel}:{number}", requirement)
        found = lines.LEADING_NAME.match(requirement)
        return canonical(found["name"]) if found else None

    def local_projects(self, closure: Iterable[IntentFile]) -> list[str]:
        """The local projects the files install, and those their ``[tool.uv.sources]``
        install from a folder in turn (:meth:`local.Projects.reached`)."""
        return self.projects.reached({p for f in closure for p in f.projects})

    def changed(self, variant: Variant) -> list[str]:
        """The local projects' files uv read for the variant that were written since they
        were digested (:meth:`local.Projects.changed`)."""
        return self.projects.changed(self.local_projects(self.closure(variant)))


def _named(intent: IntentFile) -> Iterator[tuple[str, str]]:
    """The files ``intent`` names, each with how (``-r`` or ``-c``)."""
    yield from (("-r", rel) for rel in intent.includes)
    yield from (("-c", rel) for rel in intent.constraints)

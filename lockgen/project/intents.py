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
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.names import canonical
from lockgen.project.config import Config, Variant
from lockgen.redact import redact

DIGEST_SCHEME = 1
MAX_DEPTH = 200  # uv overflows its stack somewhere past 600 nested -r files
_INCLUDE = re.compile(r"(?P<flag>-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s-]))(?P<path>\S+)")
_LOCATIONS = frozenset(("-e", "--editable", "-f", "--find-links"))  # options that name a place
# Options pip and uv accept inside requirement files; their text is digested as written.
_OPTIONS = frozenset((
    "-e", "--editable", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
    "--no-index", "--no-binary", "--only-binary", "--pre", "--prefer-binary", "--trusted-host",
))  # fmt: skip
# name[extras] specifiers — the shape of nearly every line; anything else is parsed in full.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_SIMPLE = re.compile(
    rf"(?P<name>{_NAME})\s*(?:\[\s*(?:{_NAME}\s*(?:,\s*{_NAME}\s*)*)?\])?\s*"
    r"(?P<specs>(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(?:,\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*)*)?"
)
_SPEC = re.compile(r"(===|==|!=|~=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)")
_LEADING_NAME = re.compile(rf"\s*(?P<name>{_NAME})\s*(?:\[[^\]]*\])?\s*(?:@|;|$|[<>=!~(])")
_AT_URL = re.compile(rf"\s*{_NAME}\s*(?:\[[^\]]*\])?\s*@\s*(?P<url>.+)", re.S)  # name @ url
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C:\ is a path
_ENV_VAR = re.compile(r"\$\{(?P<name>[A-Za-z0-9_]+)\}")  # what uv expands in requirement files


@dataclass(frozen=True, slots=True)
class IntentFile:
    """One intent file, read once."""

    rel: str  # relative to the project root, posix
    sha256: str
    requires: tuple[str | None, ...]  # canonical names; None for a URL or path uv names
    includes: tuple[str, ...]  # -r files, relative to the project root
    constraints: tuple[str, ...]  # -c files
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # -r/-c file → the line naming it
    conditional: frozenset[str] = frozenset()  # names required only behind an environment marker
    # The file as uv can read it, when uv cannot read the original (pip's ``\``
    # continuations): logical lines joined; -r/-c targets as INCLUDE markers.
    normalized: str | None = None


INCLUDE = "\0{}\0"  # an include's target (relative to the project root) in ``normalized``


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

    @classmethod
    def of(cls, config: Config, *, validate: bool = True) -> Inputs:
        return cls(config.root, config.boundary, validate)

    def digest(self, variant: Variant) -> str:
        """sha256 over the variant's settings and every file it reads."""
        files = {f.rel: f.sha256 for f in self.closure(variant)}
        settings = variant.settings()
        if variant.base is not None:
            files[variant.base] = self._base_sha(variant.base)
        payload = {"scheme": DIGEST_SCHEME, "settings": settings, "files": sorted(files.items())}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def closure(self, variant: Variant) -> list[IntentFile]:
        """Every file the variant reads: its inputs and constraints and what they include."""
        seen: dict[str, IntentFile] = {}
        for start in (*variant.inputs, *variant.constraints):
            self._walk(start, seen)
        return list(seen.values())

    def sources(self, variant: Variant) -> dict[str, str]:
        r"""Normalized copies of the variant's files for uv, when uv cannot read one of
        them as written (``\`` continuations): every file it reads, so that includes
        stay within the copies; empty when uv reads the originals."""
        closure = self.closure(variant)
        if all(f.normalized is None for f in closure):
            return {}
        out = {}
        for f in closure:
            out[f.rel] = f.normalized if f.normalized is not None else self._plain(f)
        return out

    def _plain(self, intent: IntentFile) -> str:
        """An unchanged file, its includes turned into markers."""
        text = _decode(intent.rel, (self.root / intent.rel).read_bytes())
        lines = []
        for number, line in _logical_lines(text):
            bare = _strip_comment(line).strip()
            m = _INCLUDE.fullmatch(bare)
            if m:
                lines.append(f"{m['flag']} {INCLUDE.format(self._include(intent.rel, number, m['path']))}")
            elif bare.startswith("-"):
                option = bare.split("=")[0].split()[0]
                lines.append(self._anchored(intent.rel, bare, bare[:2] if option not in _OPTIONS else option))
            else:
                lines.append(line)
        return "\n".join(lines) + "\n"

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
        stack: list[tuple[str, Iterator[str]]] = []
        if start in seen:
            return
        intent = self.file(start)
        seen[start] = intent
        path.append(start)
        stack.append((start, iter((*intent.includes, *intent.constraints))))
        while stack:
            rel, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child in path:
                cycle = [*path[path.index(child) :], child]
                line = self.file(rel).lines.get(child)
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
            stack.append((child, iter((*intent.includes, *intent.constraints))))

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
        text = _decode(rel, data)
        requires: list[str | None] = []
        includes: list[str] = []
        constraints: list[str] = []
        lines: list[str] = []  # the normalized form, kept only where it is needed
        named_at: dict[str, int] = {}
        marked: dict[str, bool] = {}  # name → every line requiring it carries a marker
        for number, line in _logical_lines(text):
            line = _strip_comment(line).strip()
            if not line:
                continue
            if line.startswith("-"):
                m = _INCLUDE.fullmatch(line)
                if m:
                    target = self._include(rel, number, m["path"])
                    (includes if m["flag"] in ("-r", "--requirement") else constraints).append(target)
                    named_at.setdefault(target, number)
                    lines.append(f"{m['flag']} {INCLUDE.format(target)}")
                    continue
                option = line.split("=")[0].split()[0]
                if option not in _OPTIONS and line[:2] in _OPTIONS:  # -fwheels: a short option's value glued on
                    option = line[:2]
                if option not in _OPTIONS:
                    raise InputError(f"{rel}:{number}: unknown option {option!r}")
                lines.append(self._anchored(rel, line, option))
                if option in _LOCATIONS:
                    value = line[len(option) :].lstrip(" =").strip()
                    self._location(rel, number, value, from_file=option in ("-f", "--find-links"))
                if option in ("-e", "--editable"):
                    requires.append(None)
                continue
            name = self._requirement(rel, number, line)
            requires.append(name)
            if name is not None:
                marked[name] = marked.get(name, True) and _has_marker(line)
            lines.append(line)
        # uv reads \ continuations only before --hash (and one at the very end as part of the line)
        joined = "\\\n" in text or "\\\r\n" in text or text.endswith("\\")
        return IntentFile(
            rel=rel,
            sha256=hashlib.sha256(data).hexdigest(),
            requires=tuple(requires),
            includes=tuple(includes),
            constraints=tuple(constraints),
            lines=named_at,
            conditional=frozenset(n for n, m in marked.items() if m),
            normalized="\n".join(lines) + "\n" if joined else None,
        )

    def _anchored(self, rel: str, line: str, option: str) -> str:
        """The option line for a copy of the file kept elsewhere: uv reads a ``-f``
        folder relative to the file naming it, so a relative one becomes absolute."""
        if option not in ("-f", "--find-links"):
            return line
        value = line[len(option) :].lstrip(" =").strip()
        if not value or _SCHEME.match(value) or os.path.isabs(value):
            return line
        return f"{option} {os.path.normpath((self.root / rel).parent / value)}"

    def _include(self, rel: str, number: int, target: str) -> str:
        if "://" in target:
            raise InputError(f"{rel}:{number}: includes a URL ({target}); lockgen reads only files in the project")
        resolved = (self.root / rel).parent / target
        normal = Path(os.path.normpath(resolved))
        if self.boundary is not None and not inside(normal, self.boundary):
            raise InputError(f"{rel}:{number}: includes {target}, {outside_repository(self.boundary)}")
        if not normal.is_file():
            raise InputError(f"{rel}:{number}: includes {target}, which does not exist")
        return Path(os.path.relpath(normal, self.root)).as_posix()

    def _location(self, rel: str, number: int, value: str, *, from_file: bool = False) -> None:
        """A folder, file or ``file:`` URL an intent file names must stay in the
        project's repository, as its includes must: a clone has to reproduce the lock.

        Read as uv reads it: ``${VAR}`` expanded; relative to the project root (uv's
        working folder), but ``-f`` folders relative to the file. Compile checks the
        lock uv writes as well, so what slips past this reading is still caught.
        """
        if self.boundary is None or not value:
            return
        text = _ENV_VAR.sub(
            lambda m: str(self.root) if m["name"] == "PROJECT_ROOT" else os.environ.get(m["name"], m[0]), value
        )
        try:
            scheme = _SCHEME.match(text)
            if scheme is not None:
                kind = scheme["scheme"].lower()
                if kind != "file" and not kind.endswith("+file"):
                    return  # an index or a VCS host: a clone reaches it as this machine does
                where = url_path(text)
                if kind != "file":
                    where = where.rsplit("@", 1)[0]  # git+file:///repo@v1
            else:
                where = text.split(";")[0].split("#")[0].strip()
            base = (self.root / rel).parent if from_file else self.root
            ok = inside(Path(os.path.normpath(base / where)), self.boundary)
        except ValueError as exc:  # an IPv6 bracket left open, a NUL byte
            raise InputError(f"{rel}:{number}: {redact(value)!r} is not a usable path or URL ({exc})") from None
        if not ok:
            raise InputError(f"{rel}:{number}: {redact(value)} is {outside_repository(self.boundary)}")

    def _requirement(self, rel: str, number: int, line: str) -> str | None:
        requirement = line.split(" --hash", 1)[0].strip()
        m = _SIMPLE.fullmatch(requirement)
        if m and (m["specs"] is None or _plain_specifiers(m["specs"])):
            return canonical(m["name"])
        at = _AT_URL.fullmatch(requirement)
        if at is not None or _looks_like_location(requirement):
            self._location(rel, number, re.split(r"\s+;", at["url"] if at else requirement)[0].strip())
        named = _LEADING_NAME.match(requirement)
        if _looks_like_location(requirement) and not (named and "@" in requirement[named.end() - 1 :]):
            return None  # a bare URL or path: its name is uv's to find out
        if self.validate:
            _check_requirement(f"{rel}:{number}", requirement)
        found = _LEADING_NAME.match(requirement)
        return canonical(found["name"]) if found else None

    def _base_sha(self, rel: str) -> str:
        try:
            return hashlib.sha256((self.root / rel).read_bytes()).hexdigest()
        except OSError as exc:
            raise InputError(f"{rel}: cannot read: {exc.strerror}") from None


def outside_repository(boundary: Path) -> str:
    """How every refusal of a path outside the repository ends."""
    return f"outside the project's repository ({boundary}); a lock must be reproducible from a fresh clone"


def url_path(url: str) -> str:
    """The local path a ``file:`` URL names, as written (``file:./x`` → ``./x``)."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)


def inside(path: Path, boundary: Path) -> bool:
    """Is ``path`` inside ``boundary``, as written and once symlinks are followed?"""
    normal, top = Path(os.path.normpath(path)), Path(os.path.normpath(boundary))
    if not normal.is_relative_to(top):
        return False
    real, real_top = Path(os.path.realpath(normal)), Path(os.path.realpath(top))
    return real.is_relative_to(real_top)


def _decode(rel: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{rel}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def _strip_comment(line: str) -> str:
    """pip's rule: ``#`` starts a comment at the line's start or after whitespace."""
    at = line.find("#")
    while at != -1:
        if at == 0 or line[at - 1].isspace():
            return line[:at]
        at = line.find("#", at + 1)
    return line


_COMMENT_LINE = re.compile(r"(^|\s+)#.*$")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with ``\\`` continuations joined, each with the number it starts on, as
    pip's ``join_lines`` does: a comment line is never continued (its backslash is
    part of the comment), and it ends a continuation that reaches it."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        comment = _COMMENT_LINE.match(raw) is not None
        if not raw.endswith("\\") or comment:
            line = " " + raw if comment else raw
            if pending:
                pending.append(line)
                yield start, "".join(pending)
                pending = []
            else:
                yield number, line
            continue
        if not pending:
            start = number
        pending.append(raw.strip("\\"))
    if pending:
        yield start, "".join(pending)


def _plain_specifiers(specs: str) -> bool:
    """True when every specifier is one ``packaging`` accepts; False sends the line
    to the full parser (which then accepts it or says what is wrong)."""
    from packaging.version import InvalidVersion, Version

    for op, version in _SPEC.findall(specs):
        if op == "===":
            return False
        if version.endswith(".*"):
            if op not in ("==", "!=") or "+" in version:
                return False
            version = version[:-2]
        elif "+" in version and op not in ("==", "!="):
            return False
        if op == "~=" and "." not in version:
            return False
        try:
            Version(version)  # its own pattern: compiling a copy cost ~1 ms a run
        except InvalidVersion:
            return False
    return True


def _check_requirement(where: str, requirement: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement  # 15 ms: only for unusual lines

    try:
        Requirement(requirement)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(f"{where}: invalid requirement {requirement!r}: {reason}") from None


def _has_marker(requirement: str) -> bool:
    """Does a requirement line carry an environment marker? After a URL only behind a
    space (PEP 508: a URL may hold a ``;``), anywhere else after the name."""
    text = requirement.split(" --hash", 1)[0]
    if ";" not in text:  # nearly every line: no pattern to run
        return False
    if _AT_URL.fullmatch(text):
        return re.search(r"\s;", text) is not None
    return ";" in text


def _looks_like_location(text: str) -> bool:
    head = text.split(";")[0].strip()
    return (
        "://" in head
        or head.startswith((".", "/", "~", "${", "file:"))
        or "/" in head
        or "\\" in head
        or head.endswith((".whl", ".tar.gz", ".zip"))
    )

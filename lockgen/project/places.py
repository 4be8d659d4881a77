"""Where an intent file's lines point, read as uv reads them: ``${VAR}`` expanded, paths
relative to the project (``-f`` ones to the file), ``file:`` and VCS URLs, a local
project's extras. What uv would refuse once for every variant is refused here at its
line; a place outside the repository is refused too, since a fresh clone must
reproduce every lock.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.files import unreachable
from lockgen.project import lines
from lockgen.project.values import unusable, url_problem, userinfo_problem
from lockgen.redact import conceal, conceal_passwords, redact, redact_unparsed, secret_at, userinfo_at

FLAGS = frozenset(("--no-index", "--pre", "--prefer-binary", "--require-hashes"))  # the options that take no value
INDEXES = frozenset(("-i", "--index-url", "--extra-index-url"))
# Options uv ignores in a requirements file: it drops their whole line, anything after them too.
IGNORED = frozenset(("--pre", "--prefer-binary", "--trusted-host", "--use-feature"))
CHAINED = frozenset(("--no-index", "--require-hashes"))  # flags uv reads another option after, on their line
_VCS = ("git", "hg", "svn", "bzr")  # git+https://…, as pip names VCS URLs
_TRANSPORTS = ("http", "https", "ssh", "git", "svn", "file")
SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C:\ is a path
ENV_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)\}")  # what uv and pip expand in requirement files: POSIX names
_ANY_VAR = re.compile(r"\$\{[^}\s]*\}")


def odd_variable(text: str) -> str | None:
    """Why a ``${...}`` in ``text`` is one that uv and pip leave as it is (lower-case
    letters, a dot, a dash), so that the URL reaches the index with the braces in it;
    None where there is none."""
    for m in _ANY_VAR.finditer(text):
        if not ENV_VAR.fullmatch(m[0]):
            return (
                f"{m[0]}: uv and pip expand only a name of capital letters, digits and _ "
                f"(${{{re.sub(r'[^A-Z0-9_]', '_', m[0][2:-1].upper())}}}), and leave this one as written"
            )
    return None


_EXTRAS = re.compile(r"\[[^\]]*\]\s*$")  # extras right after a local path (before a space: the path's)


@dataclass(frozen=True, slots=True)
class Places:
    """Reads the places of one project's intent files; ``where`` names the line
    (``inputs/base.in:3``) in what it refuses. Without ``validate`` (sync, verify: the
    lines matter only for the digest), only the repository's boundary is held."""

    root: Path
    boundary: Path | None
    validate: bool = True

    def option(self, where: str, option: str, value: str) -> None:
        """An option's value is one uv can use."""
        if option in IGNORED and not _only_ignored(option, value):  # only more of the same may share its line
            raise InputError(
                f"{where}: {option} {redact(value)}: uv ignores this option's whole line, and what follows it "
                "there with it: give it a line of its own"
            )
        if not value and option not in FLAGS:
            raise InputError(f"{where}: {option} needs a value")
        if option in IGNORED:  # nothing on its line reaches uv
            return
        if option in FLAGS and value:
            raise InputError(f"{where}: {option} takes no value")
        if option in INDEXES:
            self._index(where, option, value)
        if option in ("--no-binary", "--only-binary"):
            self._binary(where, option, value)
        text = self.expanded(value, where)
        if option in ("-e", "--editable") and _vcs(text):
            raise InputError(f"{where}: {option} {redact(value)}: uv installs no VCS URL as editable")
        if option in ("-f", "--find-links") and text.lower().startswith("file:") and not text[5:].startswith("//"):
            raise InputError(
                f"{where}: {option} {redact(value)}: uv reads a relative file: URL here from the file system's root; "
                f"write the folder's path ({text[5:]})"
            )

    def _index(self, where: str, option: str, value: str) -> None:
        """An index an intent file names is a URL uv can use, as the configuration's are,
        or a folder in the project (read, as uv reads it, from the project root). A
        ``${VAR}`` not set here is not judged: the machine that compiles may set it; one set
        to nothing is refused, as the configuration's is."""
        empty = next((m["name"] for m in ENV_VAR.finditer(value) if os.environ.get(m["name"]) == ""), None)
        if empty is not None:
            raise InputError(f"{where}: {option} {redact_unparsed(value)}: ${{{empty}}} is set to nothing here")
        text = self.expanded(value, where)
        if ENV_VAR.search(text):
            return
        if not text.strip():
            raise InputError(f"{where}: {option} {value!r} is empty here: its variable is set to nothing")
        if len(text.split()) > 1:
            raise InputError(
                f"{where}: {option} {redact(value)!r}: one option a line; uv reads the rest of the line "
                "as part of the URL"
            )
        if not SCHEME.match(text):  # a folder: uv takes a path that exists as a path
            place = self.location(where, value)
            if place is not None and not place.is_dir():
                raise InputError(f"{where}: {option} {redact(value)}: no such folder ({place})")
            return
        problem = url_problem(text, any_case=True)
        if problem:
            raise InputError(f"{where}: {option} {redact_unparsed(value)!r} {problem}")

    def kind_of_place(self, where: str, option: str, value: str, place: Path) -> None:
        """``-e`` installs a project folder and ``-f`` reads a folder of files or an HTML
        page of links: another file named there is a mistake uv would make once for
        every variant."""
        editable = option in ("-e", "--editable")
        if self.validate and place.is_file() and (editable or not links_page(place)):
            what = "a project folder" if editable else "a folder of wheels and sdists, nor a page of links"
            raise InputError(f"{where}: {option} {redact(value)} is a file, not {what}")
        if editable:
            self.a_project(where, value, place)

    def a_project(self, where: str, value: str, place: Path) -> None:
        """A folder installed as a project has what uv builds one from. A VCS URL's
        folder is a repository, whose files are in its history, not its work tree."""
        if not self.validate or _vcs(self.expanded(value)) or not place.is_dir():
            return
        if not any((place / f).is_file() for f in ("pyproject.toml", "setup.py")):
            raise InputError(f"{where}: {redact(value)} is a folder with no pyproject.toml or setup.py")

    def _binary(self, where: str, option: str, value: str) -> None:
        """``--no-binary`` and ``--only-binary`` take ``:all:``, ``:none:`` or names."""
        if value not in (":all:", ":none:") and not lines.NAME.fullmatch(value):
            more = "; uv reads one name a line here, not a comma list" if "," in value else ""
            raise InputError(f"{where}: {option} {value!r}: expected :all:, :none: or a package name{more}")

    def expanded(self, value: str, where: str = "") -> str:
        """``value`` with ``${VAR}`` expanded, as uv reads an intent file. What a variable
        puts into a URL's password or query, and every password, is a secret from now on
        (:func:`lockgen.redact.conceal`). ``where`` (the file and line): one put into a
        URL's user part that would end it early is refused, named, its value unshown."""

        odd = odd_variable(value) if where and "${" in value else None
        if odd:
            raise InputError(f"{where}: {odd}")

        def expand(m: re.Match[str]) -> str:
            if m["name"] == "PROJECT_ROOT":
                return str(self.root)
            found = os.environ.get(m["name"])
            if found is None:
                return m[0]
            if secret_at(value, m.start()):
                conceal(found, m["name"])
            problem = userinfo_problem(found) if where and userinfo_at(value, m.start()) else None
            if problem:
                raise InputError(f"{where}: {redact_unparsed(value)}: ${{{m['name']}}} {problem}")
            return found

        text = ENV_VAR.sub(expand, value) if "${" in value else value
        conceal_passwords(text)
        return text

    def location(self, where: str, value: str, *, base: Path | None = None) -> Path | None:
        """A folder, file or ``file:`` URL an intent file names must stay in the
        project's repository, as its includes must: a clone has to reproduce the lock.
        Returns the local place (None for an index or a VCS host).

        Read as uv reads it: ``${VAR}`` expanded; relative to the project root (uv's
        working folder), or to ``base`` (``-f`` folders: the file naming them). Compile
        checks the lock uv writes as well, so what slips past this reading is still caught.
        """
        text = self.expanded(value, where)
        if not text or ENV_VAR.search(text):  # a variable not set here: the machine that compiles sets it
            return None
        try:
            scheme = SCHEME.match(text)
            if scheme is not None:
                kind = scheme["scheme"].lower()
                if kind != "file" and not kind.endswith("+file"):
                    if self.validate:
                        self._remote(where, value, kind, urllib.parse.urlsplit(text))
                    return None  # an index or a VCS host: a clone reaches it as this machine does
                path = url_path(text)
                if kind != "file":
                    path = path.rsplit("@", 1)[0]  # git+file:///repo@v1
            else:
                path = text.split(";")[0].split("#")[0].strip()
            path = _EXTRAS.sub("", path)  # ./libs/x[dev], .[dev], file:./x[dev]: the folder is ./libs/x
            place = Path(os.path.normpath((base or self.root) / path))
            ok = self.boundary is None or inside(place, self.boundary)
        except ValueError as exc:  # an IPv6 bracket left open, a bad port, a NUL byte
            raise InputError(
                f"{where}: {redact_unparsed(value)!r} is not a usable path or URL ({unusable(exc)})"
            ) from None
        if not ok and self.boundary is not None:
            raise InputError(f"{where}: {redact(value)} is {outside_repository(self.boundary)}")
        problem = unreachable(place)
        if problem:
            raise InputError(f"{where}: {redact(value)}: {problem}")
        return place

    @staticmethod
    def _remote(where: str, value: str, kind: str, parts: urllib.parse.SplitResult) -> None:
        """A URL uv would refuse once for every variant (exit 1, no line named): a scheme
        it reads no requirement from (``htp:/x``, which it takes for a missing path), a
        web URL naming no host (``https:///x.whl``), a port out of range."""
        vcs, plus, transport = kind.partition("+")
        known = kind in ("http", "https") or (plus and vcs in _VCS and transport in _TRANSPORTS)
        if not known:
            raise InputError(
                f"{where}: {redact_unparsed(value)}: {kind}: is no scheme uv reads a requirement from "
                "(https, http, file, git+https and the like)"
            )
        parts.port  # noqa: B018 - a port out of range or not a number
        if transport in ("", "http", "https") and not parts.hostname:
            raise InputError(f"{where}: {redact_unparsed(value)} names no host")

    def named(self, where: str, option: str, value: str, *, base: Path | None = None) -> Path | None:
        """The local place a ``-e`` or ``-f`` value names (None where it is not local),
        there and of the kind the option wants."""
        place = self.location(where, value, base=base)
        if place is not None:
            self.kind_of_place(where, option, value, self.present(where, value, place))
        return place

    def present(self, where: str, written: str, place: Path) -> Path:
        """A local project or archive an intent file names must be there: bad input,
        named at its line, rather than one uv failure per variant."""
        if self.validate and not place.exists():
            raise InputError(f"{where}: {redact(written)} does not exist ({place})")
        return place


def varies(value: str) -> bool:
    """Does ``value`` name a place through a variable that may differ by machine (any but
    ``${PROJECT_ROOT}``, the project root everywhere)?"""
    return any(m["name"] != "PROJECT_ROOT" for m in ENV_VAR.finditer(value))


def links_page(path: Path) -> bool:
    """Can uv read the file ``path`` as a page of links (find-links)? Any UTF-8 text:
    a wheel or an archive named there is the mistake uv refuses."""
    try:
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def unquoted(value: str) -> str:
    """An option's value without the quotes around it, which uv (as pip) drops."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


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


def _vcs(text: str) -> bool:
    """Is ``text`` a VCS URL (``git+https://…``, ``git+file://…``)?"""
    scheme = SCHEME.match(text)
    return scheme is not None and "+" in scheme["scheme"]


def _only_ignored(option: str, value: str) -> bool:
    """Does the line of an option uv ignores hold nothing but that option's value and more
    options uv ignores (``--trusted-host a --trusted-host b``)? uv drops the whole line:
    anything else on it (``--pre -r other.in``) would be lost without a word."""
    words = value.split()
    if option not in FLAGS and words:
        words = words[1:]  # its own value
    while words:
        name = words[0].split("=")[0]
        if name not in IGNORED:
            return False
        takes = name not in FLAGS and "=" not in words[0]
        words = words[2:] if takes else words[1:]
    return True

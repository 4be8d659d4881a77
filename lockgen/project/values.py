"""Typed reads of ``[tool.lockgen]``'s values: each returns the value, or raises
an ``InputError`` that names the file and the full key."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from lockgen import cuda
from lockgen.exceptions import InputError
from lockgen.files import unreachable
from lockgen.project import platforms
from lockgen.redact import conceal_passwords, redact, redact_unparsed

_PYTHON = re.compile(r"3\.(0|[1-9][0-9]?)")
# CPython minors lockgen resolves for: 3.15 was released in October 2026 and 3.16 is
# in development; anything newer is a typo, not an upcoming release.
NEWEST_PYTHON_MINOR = 16
_URL = re.compile(r"(https?://[^\s/]+(/\S*)?|file://\S+)")  # an @ in a password is the user's; the last ends it
T = TypeVar("T")
U = TypeVar("U")


def url_problem(text: str, *, any_case: bool = False) -> str | None:
    """Why ``text`` is no http(s):// or file:// URL uv can use (None when it is one): the
    shape, then what ``urllib`` reads of it, a port out of range or not a number and an
    IPv6 bracket left open among them, each of which uv refuses once for every variant.
    ``any_case``: an intent file's ``HTTPS://``, which uv reads as ``https://`` there
    (on its command line, it finds nothing at such an index, and says only that)."""
    scheme, sep, rest = text.partition("://")
    if any_case and scheme.lower() in ("http", "https"):
        text = f"{scheme.lower()}://{rest}"
    if not _URL.fullmatch(text):
        if sep and _URL.fullmatch(f"{scheme.lower()}://{rest}"):  # on its command line, uv finds nothing at HTTPS://
            return f"is not an http(s):// or file:// URL: write its scheme as uv reads it, {scheme.lower()}://"
        return "is not an http(s):// or file:// URL"
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading it is the check
    except ValueError as exc:
        return f"is not a usable URL ({unusable(exc)})"
    if parts.scheme != "file" and not parts.hostname:
        return "names no host"
    return None


# What ends a URL's user part early when written as is (a '"' or '<' uv writes %22, %3C itself).
_NOT_IN_USERINFO = frozenset("/?#\\")


def userinfo_problem(value: str) -> str | None:
    """Why ``value`` (a ``${VAR}``'s) cannot stand in a URL's user name or password as
    written, in words that quote no piece of it; None where it can."""
    wrong = next((c for c in value if c in _NOT_IN_USERINFO or c.isspace()), None)
    if wrong is None:
        return None
    return (
        f"holds {wrong!r}, which a URL's user name or password cannot hold as written: "
        f"percent-encode it ({quote(wrong, safe='')})"
    )


def cutoff(exclude_newer: str) -> str:
    """The moment ``exclude_newer`` (as the configuration writes it) means, for uv's
    ``--exclude-newer``. uv reads a date, or a time with no offset (whose time it passes
    over), as the end of that day in the machine's time zone: one configuration locked
    other versions in Berlin than in CI. lockgen hands it the end of that day in UTC,
    what uv reads on a machine in UTC."""
    moment = _moment(exclude_newer)
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return exclude_newer
    day = moment.date() if isinstance(moment, datetime) else moment
    return f"{day + timedelta(days=1)}T00:00:00Z"


def _moment(text: str) -> date | datetime:
    """A date, or a date and time as RFC 3339 and uv write them (``T``, ``t`` or a space
    between, ``Z`` or ``z`` for UTC); ValueError where it is neither."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(
        f"{text[:10]}T{text[11:]}".removesuffix("z").removesuffix("Z") + ("+00:00" if text[-1:] in "zZ" else "")
    )


def unusable(exc: ValueError) -> str:
    """Why ``urllib`` refused a URL, in words that quote none of its parts: its own
    quote the port, which a '/' in a password makes a piece of the password."""
    said = str(exc)
    if "IPv6" in said:
        return "an IPv6 host's bracket is not closed"
    if "Port" in said:
        return "its port is not a number from 0 to 65535; a '/', '?' or '#' in a password is written %2F, %3F, %23"
    if "null" in said:
        return "it holds a NUL byte"
    return "urllib cannot read it"  # its own words may quote a piece of a password


def not_a_file(path: Path) -> str:
    """Why ``path``, no folder, is no file to read: not there, or no regular file."""
    return "not a regular file (a pipe, a device)" if path.exists() else "no such file"


def printable(text: str) -> str:
    """``text`` as is, or quoted when it holds line breaks or other control characters."""
    return text if text.isprintable() else json.dumps(text)


class Values:
    """Reads the values of one table in ``path`` (keys shown under ``prefix``)."""

    def __init__(self, path: Path, prefix: str, *, root: Path, boundary: Path) -> None:
        self.path = path
        self.prefix = prefix
        self.root = root  # relative paths are read from here
        self.boundary = boundary  # and may not leave this folder

    def fail(self, key: str, message: str) -> InputError:
        return InputError(f"{self.path}: {printable(self.prefix + key)}: {message}")

    def get(self, table: Mapping[str, Any], base: str, key: str, kind: Callable[[str, Any], T], default: U) -> T | U:
        if key not in table:
            return default
        return kind(f"{base}{key}", table[key])

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a list of non-empty strings" + _quote_numbers(key, value))
        if len(set(value)) != len(value):
            raise self.fail(key, "has duplicate entries")
        for v in value:
            self._printable(key, v)
        return tuple(value)

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "expected a non-empty string" + _quote_numbers(key, value))
        return self._printable(key, value)

    def _printable(self, key: str, value: str) -> str:
        """No value of the configuration (a path, URL, name, platform) holds a NUL, a line
        break or another control character; passed on, one would fail deep in the OS."""
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):  # a no-break space is printable
            raise self.fail(key, f"{printable(redact(value))} holds a control character")
        return value

    def files(self, key: str, value: Any) -> tuple[str, ...]:
        paths = self.strings(key, value)
        seen: dict[str, str] = {}
        for p in paths:
            self.file(key, p)
            same = seen.setdefault(os.path.normpath(p), p)
            if same != p:  # inputs/base.in and ./inputs/base.in: one file, read twice
                raise self.fail(key, f"{printable(same)} and {printable(p)} are the same file")
        return paths

    def file(self, key: str, value: Any) -> str:
        p = self.string(key, value)
        path = self.inside(key, p)
        if path.is_dir():
            raise self.fail(key, f"{printable(p)}: is a folder, not a file")
        if not path.is_file():
            raise self.fail(key, f"{printable(p)}: {not_a_file(path)}")
        return p

    def inside(self, key: str, p: str) -> Path:
        """``p`` under the configuration's folder, refused when it leaves the repository."""
        from lockgen.project.places import inside, outside_repository

        path = self.root / p
        problem = unreachable(path)
        if problem:
            raise self.fail(key, f"{printable(p)}: {problem}")
        if not inside(path, self.boundary):
            raise self.fail(key, f"{printable(p)} is {outside_repository(self.boundary)}")
        return path

    def url(self, key: str, value: Any) -> str:
        text = self.string(key, value)
        conceal_passwords(text)  # shown as *** wherever it turns up, whatever it holds
        problem = url_problem(text)
        if problem:
            raise self.fail(key, f"{redact_unparsed(text)!r} {problem}")
        return text

    def urls(self, key: str, value: Any) -> tuple[str, ...]:
        out = self.strings(key, value)
        for v in out:
            self.url(key, v)
        return out

    def links(self, key: str, value: Any) -> tuple[str, ...]:
        """find-links: URLs, or folders or pages of links (UTF-8 text) inside the project."""
        from lockgen.project.places import links_page

        out = self.strings(key, value)
        for v in out:
            if "://" in v:
                self.url(key, v)
                continue
            place = self.inside(key, v)
            if place.is_file() and not links_page(place):
                raise self.fail(key, f"{printable(v)}: a file, not a folder of wheels and sdists nor a page of links")
            if not place.exists():
                raise self.fail(key, f"{printable(v)}: no such folder")
        return out

    def pythons(self, key: str, value: Any) -> tuple[str, ...]:
        versions = self.strings(key, value)
        for v in versions:
            if not _PYTHON.fullmatch(v):
                raise self.fail(key, f'{v!r} is not a minor version like "3.12"')
            if int(v[2:]) > NEWEST_PYTHON_MINOR:
                raise self.fail(key, f"{v} is not a released or upcoming CPython (newest: 3.{NEWEST_PYTHON_MINOR})")
        return versions

    def platform_list(self, key: str, value: Any) -> tuple[platforms.Platform, ...]:
        out = []
        for v in self.strings(key, value):
            parsed = platforms.parse(v)
            if parsed is None:
                known = ", ".join(sorted(p for p in platforms.KNOWN if "manylinux_2_3" not in p))
                raise self.fail(key, f"{v!r} is not a uv --python-platform value lockgen knows ({known}, and "
                                     "x86_64 or aarch64 manylinux_2_31 to _2_40)")  # fmt: skip
            out.append(parsed)
        return tuple(out)

    def unknown(self, table: Mapping[str, Any], allowed: set[str], base: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{base}{key}", "unknown key")

    def integer(self, key: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "expected an integer")
        return value

    def cuda_version(self, key: str, value: Any) -> Version:
        text = self.string(key, value)
        try:
            version = Version(text)
        except InvalidVersion:
            version = None
        if version is None or len(version.release) != 2 or str(version) != text:
            raise self.fail(key, f'{text!r} is not a CUDA version like "12.8"')
        if cuda.targets(version) is None:
            raise self.fail(key, f"CUDA {text} is older than lockgen's table (11.0 onward)")
        if not cuda.known(version):
            newest = max(cuda.RELEASES)
            if version > newest:
                raise self.fail(
                    key, f"CUDA {text} is newer than every CUDA release lockgen knows (the newest: {newest})"
                )
            same = ", ".join(str(v) for v in sorted(cuda.RELEASES) if v.major == version.major)
            raise self.fail(key, f"CUDA {text} was never released (CUDA {version.major}: {same})")
        return version

    def archs(self, key: str, version: Version | None, archs: tuple[str, ...] | None) -> tuple[str, ...]:
        if version is None:
            if archs is not None:
                raise self.fail(key, "needs cuda: gpu-archs only apply to a CUDA accelerator")
            return ()
        possible = cuda.targets(version) or ()
        if archs is None:
            return possible
        out = []
        for arch in archs:
            normal = cuda.normalize_arch(arch)
            if normal is None or normal != arch:
                raise self.fail(key, f'{arch!r} is not a compute capability like "8.0"')
            if normal not in possible:
                raise self.fail(
                    key, f"{arch} is not a compute capability CUDA {version} can target ({', '.join(possible)})"
                )
            out.append(normal)
        if not out:
            raise self.fail(key, "must not be empty")
        return tuple(sorted(out, key=cuda.arch_key))

    def timestamp(self, key: str, value: Any) -> str:
        if isinstance(value, datetime | date):
            raise self.fail(key, 'write it as a quoted string, e.g. "2026-11-01T00:00:00Z"')
        text = self.string(key, value)
        try:
            if not re.match(r"\d{4}-\d{2}-\d{2}([Tt ]|$)", text):  # a week or ordinal date fromisoformat reads, uv not
                raise ValueError(text)
            _moment(text)
        except ValueError:
            raise self.fail(key, f"{text!r} is not an RFC 3339 timestamp or date") from None
        return text  # as written: what the input digest covers (uv is given its cutoff())


_EXAMPLES = {"python": "3.12", "cuda": "12.8", "gpu-archs": "8.0"}


def _quote_numbers(key: str, value: Any) -> str:
    """A hint where TOML read a version as a number (``3.10`` is the number 3.1)."""
    listed = isinstance(value, list)
    numbers = [v for v in (value if listed else [value]) if isinstance(v, int | float) and not isinstance(v, bool)]
    name = key.rsplit(".", 1)[-1]
    if not numbers or name not in _EXAMPLES:  # a path, a date, a name: no version to quote
        return ""
    version = _EXAMPLES[name]
    example = f'"{version}"' if name == "cuda" else f'["{version}"]'  # the form the key takes
    which = "each" if listed else "it"
    return f" (TOML reads an unquoted version as a number: quote {which} as written, {name} = {example})"

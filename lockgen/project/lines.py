"""One line of a requirement file, read as pip and uv read it: UTF-8 (a BOM
allowed), ``\\`` continuations joined, pip's comment rule, and a requirement checked
by one regular expression where it can, by ``packaging``'s full parser where not.
No file system here: where a line points, and whether it may, is ``intents``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from lockgen.exceptions import InputError

# name[extras] specifiers — the shape of nearly every line; anything else is parsed in full.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
NAME = re.compile(_NAME)  # a project name, as PEP 508 spells one
SIMPLE = re.compile(
    rf"(?P<name>{_NAME})\s*(?:\[\s*(?:{_NAME}\s*(?:,\s*{_NAME}\s*)*)?\])?\s*"
    r"(?P<specs>(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(?:,\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*)*)?"
)
_SPEC = re.compile(r"(===|==|!=|~=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)")
LEADING_NAME = re.compile(rf"\s*(?P<name>{_NAME})\s*(?:\[[^\]]*\])?\s*(?:@|;|$|[<>=!~(])")
AT_URL = re.compile(rf"\s*{_NAME}\s*(?:\[[^\]]*\])?\s*@\s*(?P<url>.+)", re.S)  # name @ url


def decode(rel: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{rel}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def strip_comment(line: str) -> str:
    """pip's rule: ``#`` starts a comment at the line's start or after whitespace."""
    at = line.find("#")
    while at != -1:
        if at == 0 or line[at - 1].isspace():
            return line[:at]
        at = line.find("#", at + 1)
    return line


_COMMENT_LINE = re.compile(r"(^|\s+)#.*$")


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
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


def plain_specifiers(specs: str) -> bool:
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


def check_requirement(where: str, requirement: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement  # 15 ms: only for unusual lines

    try:
        Requirement(requirement)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(f"{where}: invalid requirement {requirement!r}: {reason}") from None


def has_marker(requirement: str) -> bool:
    """Does a requirement line carry an environment marker? After a URL only behind a
    space (PEP 508: a URL may hold a ``;``), anywhere else after the name."""
    text = requirement.split(" --hash", 1)[0]
    if ";" not in text:  # nearly every line: no pattern to run
        return False
    if AT_URL.fullmatch(text):
        return re.search(r"\s;", text) is not None
    return ";" in text


def looks_like_location(text: str) -> bool:
    head = text.split(";")[0].strip()
    return (
        "://" in head
        or head.startswith((".", "/", "~", "${", "file:"))
        or "/" in head
        or "\\" in head
        or head.endswith((".whl", ".tar.gz", ".zip"))
    )


_PATCH_VERSION = re.compile(r"""['"](\d+)\.(\d+)\.(\d+)[^'"]*['"]""")


def true_later(marker: str, minor: str, environment: Mapping[str, str]) -> str | None:
    """The first patch release of ``minor`` (``"3.13"``) on which ``marker`` is true where
    it is false on ``minor``.0; None where there is none. Tried: .1, and each patch release
    the marker names and the one after it. ``environment``: the target's other marker
    values (its platform's); what it leaves out, this machine's, as ``packaging`` fills in."""
    from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

    try:
        parsed = Marker(marker)
    except InvalidMarker:
        return None
    named = {int(m[3]) for m in _PATCH_VERSION.finditer(marker) if f"{m[1]}.{m[2]}" == minor}

    def holds(patch: int) -> bool:
        try:
            full = f"{minor}.{patch}"  # a CPython's implementation_version is its python_full_version
            return parsed.evaluate(
                {**environment, "python_version": minor, "python_full_version": full, "implementation_version": full}
            )
        except (UndefinedComparison, UndefinedEnvironmentName):
            return False

    if holds(0):
        return None
    return next((f"{minor}.{z}" for z in sorted({1, *named, *(n + 1 for n in named)} - {0}) if holds(z)), None)

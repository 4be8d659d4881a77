"""Credentials never leave lockgen: what it prints or logs shows every URL's user name
and password as ``***``; what it writes leaves them out.

Index URLs may carry credentials (``https://user:token@host/simple``) in the
configuration, an intent file or uv's environment. lockgen passes them to uv as
given; whatever it prints or logs goes through :func:`redact`, and whatever it
writes through :func:`without_credentials`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Sequence

# scheme://userinfo@ — the authority ends at the first '/', '?', '#' or whitespace, and within
# it the userinfo at the last '@': a password may hold an '@' (uv reads such a URL so), and
# a "'" (RFC 3986 allows it unencoded there; a '"' or '<' it does not).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s\"<>]+)@")
# user:password@host with no scheme (a URL written without one): a colon before the '@'.
_BARE = re.compile(r"(?<![\w:@.-])(?P<userinfo>[^\s/@:\"'<>=]+:[^\s/@\"'<>]+)@(?=[\w\[])")

# A URL as printed, and as earlier lockgen releases wrote it into locks.
HIDDEN = "://***@"

# Secrets known by their value: passwords as written, and what a ``${VAR}`` put into a
# URL's password or query. Whatever the URL around them (a '/' or '"' in a password ends
# the patterns above early, and uv quotes such a URL whole in its error), redact hides
# them: where they stand alone, not inside a longer word (a password "test" leaves
# "pytest" be). User names are no such secret: one that is a login name would blank paths.
_known: list[str] = []
_known_pattern: re.Pattern[str] | None = None
# Those a ``${VAR}`` gave, each (and its percent-encoded forms) → the ``${VAR}`` that gave it.
_variables: dict[str, str] = {}
_variables_pattern: re.Pattern[str] | None = None
_SHORTEST = 4  # shorter values would hide ordinary words; the patterns above still catch them in a URL
# A URL's user part, as uv reads it: up to the authority's last '@' (a '"' in it too).
_WRITTEN_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")


def conceal(secret: str, variable: str | None = None) -> None:
    """Have :func:`redact` hide ``secret`` wherever it stands alone, from now on, as
    written and as a URL carries it percent-encoded (uv prints ``%20`` for a space);
    ``variable``, the ``${VAR}`` that gave it, is what :func:`unexpanded` writes for it."""
    global _known_pattern, _variables_pattern
    if len(secret) < _SHORTEST:
        return
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret, safe=_QUERY_SAFE)}
    if variable is not None:
        _variables.update(dict.fromkeys(forms, f"${{{variable}}}"))
        _variables_pattern = _standalone(_variables)
    if not forms <= set(_known):
        _known.extend(forms - set(_known))
        _known_pattern = _standalone(_known)


def _standalone(values: Iterable[str]) -> re.Pattern[str]:
    """Any of ``values`` where it stands alone, not inside a longer word; a value that
    holds another is matched whole."""
    alternatives = "|".join(map(re.escape, sorted(values, key=len, reverse=True)))
    return re.compile(f"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")


_QUERY_SAFE = "!$&'()*+,;=:@/?~"  # what a URL's query holds unencoded


def unexpanded(text: str) -> str:
    """``text`` with each secret a ``${VAR}`` gave, in a URL's query, written as that
    ``${VAR}`` again, for a file lockgen writes: a token in an index URL's query goes
    into a requirements export as ``?token=${TOKEN}``, which pip and uv expand from the
    environment. Only there: the same word elsewhere (a package named as the value of a
    ``?channel=${CHANNEL}``) is left as it is."""
    pattern = _variables_pattern
    if pattern is None or "?" not in text:
        return text
    return _QUERY.sub(lambda q: q["url"] + pattern.sub(lambda m: _variables[m[0]], q["query"]), text)


_QUERY = re.compile(r"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#]*\?)(?P<query>[^\s#]*)")


def forget() -> None:
    """Forget every secret :func:`conceal` learnt (a new run in the same process)."""
    global _known_pattern, _variables_pattern
    _known.clear()
    _known_pattern = None
    _variables.clear()
    _variables_pattern = None


def conceal_passwords(text: str) -> None:
    """Have :func:`redact` hide the password of every URL in ``text``, whatever it holds."""
    if "@" not in text:
        return
    for m in _WRITTEN_USERINFO.finditer(text):
        password = m["userinfo"].partition(":")[2]
        if "${" not in password:  # a variable's name, not yet its value: no secret, and named in messages
            conceal(password)


def userinfo_at(text: str, at: int) -> bool:
    """Is position ``at`` of ``text`` (``${VAR}`` not yet expanded) in a URL's user part?"""
    return any(m.start("userinfo") <= at < m.end() for m in _WRITTEN_USERINFO.finditer(text))


def secret_at(text: str, at: int) -> bool:
    """Is position ``at`` of ``text`` (``${VAR}`` not yet expanded) in a URL's password,
    in a user part that is all token (``https://${TOKEN}@host``), or in its query: where
    credentials and tokens go? A user name beside a password is none."""
    for m in _WRITTEN_USERINFO.finditer(text):
        start, end, colon = m.start("userinfo"), m.end("userinfo"), m["userinfo"].find(":")
        if (start + colon < at < end) if colon != -1 else (start <= at < end):
            return True
    query = text.rfind("?", 0, at)
    return query != -1 and "://" in text[:query] and not any(c.isspace() for c in text[query:at])


def redact(text: str) -> str:
    """``text`` with the user name and password of every URL shown as ``***``. An SSH
    URL's bare user name (``git+ssh://git@github.com``) is no secret and stays: the
    lock needs it to clone."""
    if _known_pattern is not None:
        text = _known_pattern.sub("***", text)
    if "@" not in text:  # the common case costs one scan
        return text
    return _BARE.sub("***@", _USERINFO.sub(_hide, text))


def redact_unparsed(url: str) -> str:
    """A URL that failed to parse, shown: everything from its scheme to its last '@' as
    ``***``. :func:`redact` finds a user part by where a URL's parts end, and a '/' in a
    password ends it early; a URL that did not parse is no guide to where it ends."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return redact(f"{scheme}://***@{rest.rsplit('@', 1)[1]}")
    return redact(url)


def _hide(m: re.Match[str]) -> str:
    scheme, userinfo = m["scheme"], m["userinfo"]
    if scheme.lower().endswith("ssh://") and ":" not in userinfo:
        return m.group(0)
    return f"{scheme}***@"


def without_credentials(text: str) -> str:
    """``text`` with the user name and password of every URL left out, for the files
    lockgen writes (locks, requirements exports). ``https://***@host/…`` would name a
    user ``***`` to uv, pip and git, and their netrc, keyring and credential helpers
    find nothing for that user; with no user at all, they supply the credentials. An
    SSH URL keeps its user name (not its password): the lock needs it to clone. The
    user part is read as uv reads it, to the authority's last '@': a password holding
    a '"', '<' or '>' was written whole into an export."""
    if "@" not in text:
        return text
    return _BARE.sub("", _WRITTEN_USERINFO.sub(_drop, text))


def _drop(m: re.Match[str]) -> str:
    scheme, userinfo = m["scheme"], m["userinfo"]
    if scheme.lower().endswith("ssh://"):
        return f"{scheme}{userinfo.split(':', 1)[0]}@"
    return scheme


Realm = tuple[str, str, int | None]  # scheme, host, port: what one set of credentials is good for


def realm(url: str) -> Realm:
    """``url``'s scheme, host and port, as uv keys credentials: case, a default port
    written out and a trailing dot in the host make no other realm."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "", "", None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip(".").lower(), port or _DEFAULT_PORT.get(scheme)


_DEFAULT_PORT = {"http": 80, "https": 443}


def userinfo_for(url: str, credentialed: Sequence[str]) -> str | None:
    """The user part (as written: ``user:password``) of the URL in ``credentialed`` whose
    credentials serve ``url``: of the same realm, and of several, the one whose path
    shares the longest start with ``url``'s (an index's ``/a/simple`` for its
    ``/a/files/…``); the first of equals. None where none is of that realm."""
    where, path = realm(url), _split(url).path
    best: tuple[int, str] | None = None
    for candidate in credentialed:
        parts = _split(candidate)
        if "@" not in parts.netloc or realm(candidate) != where:
            continue
        shared = _shared_segments(path, parts.path)
        if best is None or shared > best[0]:
            best = (shared, parts.netloc.rsplit("@", 1)[0])
    return best[1] if best else None


def _split(url: str) -> urllib.parse.SplitResult:
    """``url``'s parts; none for what is no URL (``https://[::1`` with its bracket open)."""
    try:
        return urllib.parse.urlsplit(url)
    except ValueError:
        return urllib.parse.SplitResult("", "", "", "", "")


def _shared_segments(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/")[1:], b.split("/")[1:], strict=False):
        if x != y:
            break
        n += 1
    return n


def lent(url: str, credentialed: Sequence[str]) -> str:
    """``url`` with the credentials :func:`userinfo_for` finds, where it has none of its
    own: for a copy only uv reads, never a file lockgen keeps."""
    parts = _split(url)
    if "@" in parts.netloc or not parts.netloc:
        return url
    userinfo = userinfo_for(url, credentialed)
    at = url.index("://") + 3
    return f"{url[:at]}{userinfo}@{url[at:]}" if userinfo else url  # nothing else of the URL touched

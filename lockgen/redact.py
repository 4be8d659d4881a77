"""Credentials never leave lockgen: what it prints or logs shows every URL's user name
and password as ``***``; what it writes leaves them out.

Index URLs may carry credentials (``https://user:token@host/simple``) in the
configuration, an intent file or uv's environment. lockgen passes them to uv as
given; whatever it prints or logs goes through :func:`redact`, and whatever it
writes through :func:`without_credentials`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# scheme://userinfo@ — the authority ends at the first '/', '?', '#' or whitespace, and within
# it the userinfo at the last '@': a password may hold an '@' (uv reads such a URL so), and
# a "'" (RFC 3986 allows it unencoded there; a '"' or '<' it does not).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s\"<>]+)@")
# user:password@host with no scheme (a URL written without one): a colon before the '@'.
_BARE = re.compile(r"(?<![\w:@.-])(?P<userinfo>[^\s/@:\"'<>=]+:[^\s/@\"'<>]+)@(?=[\w\[])")

# A URL as printed, and as earlier lockgen releases wrote it into locks.
HIDDEN = "://***@"


def redact(text: str) -> str:
    """``text`` with the user name and password of every URL shown as ``***``. An SSH
    URL's bare user name (``git+ssh://git@github.com``) is no secret and stays: the
    lock needs it to clone."""
    if "@" not in text:  # the common case costs one scan
        return text
    return _BARE.sub("***@", _USERINFO.sub(_hide, text))


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
    SSH URL keeps its user name (not its password): the lock needs it to clone."""
    if "@" not in text:
        return text
    return _BARE.sub("", _USERINFO.sub(_drop, text))


def _drop(m: re.Match[str]) -> str:
    scheme, userinfo = m["scheme"], m["userinfo"]
    if scheme.lower().endswith("ssh://"):
        return f"{scheme}{userinfo.split(':', 1)[0]}@"
    return scheme


_AUTHORITY = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:(?P<userinfo>[^/?#\s\"<>]+)@)?(?P<host>[^/?#\s\"<>@]+)"
)


def by_host(urls: Iterable[str]) -> dict[str, str]:
    """``{scheme://host[:port]: user:password}`` of the URLs that carry credentials."""
    out = {}
    for url in urls:
        m = _AUTHORITY.match(url)
        if m and m["userinfo"]:
            out[f"{m['scheme'].lower()}{m['host'].lower()}"] = m["userinfo"]
    return out


def lent(url: str, credentials: Mapping[str, str]) -> str:
    """``url`` with the credentials ``credentials`` holds for its scheme, host and port,
    where it has none of its own: for a copy only uv reads, never a file lockgen keeps."""
    m = _AUTHORITY.match(url)
    if not m or m["userinfo"]:
        return url
    userinfo = credentials.get(f"{m['scheme'].lower()}{m['host'].lower()}")
    return f"{m['scheme']}{userinfo}@{url[len(m['scheme']) :]}" if userinfo else url

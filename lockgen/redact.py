"""Credentials never leave lockgen: every URL's user name and password become ``***``.

Index URLs may carry credentials (``https://user:token@host/simple``) in the
configuration, an intent file or uv's environment. lockgen passes them to uv as
given, but whatever it prints, logs or writes goes through :func:`redact` first.
"""

from __future__ import annotations

import re

# scheme://userinfo@ — the authority ends at the first '/', '?', '#' or whitespace, and within
# it the userinfo at the last '@': a password may hold an '@' (uv reads such a URL so).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s\"'<>]+)@")
# user:password@host with no scheme (a URL written without one): a colon before the '@'.
_BARE = re.compile(r"(?<![\w:@.-])(?P<userinfo>[^\s/@:\"'<>=]+:[^\s/@\"'<>]+)@(?=[\w\[])")


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

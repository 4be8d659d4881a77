"""uv as the installer: create an environment, install a lock into it, uninstall.

``uv pip install -r pylock.toml`` installs exactly the lock's artifacts, checking
every hash before it changes anything, and removes nothing; what the lock lacks
is uninstalled by name, so the installer's own pip, setuptools and wheel are
never in uv's reach.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from lockgen import files, uv
from lockgen.exceptions import CommandError, InputError, LockgenError
from lockgen.install.environment import CREATING, Target
from lockgen.locks import pylock
from lockgen.names import canonical
from lockgen.project.config import Config, Variant
from lockgen.redact import HIDDEN, lent, without_credentials

_QUIET = ("--no-config", "--quiet", "--color", "never")
_LOCATION = re.compile(r'\b(?P<key>url|path) = "(?P<value>[^"]+)"')


def create(prefix: Path, python: str) -> None:
    """A new virtual environment at ``prefix``, marked as sync's own until it is made,
    so that a kill while uv makes it leaves a folder the next sync may start over. The
    folder itself may be there: made empty by this sync to lock it (see :func:`claimed`),
    or a killed sync's half-made one, which is emptied rather than removed, so that a
    sync waiting for this one keeps waiting on the very folder it locked."""
    marker = prefix / CREATING
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        if marker.is_file():  # a killed sync's half-made one
            _empty(prefix)
        elif any(prefix.iterdir()):
            raise LockgenError(f"{prefix}: exists but is not a virtual environment (no pyvenv.cfg); move it away")
    except OSError as exc:
        raise LockgenError(f"cannot create the virtual environment {prefix}: {exc.strerror or exc}") from None
    try:
        _mark(marker)
        uv.run(["venv", str(prefix), "--python", python, "--allow-existing", *_QUIET])
        marker.unlink()
    except (OSError, LockgenError) as exc:  # uv's CommandError among them
        shutil.rmtree(prefix, ignore_errors=True)  # made just now: nothing of it is left behind
        said = exc.strerror or exc if isinstance(exc, OSError) else str(exc).removeprefix("error: ")
        reason = " ".join(line.strip() for line in str(said).splitlines())
        raise LockgenError(f"cannot create the virtual environment {prefix}: {reason}") from None
    except BaseException:  # Ctrl-C, a signal: no half-made environment is left either
        shutil.rmtree(prefix, ignore_errors=True)
        raise


def _mark(marker: Path) -> None:
    """The marker, written in place, not renamed into it: the first name in the folder must
    say whose it is. A temporary file there first was, to a sync reading the folder before
    it waits for this one, "a folder that is no environment": refused, exit 2."""
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    files.fsync_dir(marker.parent)


@contextlib.contextmanager
def claimed(prefix: Path) -> Iterator[None]:
    """For a sync about to make the environment ``prefix``: its folder, made now (empty),
    so that the run lock can lock it from the first moment. Another sync whose run locks
    live in another cache folder (``sudo``, a CI job's own ``LOCKGEN_CACHE_DIR``) then
    waits for this one instead of making the environment too. A failure that leaves the
    folder empty removes it again: a failed first sync leaves no environment."""
    with files.made_folder(prefix):
        yield


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def install(
    lock_file: Path,
    target: Target,
    *,
    reinstall: Iterable[str] = (),
    wheelhouse: Path | None = None,
    indexes: Sequence[str] = (),
) -> None:
    """Install the lock's artifacts. ``indexes`` (the variant's own, credentials
    included) resolve nothing here: they let uv authenticate to the hosts that serve
    the lock's files, as they did when it was compiled. From a ``wheelhouse`` (the
    lock already rewritten to its files): offline, no index, and the wheelhouse as
    find-links, where an sdist's build requirements are found."""
    offline = wheelhouse is not None
    args = ["pip", "install", "-r", str(lock_file), "--python", str(target.interpreter), "--preview-features", "pylock"]
    if not offline:
        for url in indexes:
            args += ["--index", url]
    if not target.virtual:
        args.append("--break-system-packages")  # the user asked for it with --system
    if wheelhouse is not None:
        args += ["--offline", "--no-index", "--find-links", str(wheelhouse.resolve())]
    for name in sorted(reinstall):
        args += ["--reinstall-package", name]
    uv.run([*args, *_QUIET])


def credentials(config: Config, variant: Variant) -> tuple[tuple[str, ...], list[str]]:
    """What lets uv authenticate to the hosts that serve the lock's files, as compile
    did: the variant's indexes (given to uv as indexes, which resolve nothing here), and
    the URLs with a user in them, the configured ones first and then every one its
    intent files name (``${VAR}`` expanded; the lock carries none), whose credentials
    are lent to the URLs of the copy uv installs from (:func:`lockgen.redact.lent`).
    Not as indexes: a file host or a git host would rank before PyPI for what an sdist's
    build requires."""
    from lockgen.project.intents import Inputs

    index_url, extra_index_urls, find_links = config.urls(variant)
    configured = [u for u in (index_url, *extra_index_urls) if u]
    named = Inputs.of(config, validate=False).credentialed_urls(variant)
    return tuple(configured), [u for u in (*configured, *find_links, *named) if "@" in u]


def forget(names: Iterable[str]) -> None:
    """Drop ``names`` from uv's cache. uv installs by hard-linking files from its cache,
    so a file changed in place in the environment is changed in the cache too, and a
    reinstall would link the same damaged file again: it must unpack afresh."""
    names = sorted(names)
    if names:
        uv.run(["cache", "clean", *names, *_QUIET])


def uninstall(target: Target, names: Iterable[str]) -> None:
    names = sorted(names)
    if names:
        args = ["pip", "uninstall", "--python", str(target.interpreter), *names]
        if not target.virtual:
            args.append("--break-system-packages")
        uv.run([*args, *_QUIET])


def rewrite(
    lock: pylock.Lock,
    keep: Iterable[str],
    dest: Path,
    *,
    wheelhouse: Mapping[str, Path] | None = None,
    credentials: Sequence[str] = (),
) -> Path:
    """A copy of ``lock`` in folder ``dest`` with only the packages ``keep``, every
    relative artifact path made absolute, and (with ``wheelhouse``, file name →
    local file) every artifact read from the wheelhouse instead of its URL. With
    ``credentials`` (URLs with a user in them), every URL of their hosts carries the
    fitting one, as the URLs uv fetched them from at compile did: ``dest`` must be a
    private folder."""
    wanted = set(keep)
    credentials = [_toml_escaped(url) for url in credentials]  # lent into TOML strings
    head = lock.text.split("\n[[packages]]\n", 1)[0]
    body = [block for name, block in pylock.blocks(lock.text).items() if canonical(name) in wanted]
    base = lock.path.parent

    def relocate(m: re.Match[str]) -> str:
        value = m["value"]
        filename = pylock.file_name(value)
        if wheelhouse is not None and filename in wheelhouse:
            return f'path = "{wheelhouse[filename].as_posix()}"'
        if m["key"] == "path" and not Path(value).is_absolute():
            return f'path = "{(base / value).resolve().as_posix()}"'
        if HIDDEN in value:  # an earlier release's "***": uv finds no credentials for that user
            value = without_credentials(value)
        if m["key"] == "url" and credentials:
            value = lent(value, credentials)
        return f'{m["key"]} = "{value}"'

    text = head.rstrip("\n") + "\n\n" + "\n".join(_LOCATION.sub(relocate, block) for block in body)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / lock.path.name
    out.write_text(text, encoding="utf-8")
    return out


def _toml_escaped(text: str) -> str:
    """``text`` as the inside of a TOML basic string: a '"' or '\\' in a password, or a
    control character, would end the string or the file's sense (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)[1:-1].replace("\x7f", "\\u007f")


class InstallError(LockgenError):
    """uv could not install or uninstall; carries uv's reason and what state was left."""


def failed(exc: CommandError, what: str, state: str) -> InstallError:
    return InstallError(f"uv could not {what}; {state}:\n{exc}")


def serving(lock: pylock.Lock, folder: Path) -> dict[str, Path]:
    """For ``sync --wheelhouse``: file name → local file, for every artifact of the lock,
    found in the folder with its locked size (its sha256 where the lock has no size);
    an error naming each one that is missing or of another size. Reading a wheelhouse
    needs none of what making one does (urllib, ssl: ~30 ms of start-up)."""
    problem = files.unreachable(folder)
    if problem or not folder.is_dir():
        raise InputError(f"--wheelhouse: {folder}: {problem or 'no such folder'}")
    if lock.unfiled:
        raise LockgenError(
            f"--wheelhouse {folder} cannot serve {lock.path.name}: {', '.join(lock.unfiled)} installs from a VCS "
            "checkout, which needs the network. Nothing was changed"
        )
    found: dict[str, Path] = {}
    missing, wrong = [], []
    for a in lock.artifacts():
        path = folder / a.filename
        if not path.is_file():
            missing.append(a.filename)
            continue
        if a.size is not None and path.stat().st_size != a.size:
            wrong.append(f"{a.filename} ({path.stat().st_size} bytes, the lock says {a.size})")
            continue
        if a.size is None and a.sha256 and files.sha256(path).hex() != a.sha256:  # no size: the bytes
            wrong.append(f"{a.filename} (its sha256 is not the lock's)")
            continue
        found[a.filename] = path.resolve()
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        if wrong:
            parts.append(f"corrupt: {', '.join(wrong[:5])}")
        remedy = (
            f"remove the corrupt files, then run: lockgen wheelhouse {folder}"
            if wrong
            else f"run: lockgen wheelhouse {folder}"
        )
        raise LockgenError(
            f"--wheelhouse {folder} cannot serve {lock.path.name}: {'; '.join(parts)}. Nothing was changed ({remedy})"
        )
    return found

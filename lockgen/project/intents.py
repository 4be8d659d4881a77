"""The intent files of a project's variants, and the input digest.

Each file is read once (:mod:`lockgen.project.intentfile`); here they are followed
through their ``-r``/``-c`` includes into what a variant reads, which is digested,
copied for uv, and asked which names it requires.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.project import lines, local
from lockgen.project.config import Config, Variant
from lockgen.project.intentfile import IntentFile, Reader
from lockgen.project.places import ENV_VAR, Places

DIGEST_SCHEME = 1
MAX_DEPTH = 200  # uv overflows its stack somewhere past 600 nested -r files
_CREDENTIALED = re.compile(r"https?://[^\s/?#]+@\S+", re.IGNORECASE)  # the user part up to the authority's last '@'


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
    _reader: Reader = field(init=False)

    def __post_init__(self) -> None:
        self.places = Places(self.root, self.boundary, self.validate)
        self.projects = local.Projects(self.root, self.boundary)
        self._reader = Reader(self.root, self.boundary, self.places, self.validate)

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

    def archive_digest(self, variant: Variant) -> str | None:
        """sha256 over the wheels and sdists the variant installs by path (an intent file's
        ``vend @ file:./vendor/vend-1.0-py3-none-any.whl``, a local project's
        ``[tool.uv.sources]``); None where it installs none. Apart from :meth:`digest`:
        compile and check need the files, and a rebuilt one makes the lock stale; sync and
        verify do not (a wheelhouse holds them, or a checkout without git-lfs has only
        pointers), and install what the lock's hashes say."""
        closure = self.closure(variant)
        archives = self._archives(closure, self.local_projects(closure))
        if not archives:
            return None
        files = {rel: self.projects.archive_sha(rel) for rel in archives}
        return hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()

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

    def patch_markers(self, variant: Variant) -> list[str]:
        """Why the variant's lock may miss a requirement on later patch releases: a marker
        false on the variant's X.Y.0 and true on a later X.Y.z. uv resolves
        ``--python-version 3.13`` for 3.13.0, and the lock serves every 3.13.y."""
        out = []
        for f in self._requirement_files(variant):
            for line, marker in f.patch_markers:
                later = lines.true_later(marker, variant.python, variant.platform.markers())
                if later:
                    out.append(
                        f"{f.rel}:{line}: its marker is false on Python {variant.python}.0 and true on {later}: a lock "
                        f"for {variant.python} is resolved for {variant.python}.0 (as uv resolves it) yet serves every "
                        f"{variant.python}.x, so what it requires there is not in the lock (mark by python_version "
                        "instead)"
                    )
        return out

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
            self._files[rel] = self._reader.read(rel)
        return self._files[rel]

    def _archives(self, closure: Iterable[IntentFile], projects: list[str]) -> list[str]:
        """The wheels and sdists the files install by path, and those the local projects'
        sources do, each once."""
        return sorted({rel for f in closure for rel in f.archives} | set(self.projects.archives(projects)))

    def local_projects(self, closure: Iterable[IntentFile]) -> list[str]:
        """The local projects the files install, and those their ``[tool.uv.sources]``
        install from a folder in turn (:meth:`local.Projects.reached`)."""
        return self.projects.reached({p for f in closure for p in f.projects})

    def changed(self, variant: Variant) -> list[str]:
        """The local projects' files uv read for the variant that were written since they
        were digested (:meth:`local.Projects.changed`)."""
        closure = self.closure(variant)
        projects = self.local_projects(closure)
        return self.projects.changed(projects, self._archives(closure, projects))


def _named(intent: IntentFile) -> Iterator[tuple[str, str]]:
    """The files ``intent`` names, each with how (``-r`` or ``-c``)."""
    yield from (("-r", rel) for rel in intent.includes)
    yield from (("-c", rel) for rel in intent.constraints)

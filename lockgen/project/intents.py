"""Intent files (pip-compile ``.in`` syntax) and the input digest (SPEC §3)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lockgen.exceptions import InputError
from lockgen.project.config import Variant

DIGEST_SCHEME = 1
_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=?\s*|\s+)(?P<path>\S+)$")
# Options pip and uv accept inside requirement files; their text is digested as written.
_OPTIONS = (
    "-e", "--editable", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
    "--no-index", "--no-binary", "--only-binary", "--pre", "--prefer-binary", "--trusted-host",
)  # fmt: skip


@dataclass(slots=True)
class Inputs:
    """Reads each intent file once; keyed by path relative to the project root."""

    root: Path
    validate: bool = True  # check every requirement line (compile, check); sync only needs the digest
    _files: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def digest(self, variant: Variant) -> str:
        """sha256 over the variant's settings and every file it reads."""
        files: dict[str, str] = {}
        for path in (*variant.inputs, *variant.constraints):
            self._walk(path, files)
        payload = {"scheme": DIGEST_SCHEME, "settings": variant.settings(), "files": sorted(files.items())}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _walk(self, rel: str, seen: dict[str, str]) -> None:
        if rel in seen:
            return
        sha, includes = self._read(rel)
        seen[rel] = sha
        for inc in includes:
            if not (self.root / inc).is_file():
                raise InputError(f"{rel}: includes {inc}, which does not exist")
            self._walk(inc, seen)

    def _read(self, rel: str) -> tuple[str, tuple[str, ...]]:
        if rel not in self._files:
            path = self.root / rel
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"{rel}: cannot read: {exc.strerror}") from None
            includes = tuple(
                self._rel(path.parent / inc)
                for inc in parse(rel, data.decode("utf-8", "replace"), validate=self.validate)
            )
            self._files[rel] = (hashlib.sha256(data).hexdigest(), includes)
        return self._files[rel]

    def _rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()


def parse(name: str, text: str, *, validate: bool = True) -> list[str]:
    """The files one intent file includes (``-r``/``-c``), validating it on the way."""
    includes = []
    for number, line in _logical_lines(text):
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        if line.startswith("-"):
            m = _INCLUDE.match(line)
            if m:
                includes.append(m["path"])
            elif line.split("=")[0].split()[0] not in _OPTIONS:
                raise InputError(f"{name}:{number}: unknown option {line.split()[0]!r}")
            continue
        if validate:
            _check_requirement(f"{name}:{number}", line.split(" --hash", 1)[0].strip())
    return includes


def _check_requirement(where: str, requirement: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement  # 15 ms: only when validating

    try:
        Requirement(requirement)
    except InvalidRequirement as exc:
        if not _looks_like_location(requirement):
            reason = str(exc).splitlines()[0]
            raise InputError(f"{where}: invalid requirement {requirement!r}: {reason}") from None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        out.append((start, pending + raw))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _looks_like_location(text: str) -> bool:
    return "://" in text or text.startswith((".", "/")) or text.endswith((".whl", ".tar.gz", ".zip"))

"""Reading and validating ``[tool.lockgen]`` into variants."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from lockgen._toml import TOMLDecodeError, loads
from lockgen.exceptions import InputError
from lockgen.files import unreachable
from lockgen.names import canonical
from lockgen.project import platforms
from lockgen.project.values import Values, not_a_file, userinfo_problem
from lockgen.redact import conceal, conceal_passwords, secret_at, userinfo_at, without_credentials

DEFAULT_PLATFORM = "x86_64-manylinux_2_28"
FORMATS = ("pylock", "requirements")
_NAME = re.compile(r"[a-z0-9]+")
_PACKAGE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_TOP_KEYS = {
    "inputs", "python", "platforms", "locks-dir", "constraints", "forbid", "index-url",
    "extra-index-urls", "find-links", "exclude-newer", "formats", "accelerators",
}  # fmt: skip
_ACCEL_KEYS = {
    "inputs", "python", "platforms", "constraints", "index-url", "extra-index-urls",
    "find-links", "priority", "cuda", "gpu-archs", "base",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Accelerator:
    """One accelerator of the configuration: CPU, or a CUDA version and its GPU architectures."""

    name: str
    cuda: Version | None
    gpu_archs: tuple[str, ...]
    priority: int
    order: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One lock: python × platform × accelerator, with its resolved settings."""

    name: str
    python: str
    platform: platforms.Platform
    accelerator: Accelerator
    inputs: tuple[str, ...]  # paths relative to the config's folder, as written
    constraints: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    exclude_newer: str | None
    base: str | None = None  # a freeze of the preinstalled environment this variant overlays

    def settings(self, *, with_credentials: bool = False) -> dict[str, Any]:
        """Everything besides file contents that decides this variant's resolution. Not
        an index's credentials: a rotated token leaves every lock current (lockgen 0.3
        counted them: ``with_credentials``, the digest its locks carry)."""
        url = (lambda u: u) if with_credentials else without_credentials
        acc = self.accelerator
        return {
            "variant": self.name,
            "python": self.python,
            "platform": self.platform.uv,
            "accelerator": acc.name,
            "cuda": str(acc.cuda) if acc.cuda else None,
            "gpu-archs": list(acc.gpu_archs),
            "inputs": list(self.inputs),
            "constraints": list(self.constraints),
            "index-url": self.index_url and url(self.index_url),
            "extra-index-urls": [url(u) for u in self.extra_index_urls],
            "find-links": [url(u) for u in self.find_links],
            "exclude-newer": self.exclude_newer,
        } | ({"base": self.base} if self.base is not None else {})


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A project's lockgen configuration, validated."""

    path: Path
    root: Path  # the configuration's folder: relative paths start here
    boundary: Path  # the project's repository root (git top level, else ``root``)
    locks_dir: Path
    forbid: frozenset[str]
    formats: tuple[str, ...]
    variants: tuple[Variant, ...]

    def relative(self, path: Path) -> str:
        """``path`` as the project names it: relative to the config's folder when inside it."""
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def urls(self, variant: Variant) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
        """The variant's index URL, extra index URLs and find-links as uv gets them: each
        ``${VAR}`` taken from the environment, as uv takes it in an intent file (how a
        token stays out of the configuration). One this machine does not set is bad input."""
        return (
            variant.index_url and self._expanded("index-url", variant.index_url),
            tuple(self._expanded("extra-index-urls", u) for u in variant.extra_index_urls),
            tuple(self._expanded("find-links", u) for u in variant.find_links),
        )

    def _expanded(self, key: str, url: str) -> str:
        def value(m: re.Match[str]) -> str:
            found = os.environ.get(m["name"])
            where = f"{self.path}: {key}: {without_credentials(url)}: ${{{m['name']}}}"
            if not found:
                raise InputError(f"{where} is not set here")
            if secret_at(url, m.start()):
                conceal(found, m["name"])
            problem = userinfo_problem(found) if userinfo_at(url, m.start()) else None
            if problem:
                raise InputError(f"{where} {problem}")
            return found

        if "${" not in url:
            return url
        from lockgen.project.places import ENV_VAR, odd_variable  # the syntax uv expands in intent files

        odd = odd_variable(url)
        if odd:
            raise InputError(f"{self.path}: {key}: {odd}")

        expanded = ENV_VAR.sub(value, url)
        conceal_passwords(expanded)
        return expanded

    def select(self, patterns: Sequence[str]) -> list[Variant]:
        """The variants whose names match any shell-glob pattern (all without patterns)."""
        if not patterns:
            return list(self.variants)
        chosen = [v for v in self.variants if any(fnmatch.fnmatchcase(v.name, p) for p in patterns)]
        if not chosen:
            known = ", ".join(v.name for v in self.variants)
            raise InputError(f"{self.path}: no variant matches {' '.join(patterns)} (variants: {known})")
        return chosen

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variants)
        raise InputError(f"{self.path.name}: no variant named {name!r} (variants: {known})")


def find(start: Path, explicit: Path | None = None) -> tuple[Path, Mapping[str, Any], str]:
    """The config file, its lockgen table and the key prefix used in messages."""
    if explicit is not None:
        problem = unreachable(explicit)
        if problem:
            raise InputError(f"{explicit}: --config: {problem}")
        if explicit.is_dir():
            raise InputError(f"{explicit}: --config: is a folder; name lockgen.toml or pyproject.toml")
        if not explicit.is_file():
            raise InputError(f"{explicit}: --config: {not_a_file(explicit)}")
        return _table(explicit, required=True)
    for folder in (start, *start.parents):
        for name in ("lockgen.toml", "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file():
                found = _table(candidate, required=name == "lockgen.toml")
                if found[1] is not None:
                    return found
    raise InputError(f"{start}: no lockgen.toml or pyproject.toml with [tool.lockgen] here or above")


def _table(path: Path, *, required: bool) -> tuple[Path, Any, str]:
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    except TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from exc
    if path.name != "pyproject.toml":
        if isinstance(data.get("tool"), dict) and "lockgen" in data["tool"]:
            raise InputError(
                f"{path}: tool.lockgen: only pyproject.toml holds a [tool.lockgen] table; any other file is read "
                "as lockgen.toml is, its keys at the top level"
            )
        return path, data, ""
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise InputError(f"{path}: tool: expected a table")
    table = tool.get("lockgen")
    if table is None and required:
        raise InputError(f"{path}: tool.lockgen: missing table")
    if table is not None and not isinstance(table, dict):
        raise InputError(f"{path}: tool.lockgen: expected a table")
    return path, table, "tool.lockgen."


def repository_root(folder: Path) -> Path:
    """The git top level above ``folder`` (a ``.git`` folder or file), else ``folder``."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def load(start: Path, explicit: Path | None = None) -> Config:
    path, table, prefix = find(start, explicit)
    return _Reader(path, prefix).config(table)


class _Reader(Values):
    """Validates ``[tool.lockgen]`` into a :class:`Config`; every error names the file and the full key."""

    def __init__(self, path: Path, prefix: str) -> None:
        root = path.resolve().parent
        super().__init__(path, prefix, root=root, boundary=repository_root(root))

    def config(self, table: Mapping[str, Any]) -> Config:
        self.unknown(table, _TOP_KEYS, "")
        for key in ("inputs", "python", "accelerators"):
            if key not in table:
                raise self.fail(key, "required key is missing")
        inputs = self.files("inputs", table["inputs"])
        pythons = self.pythons("python", table["python"])
        default_platform = platforms.parse(DEFAULT_PLATFORM)
        assert default_platform is not None
        plats = self.get(table, "", "platforms", self.platform_list, (default_platform,))
        if not pythons or not plats:
            raise self.fail("python" if not pythons else "platforms", "must not be empty")
        forbid = self.get(table, "", "forbid", self.strings, ())
        for name in forbid:
            if not _PACKAGE.fullmatch(name):
                raise self.fail("forbid", f"{name!r} is not a package name")
        formats = self.get(table, "", "formats", self.strings, ("pylock",))
        for f in formats:
            if f not in FORMATS:
                raise self.fail("formats", f"{f!r} is not one of {', '.join(map(repr, FORMATS))}")
        shared = {
            "constraints": self.get(table, "", "constraints", self.files, ()),
            "index_url": self.get(table, "", "index-url", self.url, None),
            "extra_index_urls": self.get(table, "", "extra-index-urls", self.urls, ()),
            "find_links": self.get(table, "", "find-links", self.links, ()),
            "exclude_newer": self.get(table, "", "exclude-newer", self.timestamp, None),
        }
        accelerators = table["accelerators"]
        if not isinstance(accelerators, dict) or not accelerators:
            raise self.fail("accelerators", "expected at least one [accelerators.NAME] table")
        variants: dict[str, Variant] = {}
        for order, (name, acc_table) in enumerate(accelerators.items()):
            for variant in self.accelerator(order, name, acc_table, inputs, pythons, plats, shared):
                if variant.name in variants:
                    other = variants[variant.name]
                    why = ""
                    if other.platform != variant.platform:  # a name says os and arch, not libc or glibc floor
                        why = (
                            f": platforms {other.platform.uv!r} and {variant.platform.uv!r} share an os and arch, "
                            "which is all a variant's name says (give each its own accelerator, or keep one of them)"
                        )
                    raise self.fail(f"accelerators.{name}", f"two variants are named {variant.name}{why}")
                variants[variant.name] = variant
        locks_dir = self.inside("locks-dir", self.get(table, "", "locks-dir", self.string, "locks"))
        if locks_dir.exists() and not locks_dir.is_dir():
            raise self.fail("locks-dir", f"{locks_dir.name} is a file, not a folder")
        return Config(
            path=self.path,
            root=self.root,
            boundary=self.boundary,
            locks_dir=locks_dir,
            forbid=frozenset(canonical(n) for n in forbid),
            formats=tuple(sorted(set(formats) | {"pylock"}, key=FORMATS.index)),
            variants=tuple(variants.values()),
        )

    def accelerator(
        self,
        order: int,
        name: str,
        table: Any,
        inputs: tuple[str, ...],
        pythons: tuple[str, ...],
        plats: tuple[platforms.Platform, ...],
        shared: dict[str, Any],
    ) -> list[Variant]:
        base = f"accelerators.{name}."
        if not _NAME.fullmatch(name):
            raise self.fail(f"accelerators.{name}", "accelerator names are lowercase letters and digits only")
        if not isinstance(table, dict):
            raise self.fail(base[:-1], "expected a table")
        self.unknown(table, _ACCEL_KEYS, base)
        version = self.get(table, base, "cuda", self.cuda_version, None)
        archs = self.get(table, base, "gpu-archs", self.strings, None)
        gpu_archs = self.archs(base + "gpu-archs", version, archs)
        priority = self.get(table, base, "priority", self.integer, 0)
        own_py = self.get(table, base, "python", self.pythons, pythons)
        own_plats = self.get(table, base, "platforms", self.platform_list, plats)
        for key, values in (("python", own_py), ("platforms", own_plats)):
            if not values:
                raise self.fail(base + key, "must not be empty (leave it out to take the top-level list)")
        for v in own_py:
            if v not in pythons:
                raise self.fail(base + "python", f"{v} is not in python {list(pythons)}")
        for p in own_plats:
            if p not in plats:
                raise self.fail(base + "platforms", f"{p.uv} is not in platforms {[q.uv for q in plats]}")
        acc = Accelerator(name=name, cuda=version, gpu_archs=gpu_archs, priority=priority, order=order)
        acc_inputs = self.get(table, base, "inputs", self.files, ())
        common = {
            "accelerator": acc,
            "inputs": inputs + tuple(i for i in acc_inputs if i not in inputs),
            "constraints": shared["constraints"] + self.get(table, base, "constraints", self.files, ()),
            "index_url": self.get(table, base, "index-url", self.url, shared["index_url"]),
            "extra_index_urls": shared["extra_index_urls"] + self.get(table, base, "extra-index-urls", self.urls, ()),
            "find_links": shared["find_links"] + self.get(table, base, "find-links", self.links, ()),
            "exclude_newer": shared["exclude_newer"],
            "base": self.get(table, base, "base", self.file, None),
        }
        if not common["inputs"]:
            raise self.fail(
                base + "inputs", "no intent file: set inputs here or at the top level (an empty file is fine)"
            )
        out = []
        for py in own_py:
            for plat in own_plats:
                vname = f"py{py.replace('.', '')}-{name}" + (f"-{plat.suffix}" if len(plats) > 1 else "")
                out.append(Variant(name=vname, python=py, platform=plat, **common))
        return out

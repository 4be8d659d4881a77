"""A corpus of bad inputs, each answered as the README's "Exit codes" promise.

Every case asserts what a user sees: the documented exit status (2 for bad input,
1 for a runtime failure such as an unwritable locks folder), exactly one line on
stderr and it starts with ``error:``, no traceback and no "internal error"
anywhere, a message naming the file and the key or line it is about, and nothing
written (the project's tree byte for byte as before; no ``.venv``).

Cases run in-process through click's runner (stdout and stderr apart); a handful
run again through ``python -m lockgen`` to prove no traceback reaches a terminal.
A hypothesis test feeds random configuration documents to ``lockgen check``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from click.testing import CliRunner
from conftest import MINOR, Indexes, Project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wheelmaker import make_local_project

from lockgen.cli import main
from lockgen.locks import pylock

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

TAG = "py" + MINOR.replace(".", "")
SECRET = "s3cret"
REPO = Path(__file__).resolve().parent.parent
OTHER_PYTHON_CPU = "py312-cpu" if MINOR != "3.12" else "py311-cpu"  # a variant of the fixture for another Python

# --- running lockgen and judging what it did ---------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: str | None  # an exception that escaped lockgen (in-process runs)

    def show(self) -> str:
        tb = f"--- escaped exception\n{self.traceback}" if self.traceback else ""
        return f"exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}{tb}"


def invoke(argv: list[str], env: Mapping[str, str | None] | None = None) -> Outcome:
    result = CliRunner().invoke(main, argv, env=dict(env or {}))
    escaped = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        escaped = "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, result.stderr, escaped)


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("LOCKGEN_")}
    env.update(extra or {})
    return env


def invoke_process(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> Outcome:
    proc = subprocess.run(
        [sys.executable, "-m", "lockgen", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_environ(env),
        timeout=300,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr, None)


def assert_clean(outcome: Outcome) -> None:
    """No traceback, no internal error, no password: whatever the exit status."""
    text = outcome.stdout + outcome.stderr
    assert outcome.traceback is None, "an exception escaped lockgen\n" + outcome.show()
    assert "Traceback" not in text, "a traceback reached the user\n" + outcome.show()
    assert "internal error" not in text, "lockgen's catch-all answered\n" + outcome.show()
    assert SECRET not in text, "a password was echoed\n" + outcome.show()


def assert_error(outcome: Outcome, code: int, needles: tuple[str, ...]) -> str:
    """The contract: exit ``code``, exactly one stderr line, ``error: …`` holding each needle."""
    assert_clean(outcome)
    assert outcome.code == code, f"expected exit {code}\n" + outcome.show()
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, "expected exactly one line on stderr\n" + outcome.show()
    assert lines[0].startswith("error: "), "the line must start with 'error: '\n" + outcome.show()
    for needle in needles:
        assert needle in lines[0], f"the message must name {needle!r}\n" + outcome.show()
    return lines[0]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder); symlinks not followed."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = b"-> " + os.readlink(path).encode()
        else:
            out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def assert_unchanged(before: dict[str, bytes | None], root: Path, outcome: Outcome) -> None:
    after = tree(root)
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert not (added or removed or changed), (
        f"a failure changed the project: added {added}, removed {removed}, changed {changed}\n" + outcome.show()
    )


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``chattr +i`` on ``paths`` for the duration; skips the test where chattr cannot."""
    done: list[Path] = []
    try:
        for p in paths:
            proc = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
            if proc.returncode != 0:
                pytest.skip(f"chattr +i does not work here: {proc.stderr.strip()}")
            done.append(p)
        yield
    finally:
        for p in reversed(done):
            subprocess.run(["chattr", "-i", str(p)], check=True)


# --- the table --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: what to write, what to run, what the user must see.

    Strings in ``args``, ``env`` and ``expect`` may name ``{config}`` (the
    configuration's path), ``{root}`` (the project's folder) and ``{prefix}``
    (the environment lockgen runs from).
    """

    expect: tuple[str, ...]
    args: tuple[str, ...] = ("compile",)
    config: str | bytes | None = None  # replaces lockgen.toml
    pyproject: str | None = None  # written as pyproject.toml; --config names it
    files: Mapping[str, str | bytes | None] = field(default_factory=dict)  # relative; None: a folder
    env: Mapping[str, str] = field(default_factory=dict)
    code: int = 2
    raw: bool = False  # args as given: no --config added after the command
    setup: Callable[[Path], None] | None = None


def expand(text: str, project: Project, config: Path) -> str:
    return text.format(config=config, root=project.root, prefix=sys.prefix)


def prepare(project: Project, case: Case) -> Path:
    """Write the case's files; returns the configuration the command names."""
    config = project.config
    if case.config is not None:
        data = case.config if isinstance(case.config, bytes) else case.config.encode()
        project.config.write_bytes(data)
    if case.pyproject is not None:
        config = project.root / "pyproject.toml"
        config.write_text(case.pyproject)
    for rel, content in case.files.items():
        path = project.root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.setup is not None:
        case.setup(project.root)
    return config


def argv_for(project: Project, case: Case, config: Path) -> list[str]:
    args = [expand(a, project, config) for a in case.args]
    if case.raw:
        return args
    command, *rest = args
    return [command, "--config", str(config), *rest]


def run_case(project: Project, case: Case, *, process: bool = False) -> None:
    config = prepare(project, case)
    argv = argv_for(project, case, config)
    env = {k: expand(v, project, config) for k, v in case.env.items()}
    before = tree(project.root)
    outcome = invoke_process(argv, project.root, env) if process else invoke(argv, env)
    assert_error(outcome, case.code, tuple(expand(n, project, config) for n in case.expect))
    assert_unchanged(before, project.root, outcome)


# --- configuration ----------------------------------------------------------------------

BASE = 'inputs = ["inputs/base.in"]\npython = ["3.12"]\n'
CPU = "[accelerators.cpu]\n"
CU = '[accelerators.cu128]\ncuda = "12.8"\n'


def top(line: str) -> str:
    """A top-level key added to a valid configuration."""
    return BASE + line + "\n" + CPU


def acc(line: str) -> str:
    """A key added to the cpu accelerator."""
    return BASE + CPU + line + "\n"


def gpu(line: str) -> str:
    """A key added to a CUDA 12.8 accelerator."""
    return BASE + CU + line + "\n"


def key(name: str, *more: str) -> tuple[str, ...]:
    """The message names the configuration file and the full key."""
    return (f"{{config}}: {name}: ", *more)


def outside_file(root: Path) -> None:
    """``../outside.in`` from the project (what ``../../outside.in`` from inputs/ reaches)."""
    (root.parent / "outside.in").write_text("helper\n")


def outside_folder(root: Path) -> None:
    (root.parent / "outside-links").mkdir(exist_ok=True)


WHEEL = "localpath-1.0-py3-none-any.whl"


def outside_sources(root: Path) -> None:
    """A wheel and a project folder beside the project: real, so that a lockgen that
    let them through would lock them."""
    from wheelmaker import make_wheel

    make_wheel(root.parent / "outside", "localpath", "1.0")
    (root.parent / "outside" / "proj").mkdir(exist_ok=True)
    (root.parent / "outside" / "proj" / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')


def outside(line: str) -> Case:
    """An intent line naming something outside the repository, however it is spelled."""
    return Case(("inputs/base.in:2:", "outside the project's repository"), files=base_in(f"app\n{line}\n"),
                setup=outside_sources)  # fmt: skip


CONFIG: dict[str, Case] = {
    # wrong types, top level
    "inputs-a-string": Case(key("inputs", "list"), config='inputs = "inputs/base.in"\npython = ["3.12"]\n' + CPU),
    "inputs-a-number-entry": Case(key("inputs"), config='inputs = [1]\npython = ["3.12"]\n' + CPU),
    "inputs-an-empty-string": Case(key("inputs"), config='inputs = [""]\npython = ["3.12"]\n' + CPU),
    "inputs-a-table": Case(key("inputs"), config='inputs = {a = "x.in"}\npython = ["3.12"]\n' + CPU),
    "inputs-duplicate": Case(
        key("inputs", "duplicate"), config='inputs = ["inputs/base.in", "inputs/base.in"]\npython = ["3.12"]\n' + CPU
    ),
    "inputs-missing-file": Case(
        key("inputs", "inputs/nope.in"), config='inputs = ["inputs/nope.in"]\npython = ["3.12"]\n' + CPU
    ),
    "inputs-a-folder": Case(key("inputs", "folder"), config='inputs = ["inputs"]\npython = ["3.12"]\n' + CPU),
    "inputs-outside-the-project": Case(
        key("inputs", "outside"),
        config='inputs = ["../outside.in"]\npython = ["3.12"]\n' + CPU,
        setup=outside_file,
    ),
    "inputs-empty-for-a-variant": Case(
        key("accelerators.cpu.inputs", "no intent file"), config='inputs = []\npython = ["3.12"]\n' + CPU
    ),
    "accelerator-python-empty": Case(key("accelerators.cpu.python", "empty"), config=acc("python = []")),
    "accelerator-platforms-empty": Case(key("accelerators.cpu.platforms", "empty"), config=acc("platforms = []")),
    "python-a-string": Case(key("python", "list"), config='inputs = ["inputs/base.in"]\npython = "3.12"\n' + CPU),
    "python-a-number": Case(key("python"), config='inputs = ["inputs/base.in"]\npython = 3.11\n' + CPU),
    "python-a-number-entry": Case(
        key("python", 'TOML reads an unquoted version as a number: quote each as written, python = ["3.12"]'),
        config='inputs = ["inputs/base.in"]\npython = [3.10]\n' + CPU,  # the number 3.1: not what to write
    ),
    "python-empty": Case(key("python", "empty"), config='inputs = ["inputs/base.in"]\npython = []\n' + CPU),
    "python-3.011": Case(key("python", "3.011"), config='inputs = ["inputs/base.in"]\npython = ["3.011"]\n' + CPU),
    "python-3.99": Case(key("python", "3.99"), config='inputs = ["inputs/base.in"]\npython = ["3.99"]\n' + CPU),
    "python-3": Case(key("python", "'3'"), config='inputs = ["inputs/base.in"]\npython = ["3"]\n' + CPU),
    "python-3.1x": Case(key("python", "3.1x"), config='inputs = ["inputs/base.in"]\npython = ["3.1x"]\n' + CPU),
    "python-2.7": Case(key("python", "2.7"), config='inputs = ["inputs/base.in"]\npython = ["2.7"]\n' + CPU),
    "python-a-patch-version": Case(
        key("python", "3.12.1"), config='inputs = ["inputs/base.in"]\npython = ["3.12.1"]\n' + CPU
    ),
    "python-with-spaces": Case(key("python"), config='inputs = ["inputs/base.in"]\npython = [" 3.12"]\n' + CPU),
    "python-duplicate": Case(
        key("python", "duplicate"), config='inputs = ["inputs/base.in"]\npython = ["3.12", "3.12"]\n' + CPU
    ),
    "platforms-a-string": Case(key("platforms"), config=top('platforms = "x86_64-manylinux_2_28"')),
    "platforms-a-number-entry": Case(key("platforms"), config=top("platforms = [1]")),
    "platforms-empty": Case(key("platforms", "empty"), config=top("platforms = []")),
    "platforms-unknown": Case(key("platforms", "beos"), config=top('platforms = ["beos"]')),
    # shapes lockgen's patterns once let through, which uv refuses
    "platforms-manylinux-uv-does-not-know": Case(
        key("platforms", "x86_64-manylinux_2_45"), config=top('platforms = ["x86_64-manylinux_2_45"]')
    ),
    "platforms-manylinux-too-old": Case(key("platforms"), config=top('platforms = ["x86_64-manylinux_2_5"]')),
    "platforms-riscv64-manylinux": Case(key("platforms"), config=top('platforms = ["riscv64-manylinux_2_28"]')),
    "inputs-a-nul": Case(key("inputs", "control character"), config=BASE.replace("base.in", "ba\\u0000se.in") + CPU),
    "locks-dir-a-line-break": Case(key("locks-dir", "control character"), config=top('locks-dir = "lo\\ncks"')),
    "index-url-port-out-of-range": Case(
        key("index-url", "port is not a number from 0 to 65535"),
        config=top('index-url = "https://example.invalid:99999/simple"'),
    ),
    "index-url-port-not-a-number": Case(
        key("index-url"), config=top(f'index-url = "https://u:{SECRET}@example.invalid:abc/simple"')
    ),
    "index-url-ipv6-bracket-left-open": Case(
        key("index-url", "bracket is not closed"), config=top('index-url = "https://[::1/simple"')
    ),
    "locks-dir-a-number": Case(key("locks-dir"), config=top("locks-dir = 1")),
    "locks-dir-a-list": Case(key("locks-dir"), config=top('locks-dir = ["locks"]')),
    "locks-dir-empty": Case(key("locks-dir"), config=top('locks-dir = ""')),
    "locks-dir-a-file": Case(key("locks-dir", "file"), config=top('locks-dir = "locks"'), files={"locks": "x\n"}),
    "locks-dir-outside-the-project": Case(key("locks-dir", "outside"), config=top('locks-dir = "../elsewhere"')),
    "locks-dir-a-name-too-long-below-a-missing-folder": Case(
        key("locks-dir", "File name too long"),
        config=top(
            'locks-dir = "x/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"'
        ),
    ),
    "inputs-a-name-too-long": Case(
        key("inputs", "File name too long"), config=BASE.replace("inputs/base.in", "a" * 300 + ".in") + CPU
    ),
    "inputs-one-file-spelled-twice": Case(
        key("inputs", "inputs/base.in and ./inputs/base.in are the same file"),
        config='inputs = ["inputs/base.in", "./inputs/base.in"]\npython = ["3.12"]\n' + CPU,
    ),
    "constraints-a-string": Case(key("constraints"), config=top('constraints = "c.txt"')),
    "constraints-a-bool-entry": Case(key("constraints"), config=top("constraints = [true]")),
    "constraints-missing-file": Case(key("constraints", "c.txt"), config=top('constraints = ["c.txt"]')),
    "constraints-a-folder": Case(key("constraints", "folder"), config=top('constraints = ["inputs"]')),
    "constraints-outside-the-project": Case(
        key("constraints", "outside"), config=top('constraints = ["../outside.in"]'), setup=outside_file
    ),
    "constraints-duplicate": Case(
        key("constraints", "duplicate"), config=top('constraints = ["c.txt", "c.txt"]'), files={"c.txt": "helper\n"}
    ),
    "forbid-a-string": Case(key("forbid"), config=top('forbid = "torch"')),
    "forbid-a-number-entry": Case(key("forbid"), config=top("forbid = [1]")),
    "forbid-not-a-name": Case(key("forbid", "not a name"), config=top('forbid = ["not a name"]')),
    "index-url-a-number": Case(key("index-url"), config=top("index-url = 1")),
    "index-url-a-list": Case(key("index-url"), config=top('index-url = ["https://example.invalid/simple"]')),
    "index-url-empty": Case(key("index-url"), config=top('index-url = ""')),
    "index-url-not-a-url": Case(key("index-url", "not a url"), config=top('index-url = "not a url"')),
    "index-url-ftp": Case(key("index-url", "ftp://"), config=top('index-url = "ftp://example.invalid/simple"')),
    "index-url-credentials-and-a-space": Case(
        key("index-url"), config=top(f'index-url = "https://user:{SECRET}@exa mple.invalid/simple"')
    ),
    "index-url-credentials-no-scheme": Case(
        key("index-url"), config=top(f'index-url = "user:{SECRET}@example.invalid/simple"')
    ),
    "extra-index-urls-a-string": Case(
        key("extra-index-urls"), config=top('extra-index-urls = "https://example.invalid/simple"')
    ),
    "extra-index-urls-a-number-entry": Case(key("extra-index-urls"), config=top("extra-index-urls = [1]")),
    "extra-index-urls-not-a-url": Case(
        key("extra-index-urls", "not a url"), config=top('extra-index-urls = ["not a url"]')
    ),
    "extra-index-urls-credentials-bad-scheme": Case(
        key("extra-index-urls"), config=top(f'extra-index-urls = ["htps://user:{SECRET}@example.invalid/simple"]')
    ),
    "find-links-a-string": Case(key("find-links"), config=top('find-links = "links"')),
    "find-links-an-inline-table": Case(key("find-links"), config=top('find-links = [{path = "links"}]')),
    "find-links-missing-folder": Case(key("find-links", "nowhere"), config=top('find-links = ["nowhere"]')),
    "find-links-a-wheel": Case(
        key("find-links", "wheels/app.whl"),
        config=top('find-links = ["wheels/app.whl"]'),
        files={"wheels/app.whl": b"PK\x03\x04\xff\xfe"},
    ),
    "find-links-outside-the-project": Case(
        key("find-links", "outside"), config=top('find-links = ["../outside-links"]'), setup=outside_folder
    ),
    "find-links-url-with-credentials-and-space": Case(
        key("find-links"), config=top(f'find-links = ["https://user:{SECRET}@exa mple.invalid/links"]')
    ),
    "exclude-newer-a-number": Case(key("exclude-newer"), config=top("exclude-newer = 2026")),
    "exclude-newer-a-bare-date": Case(key("exclude-newer", "quoted"), config=top("exclude-newer = 2026-01-01")),
    "exclude-newer-garbage": Case(key("exclude-newer", "yesterday"), config=top('exclude-newer = "yesterday"')),
    "exclude-newer-month-13": Case(key("exclude-newer", "2026-13-01"), config=top('exclude-newer = "2026-13-01"')),
    "exclude-newer-a-week-date": Case(
        key("exclude-newer", "'2026-W10-3T00:00:00Z' is not an RFC 3339"),
        config=top('exclude-newer = "2026-W10-3T00:00:00Z"'),
    ),
    "exclude-newer-hour-25": Case(
        key("exclude-newer", "2026-01-01T25:00:00Z"), config=top('exclude-newer = "2026-01-01T25:00:00Z"')
    ),
    "formats-a-string": Case(key("formats"), config=top('formats = "pylock"')),
    "formats-a-number-entry": Case(key("formats"), config=top("formats = [1]")),
    "formats-unknown": Case(key("formats", "conda"), config=top('formats = ["conda"]')),
    "formats-duplicate": Case(key("formats", "duplicate"), config=top('formats = ["pylock", "pylock"]')),
    "accelerators-a-number": Case(key("accelerators"), config=BASE + "accelerators = 1\n"),
    "accelerators-empty": Case(key("accelerators"), config=BASE + "accelerators = {}\n"),
    "accelerators-a-list": Case(key("accelerators"), config=BASE + 'accelerators = ["cpu"]\n'),
    "unknown-top-level-key": Case(key("pythn", "unknown key"), config=top('pythn = ["3.12"]')),
    "unknown-accelerator-key": Case(key("accelerators.cpu.cudaa", "unknown key"), config=acc('cudaa = "12.4"')),
    "unknown-key-with-a-line-break": Case(("{config}: ", "unknown key"), config=top('"a\\nb" = 1')),
    "inputs-path-with-a-line-break": Case(
        key("inputs"), config='inputs = ["inputs/a\\nb.in"]\npython = ["3.12"]\n' + CPU
    ),
    "unknown-nested-table": Case(key("accelerators.cpu.extra", "unknown key"), config=acc("extra = {x = 1}")),
    # accelerator names and tables
    "accelerator-name-dotted": Case(
        key("accelerators.cu12.4", "lowercase"), config=BASE + '[accelerators."cu12.4"]\ncuda = "12.4"\n'
    ),
    "accelerator-name-uppercase": Case(key("accelerators.CPU", "lowercase"), config=BASE + "[accelerators.CPU]\n"),
    "accelerator-name-dash": Case(key("accelerators.cu-128", "lowercase"), config=BASE + "[accelerators.cu-128]\n"),
    "accelerator-name-underscore": Case(
        key("accelerators.cu_128", "lowercase"), config=BASE + "[accelerators.cu_128]\n"
    ),
    "accelerator-name-empty": Case(key("accelerators.", "lowercase"), config=BASE + '[accelerators.""]\n'),
    "accelerator-not-a-table": Case(key("accelerators.cpu", "table"), config=BASE + "[accelerators]\ncpu = 1\n"),
    "accelerator-an-array-of-tables": Case(key("accelerators.cpu", "table"), config=BASE + "[[accelerators.cpu]]\n"),
    "accelerator-inputs-a-string": Case(key("accelerators.cpu.inputs"), config=acc('inputs = "inputs/base.in"')),
    "accelerator-inputs-missing-file": Case(
        key("accelerators.cpu.inputs", "inputs/none.in"), config=acc('inputs = ["inputs/none.in"]')
    ),
    "accelerator-python-a-string": Case(key("accelerators.cpu.python"), config=acc('python = "3.12"')),
    "accelerator-python-not-a-subset": Case(key("accelerators.cpu.python", "3.11"), config=acc('python = ["3.11"]')),
    "accelerator-platforms-a-number": Case(key("accelerators.cpu.platforms"), config=acc("platforms = 1")),
    "accelerator-platforms-not-a-subset": Case(
        key("accelerators.cpu.platforms", "aarch64-apple-darwin"), config=acc('platforms = ["aarch64-apple-darwin"]')
    ),
    "accelerator-constraints-a-string": Case(key("accelerators.cpu.constraints"), config=acc('constraints = "c.txt"')),
    "accelerator-index-url-a-number": Case(key("accelerators.cpu.index-url"), config=acc("index-url = 1")),
    "accelerator-index-url-not-a-url": Case(
        key("accelerators.cpu.index-url", "not a url"), config=acc('index-url = "not a url"')
    ),
    "accelerator-extra-index-urls-a-string": Case(
        key("accelerators.cpu.extra-index-urls"), config=acc('extra-index-urls = "https://example.invalid/simple"')
    ),
    "accelerator-find-links-a-number": Case(key("accelerators.cpu.find-links"), config=acc("find-links = 1")),
    "accelerator-priority-a-string": Case(key("accelerators.cpu.priority", "integer"), config=acc('priority = "high"')),
    "accelerator-priority-a-float": Case(key("accelerators.cpu.priority", "integer"), config=acc("priority = 1.5")),
    "accelerator-priority-a-bool": Case(key("accelerators.cpu.priority", "integer"), config=acc("priority = true")),
    "accelerator-base-a-number": Case(key("accelerators.cpu.base"), config=acc("base = 1")),
    "accelerator-base-pointing-nowhere": Case(
        key("accelerators.cpu.base", "bases/none.txt"), config=acc('base = "bases/none.txt"')
    ),
    "accelerator-base-a-folder": Case(key("accelerators.cpu.base", "folder"), config=acc('base = "inputs"')),
    "base-not-a-freeze-line": Case(
        ("bases/image.txt:2: not a freeze line",),
        config=acc('base = "bases/image.txt"'),
        files={"bases/image.txt": "numpy==1.26.4\nnumpy>=1\n"},
    ),
    "base-naming-a-package-twice": Case(
        ("bases/image.txt:3: numpy again, at 1.26.3 (already 1.26.4)",),
        config=acc('base = "bases/image.txt"'),
        files={"bases/image.txt": "numpy==1.26.4\nscipy==1.13.0\nNumPy==1.26.3\n"},
    ),
    # CUDA versions
    "cuda-a-bool": Case(key("accelerators.cu128.cuda"), config=BASE + "[accelerators.cu128]\ncuda = true\n"),
    "cuda-a-number": Case(
        key("accelerators.cu128.cuda", 'quote it as written, cuda = "12.8"'),
        config=BASE + "[accelerators.cu128]\ncuda = 12.8\n",
    ),
    "tool-lockgen-table-outside-pyproject": Case(
        key("tool.lockgen", "only pyproject.toml holds a [tool.lockgen] table"),
        config="[tool.lockgen]\n" + BASE + "[tool.lockgen.accelerators.cpu]\n",
    ),
    "cuda-empty": Case(key("accelerators.cu128.cuda"), config=BASE + '[accelerators.cu128]\ncuda = ""\n'),
    "cuda-12.7": Case(
        key("accelerators.cu127.cuda", "CUDA 12.7 was never released (CUDA 12: 12.0, 12.1"),
        config=BASE + '[accelerators.cu127]\ncuda = "12.7"\n',
    ),
    "cuda-99.0": Case(
        key("accelerators.cu99.cuda", "CUDA 99.0 is newer than every CUDA release lockgen knows (the newest: 13."),
        config=BASE + '[accelerators.cu99]\ncuda = "99.0"\n',
    ),
    "cuda-12": Case(key("accelerators.cu12.cuda", "'12'"), config=BASE + '[accelerators.cu12]\ncuda = "12"\n'),
    "cuda-10.2": Case(key("accelerators.cu102.cuda", "10.2"), config=BASE + '[accelerators.cu102]\ncuda = "10.2"\n'),
    "cuda-a-patch-version": Case(
        key("accelerators.cu128.cuda", "12.8.1"), config=BASE + '[accelerators.cu128]\ncuda = "12.8.1"\n'
    ),
    "cuda-zero-padded": Case(
        key("accelerators.cu128.cuda", "12.08"), config=BASE + '[accelerators.cu128]\ncuda = "12.08"\n'
    ),
    "cuda-with-a-v": Case(
        key("accelerators.cu128.cuda", "v12.8"), config=BASE + '[accelerators.cu128]\ncuda = "v12.8"\n'
    ),
    # gpu-archs
    "gpu-archs-a-string": Case(key("accelerators.cu128.gpu-archs"), config=gpu('gpu-archs = "8.0"')),
    "gpu-archs-numbers": Case(
        key("accelerators.cu128.gpu-archs", 'quote each as written, gpu-archs = ["8.0"]'),
        config=gpu("gpu-archs = [8.0]"),
    ),
    "gpu-archs-empty": Case(key("accelerators.cu128.gpu-archs", "empty"), config=gpu("gpu-archs = []")),
    "gpu-archs-sm_90": Case(key("accelerators.cu128.gpu-archs", "sm_90"), config=gpu('gpu-archs = ["sm_90"]')),
    "gpu-archs-99.9": Case(key("accelerators.cu128.gpu-archs", "99.9"), config=gpu('gpu-archs = ["99.9"]')),
    "gpu-archs-bare-major": Case(key("accelerators.cu128.gpu-archs", "'8'"), config=gpu('gpu-archs = ["8"]')),
    "gpu-archs-12.0-on-cuda-12.4": Case(
        key("accelerators.cu124.gpu-archs", "12.0", "CUDA 12.4"),
        config=BASE + '[accelerators.cu124]\ncuda = "12.4"\ngpu-archs = ["8.0", "12.0"]\n',
    ),
    "gpu-archs-7.0-on-cuda-13.0": Case(
        key("accelerators.cu130.gpu-archs", "7.0", "CUDA 13.0"),
        config=BASE + '[accelerators.cu130]\ncuda = "13.0"\ngpu-archs = ["7.0"]\n',
    ),
    "gpu-archs-duplicate": Case(
        key("accelerators.cu128.gpu-archs", "duplicate"), config=gpu('gpu-archs = ["8.0", "8.0"]')
    ),
    "gpu-archs-without-cuda": Case(key("accelerators.cpu.gpu-archs", "cuda"), config=acc('gpu-archs = ["8.0"]')),
    # whole documents
    "two-variants-one-name": Case(
        ("{config}: ", "two variants", "py312-cpu-linux-x86_64"),
        config=top('platforms = ["x86_64-manylinux_2_17", "x86_64-manylinux_2_28"]'),
    ),
    "invalid-toml": Case(("{config}: ", "TOML"), config=BASE + "[accelerators.cpu\n"),
    "nested-too-deep": Case(("{config}: ", "nested too deeply"), config=top("x = " + "[" * 1000 + "]" * 1000)),
    "python-a-bare-number": Case(
        key("python", 'quote it as written, python = ["3.12"]'),
        config=BASE.replace('python = ["3.12"]', "python = 3.11") + CPU,
    ),
    "config-a-device": Case(
        ("/dev/null: --config: not a regular file",), args=("check", "--config", "/dev/null"), raw=True
    ),
    "duplicate-table": Case(("{config}: ", "TOML"), config=BASE + CPU + CPU),
    "config-not-utf8": Case(("{config}: ",), config=BASE.encode() + b"# caf\xe9\n" + CPU.encode()),
    # pyproject.toml
    "pyproject-tool-a-number": Case(("{config}: ", "tool"), pyproject="tool = 1\n"),
    "pyproject-tool-a-string": Case(("{config}: ", "tool"), pyproject='tool = "lockgen"\n'),
    "pyproject-tool-a-list": Case(("{config}: ", "tool"), pyproject='tool = ["lockgen"]\n'),
    "pyproject-tool-lockgen-a-number": Case(("{config}: ", "tool.lockgen"), pyproject="[tool]\nlockgen = 1\n"),
    "pyproject-without-tool-lockgen": Case(
        ("{config}: ", "tool.lockgen"), pyproject='[project]\nname = "x"\nversion = "1"\n'
    ),
    "pyproject-unknown-key": Case(
        key("tool.lockgen.pythn", "unknown key"),
        pyproject='[tool.lockgen]\ninputs = ["inputs/base.in"]\npythn = ["3.12"]\n',
    ),
    "pyproject-python-a-number": Case(
        key("tool.lockgen.python"),
        pyproject='[tool.lockgen]\ninputs = ["inputs/base.in"]\npython = 3.12\n[tool.lockgen.accelerators.cpu]\n',
    ),
    "pyproject-accelerator-not-a-table": Case(
        key("tool.lockgen.accelerators.cpu"),
        pyproject='[tool.lockgen]\ninputs = ["inputs/base.in"]\npython = ["3.12"]\n[tool.lockgen.accelerators]\ncpu = "x"\n',
    ),
    "pyproject-accelerator-dotted": Case(
        key("tool.lockgen.accelerators.cu12.8", "lowercase"),
        pyproject='[tool.lockgen]\ninputs = ["inputs/base.in"]\npython = ["3.12"]\n'
        '[tool.lockgen.accelerators."cu12.8"]\ncuda = "12.8"\n',
    ),
    "pyproject-cuda-99.0": Case(
        key("tool.lockgen.accelerators.cu99.cuda", "99.0"),
        pyproject='[tool.lockgen]\ninputs = ["inputs/base.in"]\npython = ["3.12"]\n'
        '[tool.lockgen.accelerators.cu99]\ncuda = "99.0"\n',
    ),
}


@pytest.mark.parametrize("name", list(CONFIG))
def test_configuration(project: Project, name: str) -> None:
    run_case(project, CONFIG[name])


# --- intent files ----------------------------------------------------------------------


def deep_chain(depth: int) -> dict[str, str]:
    files = {"inputs/base.in": "-r chain/c1.in\n"}
    for i in range(1, depth):
        files[f"inputs/chain/c{i}.in"] = f"-r c{i + 1}.in\n"
    files[f"inputs/chain/c{depth}.in"] = "helper\n"
    return files


def base_in(text: str | bytes, **more: str | bytes | None) -> dict[str, str | bytes | None]:
    return {"inputs/base.in": text, **more}


def behind_c(files: dict[str, str | bytes | None]) -> dict[str, str | bytes | None]:
    """``files`` with an intent file that reads ``inputs/cons.txt`` as constraints (``-c``)."""
    return {"inputs/base.in": "-c cons.txt\napp\n", **files}


INTENTS: dict[str, Case] = {
    "include-a-name-too-long": Case(
        ("inputs/base.in:1:", "File name too long"), files=base_in(f"-r {'b' * 300}.in\napp\n")
    ),
    "path-requirement-a-name-too-long": Case(
        ("inputs/base.in:2:", "File name too long"), files=base_in(f"app\n./{'c' * 300}\n")
    ),
    # What uv refuses in a constraints file, once for every variant, naming the file that included it.
    "constraint-with-no-name": Case(
        (
            "inputs/cons.txt:1:",
            "a requirement with no name cannot be a constraint here",
            "inputs/base.in says -c inputs/cons.txt",
        ),
        files=behind_c({"inputs/cons.txt": "https://example.com/x-1.0-py3-none-any.whl\n"}),
    ),
    "constraint-editable-configured": Case(
        ("c.txt:2:", "an editable cannot be a constraint here", "the configuration's constraints"),
        config=top('constraints = ["c.txt"]'),
        files={"c.txt": "helper<3\n-e ./libs/x\n", "libs/x/pyproject.toml": '[project]\nname = "x"\nversion = "1"\n'},
    ),
    "constraint-named-editable-behind-a-c-line": Case(
        ("inputs/cons.txt:1:", "an editable cannot be a constraint here", "inputs/base.in says -c inputs/cons.txt"),
        files=behind_c(
            {
                "inputs/cons.txt": "-e x @ file:./libs/x\n",
                "libs/x/pyproject.toml": '[project]\nname = "x"\nversion = "1"\n',
            }
        ),
    ),
    "constraint-included-by-a-constraint": Case(
        ("inputs/more.txt:1:", "cannot be a constraint", "inputs/base.in says -c inputs/cons.txt"),
        files=behind_c({"inputs/cons.txt": "-r more.txt\n", "inputs/more.txt": "./x.whl\n", "x.whl": b"PK"}),
    ),
    "invalid-operator": Case(("inputs/base.in:2:", "torch>>2"), files=base_in("app\ntorch>>2\n")),
    "no-version-after-operator": Case(("inputs/base.in:1:", "numpy=="), files=base_in("numpy==\n")),
    "unclosed-extras": Case(("inputs/base.in:1:",), files=base_in("app[extra\n")),
    "bad-marker": Case(("inputs/base.in:1:",), files=base_in("app ; python_version >>> '3'\n")),
    "bad-wildcard": Case(("inputs/base.in:3:",), files=base_in("app\n\nnumpy==1.*.2\n")),
    "spaces-in-a-name": Case(("inputs/base.in:1:",), files=base_in("not a name\n")),
    "extras-without-a-name": Case(("inputs/base.in:1:",), files=base_in("[extra]\n")),
    "unknown-long-option": Case(("inputs/base.in:1:", "--frobnicate"), files=base_in("--frobnicate\n")),
    "unknown-short-option": Case(("inputs/base.in:2:", "-x"), files=base_in("app\n-x foo\n")),
    "include-without-a-path": Case(("inputs/base.in:1:",), files=base_in("-r\n")),
    "include-missing-file": Case(("inputs/base.in:1:", "other.in"), files=base_in("-r other.in\n")),
    "constraint-missing-file": Case(("inputs/base.in:2:", "c.txt"), files=base_in("app\n-c c.txt\n")),
    "include-a-folder": Case(("inputs/base.in:1:", "sub"), files=base_in("-r sub\n", **{"inputs/sub": None})),
    "include-a-url": Case(("inputs/base.in:1:",), files=base_in("-r https://example.invalid/x.in\n")),
    "include-outside-the-repository": Case(
        ("inputs/base.in:1:", "../../outside.in", "outside"),
        files=base_in("-r ../../outside.in\n"),
        setup=outside_file,
    ),
    "constraint-outside-the-repository": Case(
        ("inputs/base.in:2:", "../../outside.in", "outside"),
        files=base_in("app\n--constraint ../../outside.in\n"),
        setup=outside_file,
    ),
    # uv reads these relative to the project folder (its working folder), -f relative to the file
    "path-relative-to-the-project": outside(f"../outside/{WHEEL}"),
    "path-through-the-inputs-folder": outside(f"inputs/../../outside/{WHEEL}"),
    "path-with-a-marker": outside(f"../outside/{WHEEL} ; python_version >= '3'"),
    "editable-outside": outside("-e ../outside/proj"),
    "editable-outside-with-equals": outside("--editable=../outside/proj"),
    "named-relative-file-url": outside(f"localpath @ file:../outside/{WHEEL}"),
    "named-path": outside(f"localpath @ ../outside/{WHEEL}"),
    "named-absolute-file-url-with-tabs": outside(f"localpath\t@\tfile:///srv/wheels/{WHEEL}"),
    "named-file-url-upper-case-scheme": outside(f"localpath @ FILE:///srv/wheels/{WHEEL}"),
    "project-root-variable": outside(f"${{PROJECT_ROOT}}/../outside/{WHEEL}"),
    "git-over-file": outside("localpath @ git+file:///srv/repos/localpath@v1"),
    "find-links-relative-to-the-file": outside("-f ../../outside"),
    "find-links-with-equals": outside("-f=../../outside"),
    "find-links-file-url": outside("--find-links file:///srv/wheels"),
    "find-links-broken-url": Case(
        ("inputs/base.in:1:", "not a usable path or URL"), files=base_in("-f file://[oops/x\n")
    ),
    "named-broken-file-url": Case(
        ("inputs/base.in:1:", "not a usable path or URL"), files=base_in("x @ file://[oops/x.whl\n")
    ),
    "a-local-project-that-is-not-there": Case(
        ("inputs/base.in:2: ./libs/nolib does not exist",), files=base_in("app\n-e ./libs/nolib\n")
    ),
    "a-local-path-that-is-not-there": Case(
        ("inputs/base.in:1: ./libs/nolib does not exist",), files=base_in("./libs/nolib ; python_version >= '3'\n")
    ),
    "a-named-file-url-that-is-not-there": Case(
        ("inputs/base.in:1: file:./wheels/x-1.0-py3-none-any.whl does not exist",),
        files=base_in("x @ file:./wheels/x-1.0-py3-none-any.whl\n"),
    ),
    "include-cycle": Case(
        ("inputs/b.in:2: include cycle: inputs/a.in -> inputs/b.in -> inputs/a.in",),
        files=base_in("-r a.in\n", **{"inputs/a.in": "-r b.in\n", "inputs/b.in": "helper\n-r a.in\n"}),
    ),
    "include-cycle-through-a-constraint": Case(
        ("inputs/b.in:1: include cycle: inputs/a.in -> inputs/b.in -> inputs/a.in",),
        files=base_in("-r a.in\n", **{"inputs/a.in": "-c b.in\n", "inputs/b.in": "-r a.in\n"}),
    ),
    "include-cycle-closed-by-r-after-c": Case(  # the line that closes it, not the first naming the file
        ("inputs/b.in:2: include cycle: inputs/a.in -> inputs/b.in -> inputs/a.in",),
        files=base_in("-r a.in\n", **{"inputs/a.in": "-r b.in\n", "inputs/b.in": "-c a.in\n-r a.in\n"}),
    ),
    "self-include": Case(("inputs/base.in:2: include cycle",), files=base_in("app\n-r base.in\n")),
    "self-include-spelled-differently": Case(
        ("inputs/base.in:1: include cycle",), files=base_in("-r ./../inputs/base.in\n")
    ),
    "not-utf8-on-line-3": Case(("inputs/base.in:3:",), files=base_in(b"app\nhelper\n\xff\xfe bad\n")),
    "latin1-in-a-comment": Case(("inputs/base.in:2:",), files=base_in(b"app\nhelper  # caf\xe9\n")),
    "not-utf8-in-an-included-file": Case(
        ("inputs/more.in:1:",), files=base_in("-r more.in\n", **{"inputs/more.in": b"caf\xe9\n"})
    ),
    "bad-line-in-an-included-file": Case(
        ("inputs/more.in:2:", "tool>>1"), files=base_in("app\n-r more.in\n", **{"inputs/more.in": "helper\ntool>>1\n"})
    ),
    "credentials-in-a-url-requirement-with-a-bad-marker": Case(
        ("inputs/base.in:1:",),
        files=base_in(
            f"app @ https://user:{SECRET}@example.invalid/app-1.0-py3-none-any.whl ; python_version >>> '3'\n"
        ),
    ),
    "credentials-on-an-index-line-then-a-bad-marker": Case(
        ("inputs/base.in:2:",),
        files=base_in(
            f"--extra-index-url https://user:{SECRET}@example.invalid/simple\napp ; python_version >>> '3'\n"
        ),
    ),
    "credentials-on-a-misspelled-option": Case(
        ("inputs/base.in:1:",), files=base_in(f"--extra-indx-url https://user:{SECRET}@example.invalid/simple\n")
    ),
    # what uv would refuse once for every variant, with exit 1 and no line named
    "editable-without-a-value": Case(("inputs/base.in:2:", "-e needs a value"), files=base_in("app\n-e\n")),
    "index-url-without-a-value": Case(("inputs/base.in:1:", "--index-url"), files=base_in("--index-url\napp\n")),
    "index-url-ftp": Case(("inputs/base.in:1:", "ftp://"), files=base_in("--index-url ftp://example.invalid\napp\n")),
    "index-url-bad-port": Case(
        ("inputs/base.in:1:", "port is not a number from 0 to 65535"),
        files=base_in("-i https://example.invalid:99999/simple\napp\n"),
    ),
    "extra-index-url-port-not-a-number": Case(
        ("inputs/base.in:2:",), files=base_in(f"app\n--extra-index-url https://u:{SECRET}@e.invalid:abc/simple\n")
    ),
    "url-requirement-bad-port": Case(
        ("inputs/base.in:1:",), files=base_in("x @ https://example.invalid:99999/x-1.0-py3-none-any.whl\n")
    ),
    "url-requirement-no-host": Case(
        ("inputs/base.in:1:", "names no host"), files=base_in("x @ https:///x-1.0-py3-none-any.whl\n")
    ),
    "url-requirement-nothing-after-the-scheme": Case(
        ("inputs/base.in:1:", "names no host"), files=base_in("x @ https://\n")
    ),
    "url-requirement-a-mistyped-scheme": Case(
        ("inputs/base.in:1:", "htp: is no scheme"), files=base_in("x @ htp:/x\n")
    ),
    "url-requirement-open-ipv6-bracket": Case(
        ("inputs/base.in:1:", "bracket is not closed"), files=base_in("x @ https://[::1/x-1.0-py3-none-any.whl\n")
    ),
    "find-links-missing-folder": Case(("inputs/base.in:1:", "nolinks"), files=base_in("-f nolinks\napp\n")),
    "find-links-a-wheel": Case(
        ("inputs/base.in:1:", "is a file"), files=base_in("-f app.whl\napp\n", **{"inputs/app.whl": b"PK\x03\x04\xff"})
    ),
    "space-before-a-local-projects-extras": Case(
        ("inputs/base.in:2:", "does not exist"),
        files=base_in("app\n./libs/mylib [dev]\n", **{"libs/mylib/pyproject.toml": "[project]\nname = 'mylib'\n"}),
    ),
    "only-binary-quotes-that-do-not-match": Case(
        ("inputs/base.in:1:", "--only-binary"), files=base_in("--only-binary ':all:\"\napp\n")
    ),
    "only-binary-a-comma-list": Case(
        ("inputs/base.in:1:", "comma list"), files=base_in("--only-binary app,helper\napp\n")
    ),
    "editable-vcs-url": Case(
        ("inputs/base.in:2:", "no VCS URL as editable"),
        files=base_in("app\n-e git+https://example.invalid/r@v1#egg=r\n"),
    ),
    "index-variable-set-to-nothing": Case(
        ("inputs/base.in:1:", "${{PRIV_IDX}} is set to nothing here"),
        files=base_in("--extra-index-url ${PRIV_IDX}\napp\n"),
        env={"PRIV_IDX": ""},
    ),
    "editable-a-file": Case(("inputs/base.in:2:", "is a file"), files=base_in("app\n-e inputs/base.in\n")),
    "editable-a-folder-that-is-no-project": Case(
        ("inputs/base.in:2:", "no pyproject.toml or setup.py"), files=base_in("app\n-e ./empty\n", empty=None)
    ),
    "a-folder-that-is-no-project": Case(
        ("inputs/base.in:2:", "no pyproject.toml or setup.py"), files=base_in("app\nlib @ file:./empty\n", empty=None)
    ),
    "a-wheel-that-is-not-there": Case(
        ("inputs/base.in:2:", "does not exist"), files=base_in("app\nhelper-2.0-py3-none-any.whl\n")
    ),
    "an-option-uv-ignores-with-another-after-it": Case(  # uv drops the whole line: other.in never read
        ("inputs/base.in:1:", "uv ignores this option's whole line"),
        files=base_in("--pre -r other.in\napp\n", **{"inputs/other.in": "helper\n"}),
    ),
    "trusted-host-with-another-option": Case(
        ("inputs/base.in:1:", "uv ignores this option's whole line"),
        files=base_in("--trusted-host example.org -r other.in\napp\n", **{"inputs/other.in": "helper\n"}),
    ),
    "an-include-whose-variable-is-not-set": Case(
        ("inputs/base.in:1:", "${{NOT_SET_ANYWHERE}} is not set here", "sync and verify too"),
        files=base_in("-r ${NOT_SET_ANYWHERE}/other.in\napp\n"),
    ),
    "an-editable-named-vcs-url": Case(
        ("inputs/base.in:2:", "no VCS URL as editable"), files=base_in("app\n-e r @ git+https://example.invalid/r@v1\n")
    ),
    "a-hash-with-no-value": Case(("inputs/base.in:1:", "--hash needs a value"), files=base_in("helper==2.0 --hash=\n")),
    "a-hash-flag-ending-the-line": Case(
        ("inputs/base.in:1:", "--hash needs a value"), files=base_in("helper==2.0 --hash\n")
    ),
    "a-hash-flag-ending-a-continued-line": Case(
        ("inputs/base.in:1:", "--hash needs a value"), files=base_in("helper==2.0 \\\n    --hash\n")
    ),
    "a-value-glued-to-a-short-option": Case(
        ("inputs/base.in:1:", "uv reads no value glued to -r: write -r other.in"),
        files=base_in("-rother.in\napp\n", **{"inputs/other.in": "helper\n"}),
    ),
    "a-folder-glued-to-f": Case(
        ("inputs/base.in:1:", "glued to -f"), files=base_in("-fwheels\napp\n", **{"inputs/wheels": None})
    ),
    "a-relative-file-url-for-f": Case(
        ("inputs/base.in:1:", "from the file system's root; write the folder's path (./wheels)"),
        files=base_in("-f file:./wheels\napp\n", **{"inputs/wheels": None}),
    ),
    "a-quoted-editable": Case(  # uv keeps -e's quotes, and finds no such folder
        ("inputs/base.in:2:", "does not exist"),
        files=base_in('app\n-e "./libs/mine"\n', **{"libs/mine/pyproject.toml": "[project]\nname = 'mine'\n"}),
    ),
    "a-flag-with-a-value": Case(  # uv drops the line: the word is lost
        ("inputs/base.in:1:", "--pre extra: uv ignores this option's whole line"), files=base_in("--pre extra\napp\n")
    ),
    "a-flag-uv-reads-with-a-value": Case(
        ("inputs/base.in:1:", "--no-index takes no value"), files=base_in("--no-index x\napp\n")
    ),
    "no-binary-not-names": Case(("inputs/base.in:2:", "--no-binary"), files=base_in("app\n--no-binary foo!!\n")),
    "credentials-in-a-continued-line-with-a-bad-marker": Case(
        ("inputs/base.in:1:",),
        files=base_in(f"app @ https://user:{SECRET}@example.invalid/app.whl \\\n  ; python_version >>> '3'\n"),
    ),
}


@pytest.mark.parametrize("name", list(INTENTS))
def test_intent_file(project: Project, name: str) -> None:
    run_case(project, INTENTS[name])


ACCEPTED: dict[str, dict[str, str | bytes | None]] = {
    "utf8-bom": base_in("\ufeffapp\n".encode()),
    "crlf": base_in(b"app\r\nhelper\r\n"),
    "bom-and-crlf": base_in("\ufeffapp\r\nhelper  # comment\r\n".encode()),
    "backslash-continuation": base_in("app \\\n    >=1.0\n"),
    "backslash-continuation-crlf": base_in(b"app \\\r\n    >=1.0\r\nhelper\r\n"),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_intent_syntax_pip_and_uv_accept(project: Project, name: str) -> None:
    """A BOM, CRLF and ``\\`` continuations are read as pip and uv read them."""
    prepare(project, Case((), files=ACCEPTED[name]))
    before = tree(project.root)
    outcome = invoke(["compile", "--config", str(project.config), "--dry-run", "py312-cpu"])
    assert_clean(outcome)
    assert outcome.code == 0, outcome.show()
    assert "error" not in outcome.stderr, outcome.show()
    assert_unchanged(before, project.root, outcome)


def _project_at(*parts: str) -> Callable[[Path], object]:
    def made(root: Path) -> object:
        return make_local_project(root.joinpath(*parts), "mylib", "0.1", ["helper"])

    return made


def _git_repository(root: Path) -> None:
    """A repository whose project is in a subfolder, as monorepos keep them."""
    repo = root / "libs" / "repo"
    make_local_project(repo / "python", "mylib", "0.1", ["helper"])
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "mylib"], check=True)


def _write(root: Path, *, other: str, cons: str) -> None:
    (root / "inputs/other.in").write_text(other)
    (root / "inputs/cons.txt").write_text(cons)


def _own_wheels(root: Path) -> None:
    """A find-links folder of the project's own: with --no-index, all there is."""
    from wheelmaker import make_wheel

    make_wheel(root / "wheels", "app", "1.0")


def _links_page_in_the_configuration(root: Path) -> None:
    config = root / "lockgen.toml"
    config.write_text('find-links = ["pages/links.html"]\n' + config.read_text())
    (root / "pages").mkdir()
    (root / "pages/links.html").write_text("<html></html>\n")


def _no_break_space_in_a_path(root: Path) -> None:
    config = root / "lockgen.toml"
    config.write_text(config.read_text().replace('"inputs/base.in"', '"inputs/base\u00a0in.in"'))
    (root / "inputs" / "base\u00a0in.in").write_text("app\n")


# What pip and uv read that a stricter reading once refused: (intent file text, setup).
PLACES: dict[str, tuple[str, Callable[[Path], object] | None]] = {
    "find-links-html-page": (
        "-f links.html\napp\n",
        lambda root: (root / "inputs/links.html").write_text("<html></html>\n"),
    ),
    "find-links-html-page-in-the-configuration": ("app\n", _links_page_in_the_configuration),
    "find-links-text-page": ("-f links.txt\napp\n", lambda root: (root / "inputs/links.txt").write_text("\n")),
    "find-links-quoted": (
        '-f "links.html"\napp\n',
        lambda root: (root / "inputs/links.html").write_text("<html></html>\n"),
    ),
    "index-folder-quoted": ("--extra-index-url './simple'\napp\n", lambda root: (root / "simple").mkdir()),
    "file-url-with-extras": ("app\n-e file:./libs/mylib[dev]\n", _project_at("libs", "mylib")),
    "quoted-include": ("-r \"other.in\"\n-c 'cons.txt'\n", lambda root: _write(root, other="app\n", cons="helper\n")),
    "include-with-a-variable": (
        "-r ${PROJECT_ROOT}/inputs/other.in\n-c ${CONS}\n",
        lambda root: _write(root, other="app\n", cons="helper\n"),
    ),
    "editable-named": ("app\n-e mylib @ file:./libs/mylib\n", _project_at("libs", "mylib")),
    "hashes-uv-ignores": ("app --hash=md5:d41d8cd98f00b204e9800998ecf8427e\n", None),
    "options-uv-ignores-together": ("--pre --prefer-binary\n--prefer-binary --trusted-host x.example\napp\n", None),
    "options-uv-ignores": ("--require-hashes\n--use-feature=fast-deps\n--trusted-host a.example --pre\napp\n", None),
    "a-flag-then-an-option": ("--no-index -f ../wheels\napp\n", _own_wheels),
    "find-links-from-a-variable-in-a-copy": (
        "app \\\n  >=1.0\n-f ${HERE}/wheels\n",
        lambda root: (root / "wheels").mkdir(),
    ),
    "find-links-with-a-space-in-a-copy": (
        'app \\\n  >=1.0\n-f "my wheels"\n',
        lambda root: (root / "inputs/my wheels").mkdir(),
    ),
    "a-quoted-include-with-a-space": (
        '-r "my other.in"\n',
        lambda root: (root / "inputs/my other.in").write_text("app\n"),
    ),
    "a-quoted-include-with-a-space-in-a-copy": (  # a continuation: uv reads a copy, whose include is quoted too
        'app \\\n  >=1.0\n-r "my other.in"\n',
        lambda root: (root / "inputs/my other.in").write_text("helper\n"),
    ),
    "a-flag-then-an-option-beside-a-copy": (  # -f stays relative to the file in the copy uv reads
        "app \\\n  >=1.0\n-r other.in\n",
        lambda root: _own_wheels(root) or (root / "inputs/other.in").write_text("--no-index -f ../wheels\n"),
    ),
    "editable-with-extras": ("app\n-e ./libs/mylib[dev]\n", _project_at("libs", "mylib")),
    "path-with-extras": ("app\n./libs/mylib[dev]\n", _project_at("libs", "mylib")),
    "editable-project-root-with-extras": ("app\n-e .[dev]\n", _project_at()),
    "git-file-url-subdirectory": (
        "app\nmylib @ git+file://${PROJECT_ROOT}/libs/repo@main#subdirectory=python\n",
        _git_repository,
    ),
    "index-folder-in-the-project": ("--extra-index-url ./simple\napp\n", lambda root: (root / "simple").mkdir()),
    "quoted-only-binary": ('--only-binary ":all:"\napp\n', None),
    "no-break-space-in-a-configured-path": ("app\n", _no_break_space_in_a_path),
}


@pytest.mark.parametrize("name", list(PLACES))
def test_places_and_options_uv_reads_are_accepted(project: Project, name: str) -> None:
    """Read as uv reads them, each compiles: refusing one would stop a working project."""
    text, setup = PLACES[name]
    project.write("inputs/base.in", text)
    if setup is not None:
        setup(project.root)
    result = project.run("compile", "py312-cpu", env={"CONS": "cons.txt", "HERE": str(project.root)})
    assert result.exit_code == 0, result.output
    lock = pylock.read(project.lock("py312-cpu"))
    assert lock is not None and "app" in lock.versions
    if "mylib" in text or "libs/mylib" in text or ".[dev]" in text:
        assert "mylib" in lock.versions and "helper" in lock.versions, lock.versions


def test_an_index_url_that_holds_an_at_in_its_password_is_a_url() -> None:
    """The last ``@`` ends the user part, as uv's URL parser reads it."""
    from lockgen.project.values import url_problem

    assert url_problem("https://user:p@ss@pypi.example.org/simple") is None
    assert url_problem("https://user:p@ss@/simple") == "names no host"


def test_an_index_whose_variable_is_not_set_here_does_not_stop_check_or_sync(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI and machines that only sync need not hold the private index's address or the
    wheels folder: the lock already names every file, and the digest reads the file as
    written."""
    (project.root / "wheels").mkdir()
    project.write("inputs/cpu.in", "--extra-index-url ${PRIV_IDX}\n-f ${WHEELS}\n")
    monkeypatch.setenv("PRIV_IDX", project.indexes.cpu)
    monkeypatch.setenv("WHEELS", str(project.root / "wheels"))
    assert project.run("compile").exit_code == 0
    monkeypatch.delenv("PRIV_IDX")
    monkeypatch.delenv("WHEELS")
    for argv in (("check",), ("sync", "--variant", "py311-cpu", "--dry-run"), ("verify", "--variant", "py311-cpu")):
        result = project.run(*argv)
        assert result.exit_code in ((0,) if argv[0] != "verify" else (1,)), (argv, result.output)
        assert "error" not in result.output, (argv, result.output)


def test_an_index_and_another_option_on_one_line_is_refused_saying_why(project: Project) -> None:
    """uv reads ``URL --trusted-host h`` as one URL, and finds nothing on it."""
    project.write("inputs/cpu.in", f"--extra-index-url {project.indexes.cpu} --trusted-host example.org\n")
    result = project.run("compile")
    assert result.exit_code == 2
    assert "inputs/cpu.in:1: --extra-index-url" in result.output and "one option a line" in result.output


def test_an_include_chain_a_thousand_deep(project: Project) -> None:
    """Either it works or it is one clear error; never a RecursionError."""
    prepare(project, Case((), files=deep_chain(1000)))
    before = tree(project.root)
    outcome = invoke(["compile", "--config", str(project.config), "--dry-run", "py312-cpu"])
    assert_clean(outcome)
    if outcome.code != 0:
        assert_error(outcome, 2, ("inputs/",))
    assert_unchanged(before, project.root, outcome)


# --- flags --------------------------------------------------------------------------------


def executable_script(root: Path) -> None:
    script = root / "fake-python"
    script.write_text("#!/bin/sh\necho 'not python'\n")
    script.chmod(0o755)


FLAGS: dict[str, Case] = {
    "upgrade-package-not-a-name": Case(("--upgrade-package", "not a name!"), args=("compile", "-P", "not a name!")),
    "upgrade-package-empty": Case(("--upgrade-package",), args=("compile", "--upgrade-package", "")),
    "jobs-0": Case(("--jobs",), args=("compile", "--jobs", "0")),
    "jobs-negative": Case(("--jobs",), args=("compile", "-j", "-1")),
    "jobs-not-a-number": Case(("--jobs",), args=("compile", "--jobs", "many")),
    "unknown-compile-flag": Case(("--frobnicate",), args=("compile", "--frobnicate")),
    "unknown-check-flag": Case(("--fix",), args=("check", "--fix")),
    "unknown-sync-flag": Case(("--force",), args=("sync", "--force")),
    "unknown-detect-flag": Case(("--bogus",), args=("detect", "--bogus")),
    "unknown-command": Case(("frobnicate",), args=("frobnicate",), raw=True),
    "unknown-global-flag": Case(("--quiet",), args=("--quiet", "check"), raw=True),
    "compile-pattern-matching-nothing": Case(("nomatch*", "py312-cpu"), args=("compile", "nomatch*")),
    "select-unknown-variant": Case(("nope", "py312-cpu"), args=("select", "--variant", "nope")),
    "sync-unknown-variant": Case(("nope", "py312-cpu"), args=("sync", "--variant", "nope")),
    "verify-unknown-variant": Case(("nope",), args=("verify", "--variant", "nope")),
    "why-unknown-variant": Case(("nope",), args=("why", "helper", "--variant", "nope")),
    "sync-variant-of-another-python": Case(
        ("--variant", OTHER_PYTHON_CPU), args=("sync", "--variant", OTHER_PYTHON_CPU)
    ),
    "diff-unknown-format": Case(("--format",), args=("diff", "--format", "xml")),
    "diff-outside-git": Case(("--base",), args=("diff",)),
    "config-a-folder": Case(("{root}",), args=("check", "--config", "{root}"), raw=True),
    "config-missing": Case(("{root}/nope.toml",), args=("check", "--config", "{root}/nope.toml"), raw=True),
    "python-a-name-too-long": Case(
        ("--python", "File name too long"),
        args=(
            "verify",
            "--python",
            "{root}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
    ),
    "config-a-name-too-long": Case(
        ("--config", "File name too long"),
        args=(
            "check",
            "--config",
            "{root}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        raw=True,
    ),
    "python-a-folder-not-a-venv": Case(
        ("--python", "{root}/notvenv"), args=("select", "--python", "{root}/notvenv"), files={"notvenv/bin": None}
    ),
    "python-a-text-file": Case(
        ("--python", "{root}/python.txt"),
        args=("select", "--python", "{root}/python.txt"),
        files={"python.txt": "hi\n"},
    ),
    "python-a-script-that-is-not-python": Case(
        ("--python", "{root}/fake-python"), args=("select", "--python", "{root}/fake-python"), setup=executable_script
    ),
    "python-missing": Case(("--python", "{root}/nope"), args=("select", "--python", "{root}/nope")),
    "sync-python-a-folder-not-a-venv": Case(
        ("--python", "{root}/notvenv"), args=("sync", "--python", "{root}/notvenv"), files={"notvenv": None}
    ),
    "sync-python-a-text-file": Case(
        ("--python", "{root}/python.txt"), args=("sync", "--python", "{root}/python.txt"), files={"python.txt": "hi\n"}
    ),
    "sync-python-missing": Case(("--python", "{root}/nope"), args=("sync", "--python", "{root}/nope")),
    "verify-python-a-folder-not-a-venv": Case(
        ("--python", "{root}/notvenv"), args=("verify", "--python", "{root}/notvenv"), files={"notvenv": None}
    ),
}


@pytest.mark.parametrize("name", list(FLAGS))
def test_flag(project: Project, name: str) -> None:
    run_case(project, FLAGS[name])


def test_diff_base_that_is_not_a_commit(project: Project) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(project.root)], check=True)
    subprocess.run([*git, "-C", str(project.root), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(project.root), "commit", "-qm", "x"], check=True)
    run_case(project, Case(("--base", "no-such-ref"), args=("diff", "--base", "no-such-ref")))


# --- environment variables ------------------------------------------------------------------

ENVIRONMENT: dict[str, Case] = {
    "LOCKGEN_CUDA-garbage": Case(("LOCKGEN_CUDA", "banana"), args=("select",), env={"LOCKGEN_CUDA": "banana"}),
    "LOCKGEN_CUDA-a-bare-major": Case(("LOCKGEN_CUDA", "12"), args=("select",), env={"LOCKGEN_CUDA": "12"}),
    "LOCKGEN_CUDA-garbage-in-detect": Case(("LOCKGEN_CUDA",), args=("detect",), env={"LOCKGEN_CUDA": "cuda12.4"}),
    "LOCKGEN_CUDA-garbage-in-sync": Case(("LOCKGEN_CUDA",), args=("sync",), env={"LOCKGEN_CUDA": "twelve"}),
    "LOCKGEN_GPU_ARCHS-only-commas": Case(("LOCKGEN_GPU_ARCHS",), args=("select",), env={"LOCKGEN_GPU_ARCHS": ",,"}),
    "LOCKGEN_GPU_ARCHS-sm_90": Case(
        ("LOCKGEN_GPU_ARCHS", "sm_90"), args=("select",), env={"LOCKGEN_GPU_ARCHS": "sm_90", "LOCKGEN_CUDA": "12.8"}
    ),
    "LOCKGEN_GPU_ARCHS-99.9": Case(
        ("LOCKGEN_GPU_ARCHS", "99.9"), args=("select",), env={"LOCKGEN_GPU_ARCHS": "99.9", "LOCKGEN_CUDA": "12.8"}
    ),
    "LOCKGEN_GPU_ARCHS-abc": Case(("LOCKGEN_GPU_ARCHS", "abc"), args=("select",), env={"LOCKGEN_GPU_ARCHS": "abc"}),
    "LOCKGEN_GPU_ARCHS-abc-in-detect": Case(("LOCKGEN_GPU_ARCHS",), args=("detect",), env={"LOCKGEN_GPU_ARCHS": "abc"}),
    "LOCKGEN_GPU_ARCHS-one-bad-of-two": Case(
        ("LOCKGEN_GPU_ARCHS", "x.y"), args=("select",), env={"LOCKGEN_GPU_ARCHS": "8.0,x.y"}
    ),
    # a cache folder asked for and not usable is said, not swapped for another without a word
    "LOCKGEN_CACHE_DIR-dev-null": Case(("LOCKGEN_CACHE_DIR", "/dev/null"), env={"LOCKGEN_CACHE_DIR": "/dev/null"}),
    "LOCKGEN_CACHE_DIR-a-file": Case(
        ("LOCKGEN_CACHE_DIR", "{root}/afile"), env={"LOCKGEN_CACHE_DIR": "{root}/afile"}, files={"afile": "x\n"}
    ),
    "LOCKGEN_CACHE_DIR-in-proc": Case(("LOCKGEN_CACHE_DIR", "/proc/nope"), env={"LOCKGEN_CACHE_DIR": "/proc/nope"}),
    "LOCKGEN_VARIANT-unknown-select": Case(("nope",), args=("select",), env={"LOCKGEN_VARIANT": "nope"}),
    "LOCKGEN_VARIANT-unknown-sync": Case(("nope",), args=("sync",), env={"LOCKGEN_VARIANT": "nope"}),
    "VIRTUAL_ENV-a-name-too-long": Case(
        ("VIRTUAL_ENV", "File name too long"),
        args=("verify",),
        env={
            "VIRTUAL_ENV": "{root}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        },
    ),
    "VIRTUAL_ENV-a-folder-not-a-venv": Case(
        ("VIRTUAL_ENV", "{root}/notvenv"),
        args=("select",),
        env={"VIRTUAL_ENV": "{root}/notvenv"},
        files={"notvenv": None},
    ),
    "VIRTUAL_ENV-missing": Case(("VIRTUAL_ENV", "{root}/gone"), args=("select",), env={"VIRTUAL_ENV": "{root}/gone"}),
    "VIRTUAL_ENV-not-a-venv-in-sync": Case(
        ("VIRTUAL_ENV",), args=("sync",), env={"VIRTUAL_ENV": "{root}/notvenv"}, files={"notvenv": None}
    ),
    "dot-venv-not-a-venv": Case((".venv",), args=("sync",), files={".venv/bin": None}),
}


@pytest.mark.parametrize("name", list(ENVIRONMENT))
def test_environment_variable(project: Project, name: str) -> None:
    run_case(project, ENVIRONMENT[name])


def test_a_cache_folder_made_under_a_loose_umask_is_private_and_used(project: Project) -> None:
    """Every folder lockgen makes for LOCKGEN_CACHE_DIR is its user's alone, whatever the
    umask: made group-writable, lockgen would refuse its own folder."""
    import tempfile
    import uuid

    top = Path(tempfile.gettempdir()) / f"lockgen-umask-{uuid.uuid4().hex}"
    old = os.umask(0o002)
    try:
        for command in ("compile", "check"):
            result = project.run(command, env={"LOCKGEN_CACHE_DIR": str(top / "a" / "cache")})
            assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    try:
        made = [top, top / "a", top / "a" / "cache"]
        assert [oct(p.stat().st_mode & 0o777) for p in made] == [oct(0o700)] * 3
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("sticky", [False, True])
def test_a_cache_folder_every_user_may_write_to_is_refused_unless_sticky(
    project: Project, tmp_path: Path, sticky: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0777 LOCKGEN_CACHE_DIR: anyone could rename lockgen's runs/ folder in it and put
    their own, which lockgen then trusted. /tmp's sticky bit forbids that: it is fine."""
    import tempfile

    elsewhere = tmp_path / "tmp"  # the folder stands outside the shared temporary folder, as a user's own would
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o1777 if sticky else 0o777)
    (shared / "mine").mkdir(mode=0o700)  # one level below it is no better: the folder can be renamed
    for named in (shared, shared / "mine", shared / "not" / "yet"):
        result = project.run("check", env={"LOCKGEN_CACHE_DIR": str(named)})
        if sticky:
            assert result.exit_code in (0, 1) and "LOCKGEN_CACHE_DIR" not in result.output, result.output
        else:
            assert result.exit_code == 2, result.output
            assert f"error: LOCKGEN_CACHE_DIR: {named} cannot hold lockgen's cache (writable by every user" in (
                result.output
            )
            assert not (shared / "not").exists(), "made there before it was refused"


def test_a_named_editable_is_a_constraint_the_configuration_may_give(project: Project) -> None:
    """uv's --constraint takes ``-e x @ file:./libs/x``, directly or through a ``-r``:
    lockgen refused it with the nameless ones (0.3 compiled it)."""
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "x", "xlocal", "1.0", ["helper"])
    project.write("c.txt", "-r more.txt\n")
    project.write("more.txt", "-e xlocal @ file:./libs/x\n")
    project.config.write_text('constraints = ["c.txt"]\n' + project.config.read_text())
    result = project.run("compile")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("line", ["locks-dir = 3", "exclude-newer = 5", "inputs = [1]", "constraints = [2.5]"])
def test_a_number_where_no_version_goes_gets_no_hint_to_quote_a_version(project: Project, line: str) -> None:
    """The hint to quote a version TOML read as a number suggested ``locks-dir = ["12.8"]``."""
    project.config.write_text(top(line) if not line.startswith("inputs") else line + '\npython = ["3.12"]\n' + CPU)
    result = project.run("check")
    assert result.exit_code == 2 and "expected" in result.output, result.output
    assert "unquoted version" not in result.output and "12.8" not in result.output, result.output


# --- locks ----------------------------------------------------------------------------------

VARIANT = f"{TAG}-cpu"
LOCK_CONFIG = f"""
inputs = ["inputs/base.in"]
python = ["{MINOR}"]
index-url = "{{pypi}}"

[accelerators.cpu]
"""


@pytest.fixture(scope="module")
def compiled_template(tmp_path_factory: pytest.TempPathFactory, indexes: Indexes) -> Path:
    """A project compiled once per module: one CPU variant for the running Python."""
    root = tmp_path_factory.mktemp("compiled") / "proj"
    project = Project(root, indexes)
    project.write("lockgen.toml", LOCK_CONFIG.format(pypi=indexes.pypi))
    project.write("inputs/base.in", "tool\n")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("VIRTUAL_ENV", "LOCKGEN_CUDA", "LOCKGEN_GPU_ARCHS", "LOCKGEN_VARIANT"):
            mp.delenv(var, raising=False)
        mp.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
        outcome = invoke(["compile", "--config", str(project.config)])
    assert outcome.code == 0, outcome.show()
    assert project.lock(VARIANT).is_file()
    return root


@pytest.fixture
def compiled(tmp_path: Path, compiled_template: Path, indexes: Indexes) -> Project:
    """A copy of the compiled project three folders down, so ``../../../`` from its
    locks folder lands in ``tmp_path/a``, outside the project."""
    root = tmp_path / "a" / "b" / "proj"
    shutil.copytree(compiled_template, root, symlinks=True)
    return Project(root, indexes)


def _not_toml(p: Project) -> None:
    p.lock(VARIANT).write_text("this is [not toml\n")


def _not_pep751(p: Project) -> None:
    p.lock(VARIANT).write_text(f'[tool.lockgen]\nvariant = "{VARIANT}"\n')


def _empty(p: Project) -> None:
    p.lock(VARIANT).write_text("")


def _not_utf8(p: Project) -> None:
    p.lock(VARIANT).write_bytes(b'lock-version = "1.0"\n# \xff\xfe\n')


def _a_folder(p: Project) -> None:
    p.lock(VARIANT).unlink()
    p.lock(VARIANT).mkdir()


def _other_variant(p: Project) -> None:
    text = p.lock(VARIANT).read_text()
    assert f'variant = "{VARIANT}"' in text
    p.lock(VARIANT).write_text(text.replace(f'variant = "{VARIANT}"', f'variant = "{TAG}-cu128"'))


def _wheel_url_to_path(p: Project, make_path: Callable[[Path, str], str]) -> None:
    """Point helper's wheel at a ``path`` (made by ``make_path``) holding the very same
    wheel, so that a lockgen that does not refuse it really installs it."""
    text = p.lock(VARIANT).read_text()
    m = re.search(r'url = "(file://[^"]*/(helper-[^"/]+\.whl))"', text)
    assert m, text
    source = Path(m[1].removeprefix("file://"))
    p.lock(VARIANT).write_text(text.replace(f'url = "{m[1]}"', f'path = "{make_path(source, m[2])}"'))


def _path_climbing_out(p: Project) -> None:
    def put(source: Path, name: str) -> str:
        shutil.copy(source, p.root.parent.parent / name)  # tmp_path/a: outside the project
        return f"../../../{name}"

    _wheel_url_to_path(p, put)


def _path_absolute(p: Project) -> None:
    def put(source: Path, name: str) -> str:
        target = p.root.parent.parent / "abs" / name
        target.parent.mkdir()
        shutil.copy(source, target)
        return str(target)

    _wheel_url_to_path(p, put)


def _unparsable_marker(p: Project) -> None:
    """packaging's message for it holds the marker and a caret line under it."""
    text = p.lock(VARIANT).read_text()
    assert 'name = "tool"\n' in text
    p.lock(VARIANT).write_text(text.replace('name = "tool"\n', 'name = "tool"\nmarker = "python_version <<< 3"\n', 1))


def _nested_too_deep(p: Project) -> None:
    """tomli stops at 400 levels with a RecursionError, which read as lockgen's own bug."""
    p.lock(VARIANT).write_text(p.lock(VARIANT).read_text() + "x = " + "[" * 1000 + "]" * 1000 + "\n")


LOCK_FAULTS: dict[str, Callable[[Project], None]] = {
    "not-toml": _not_toml,
    "nested-too-deep": _nested_too_deep,
    "a-marker-packaging-cannot-parse": _unparsable_marker,
    "not-pep751": _not_pep751,
    "empty": _empty,
    "not-utf8": _not_utf8,
    "a-folder": _a_folder,
    "names-another-variant": _other_variant,
    "wheel-path-climbing-out": _path_climbing_out,
    "wheel-path-absolute-outside": _path_absolute,
}
LOCK_COMMANDS: dict[str, tuple[str, ...]] = {
    "sync": ("sync",),
    "sync-variant": ("sync", "--variant", VARIANT),
    "sync-dry-run": ("sync", "--dry-run"),
    "verify": ("verify", "--variant", VARIANT),
}
# verify reads a lock, it installs nothing: a path outside the project is sync's concern.
_LOCK_SKIP = {("wheel-path-climbing-out", "verify"), ("wheel-path-absolute-outside", "verify")}


@pytest.mark.parametrize(
    ("fault", "command"),
    [(f, c) for f in LOCK_FAULTS for c in LOCK_COMMANDS if (f, c) not in _LOCK_SKIP],
)
def test_lock(compiled: Project, fault: str, command: str) -> None:
    """A bad lock is bad input: exit 2, the lock named, nothing installed."""
    LOCK_FAULTS[fault](compiled)
    outside = tree(compiled.root.parent.parent)
    outcome = invoke([LOCK_COMMANDS[command][0], "--config", str(compiled.config), *LOCK_COMMANDS[command][1:]])
    assert_error(outcome, 2, (f"pylock.{VARIANT}.toml",))
    assert_unchanged(outside, compiled.root.parent.parent, outcome)
    assert not (compiled.root / ".venv").exists(), "a refused lock created the environment\n" + outcome.show()


@pytest.mark.parametrize(
    "fault", ["not-toml", "nested-too-deep", "not-pep751", "empty", "not-utf8", "a-folder", "names-another-variant"]
)
def test_check_reports_a_bad_lock(compiled: Project, fault: str) -> None:
    """``check``: exit 1 and a line naming the lock; no traceback, nothing written."""
    LOCK_FAULTS[fault](compiled)
    before = tree(compiled.root)
    outcome = invoke(["check", "--config", str(compiled.config)])
    assert_clean(outcome)
    assert outcome.code == 1, outcome.show()
    assert f"pylock.{VARIANT}.toml" in outcome.stdout + outcome.stderr, outcome.show()
    assert_unchanged(before, compiled.root, outcome)


def test_sync_refuses_lockgens_own_environment_named_by_virtual_env(compiled: Project) -> None:
    """The message blames VIRTUAL_ENV, where the environment came from, not --python."""
    before = tree(compiled.root)
    outcome = invoke(["sync", "--config", str(compiled.config), "--dry-run"], env={"VIRTUAL_ENV": sys.prefix})
    line = assert_error(outcome, 2, ("VIRTUAL_ENV",))
    assert line.startswith("error: VIRTUAL_ENV"), outcome.show()
    assert_unchanged(before, compiled.root, outcome)


@pytest.mark.parametrize("python", ["prefix", "executable"])
def test_sync_refuses_lockgens_own_environment_named_by_python(compiled: Project, python: str) -> None:
    path = sys.prefix if python == "prefix" else sys.executable
    before = tree(compiled.root)
    outcome = invoke(["sync", "--config", str(compiled.config), "--dry-run", "--python", path])
    line = assert_error(outcome, 2, ("--python",))
    assert line.startswith("error: --python"), outcome.show()
    assert_unchanged(before, compiled.root, outcome)


def test_a_real_sync_from_its_own_environment_is_refused(compiled: Project, tmp_path: Path) -> None:
    """lockgen run from a throw-away venv that VIRTUAL_ENV names: refused, exit 2,
    the venv untouched (were the refusal missing, only that venv would change)."""
    from lockgen import uv

    own = tmp_path / "own"
    subprocess.run([uv.binary(), "venv", "-q", "--python", sys.executable, str(own)], check=True)
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = clean_environ({"VIRTUAL_ENV": str(own), "PYTHONPATH": os.pathsep.join([str(REPO), *site])})
    before = tree(own)
    proc = subprocess.run(
        [str(own / "bin" / "python"), "-m", "lockgen", "sync", "--config", str(compiled.config)],
        capture_output=True,
        text=True,
        cwd=compiled.root,
        env=env,
        timeout=300,
    )
    outcome = Outcome(proc.returncode, proc.stdout, proc.stderr, None)
    line = assert_error(outcome, 2, ("VIRTUAL_ENV", str(own)))
    assert line.startswith("error: VIRTUAL_ENV"), outcome.show()
    assert_unchanged(before, own, outcome)


# --- filesystem faults ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "sync", "verify", "compile"])
def test_an_unusable_cache_folder_is_bad_input_in_every_command(compiled: Project, command: str) -> None:
    """One error line and exit 2, not a failure reported once for every variant."""
    before = tree(compiled.root)
    outcome = invoke([command, "--config", str(compiled.config)], env={"LOCKGEN_CACHE_DIR": "/dev/null/cache"})
    assert_error(outcome, 2, ("LOCKGEN_CACHE_DIR", "/dev/null"))
    assert_unchanged(before, compiled.root, outcome)


def test_an_immutable_empty_locks_folder(project: Project) -> None:
    project.locks.mkdir()
    before = tree(project.root)
    with immutable(project.locks):
        outcome = invoke(["compile", "--config", str(project.config), "py312-cpu"])
    assert_error(outcome, 1, (str(project.locks),))
    assert_unchanged(before, project.root, outcome)


def test_an_immutable_locks_folder_keeps_every_old_lock(compiled: Project) -> None:
    compiled.write("inputs/base.in", "tool\nhelper==1.0\n")
    before = tree(compiled.root)
    with immutable(compiled.locks):
        outcome = invoke(["compile", "--config", str(compiled.config)])
    assert_error(outcome, 1, (str(compiled.locks),))
    assert_unchanged(before, compiled.root, outcome)


def test_an_immutable_project_folder_cannot_get_a_venv(compiled: Project) -> None:
    before = tree(compiled.root)
    with immutable(compiled.root):
        outcome = invoke(["sync", "--config", str(compiled.config)])
    assert_error(outcome, 1, (str(compiled.root),))
    assert_unchanged(before, compiled.root, outcome)


def test_a_full_disk_while_writing_locks(compiled: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC at fsync, as a full disk reports it: exit 1, one line, old locks kept."""
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    compiled.write("inputs/base.in", "tool\nhelper==1.0\n")
    before = tree(compiled.root)
    with monkeypatch.context() as mp:
        mp.setattr(os, "fsync", full)
        outcome = invoke(["compile", "--config", str(compiled.config)])
    assert_error(outcome, 1, ("space", str(compiled.locks)))
    assert_unchanged(before, compiled.root, outcome)


def test_a_read_only_configuration_is_fine(compiled: Project) -> None:
    """Nothing needs to write the configuration or the intent files."""
    with immutable(compiled.config, compiled.root / "inputs" / "base.in"):
        for argv in (["compile", "--dry-run"], ["check"], ["select"]):
            command, *rest = argv
            outcome = invoke([command, "--config", str(compiled.config), *rest])
            assert_clean(outcome)
            assert outcome.code == 0, outcome.show()


# --- through a real process: no traceback reaches a terminal -----------------------------------

PROCESS_CASES = {
    "config/pyproject-tool-a-number": CONFIG["pyproject-tool-a-number"],
    "config/locks-dir-a-file": CONFIG["locks-dir-a-file"],
    "config/python-3.011": CONFIG["python-3.011"],
    "config/cuda-99.0": CONFIG["cuda-99.0"],
    "intent/not-utf8-on-line-3": INTENTS["not-utf8-on-line-3"],
    "intent/include-cycle": INTENTS["include-cycle"],
    "flag/upgrade-package-not-a-name": FLAGS["upgrade-package-not-a-name"],
    "flag/python-a-folder-not-a-venv": FLAGS["python-a-folder-not-a-venv"],
    "env/LOCKGEN_GPU_ARCHS-only-commas": ENVIRONMENT["LOCKGEN_GPU_ARCHS-only-commas"],
    "env/VIRTUAL_ENV-a-folder-not-a-venv": ENVIRONMENT["VIRTUAL_ENV-a-folder-not-a-venv"],
}


@pytest.mark.parametrize("name", list(PROCESS_CASES))
def test_through_a_real_process(project: Project, name: str) -> None:
    run_case(project, PROCESS_CASES[name], process=True)


def test_a_thousand_deep_chain_through_a_real_process(project: Project) -> None:
    prepare(project, Case((), files=deep_chain(1000)))
    outcome = invoke_process(["compile", "--config", str(project.config), "--dry-run", "py312-cpu"], project.root)
    assert_clean(outcome)
    if outcome.code != 0:
        assert_error(outcome, 2, ("inputs/",))


def test_a_bad_lock_through_a_real_process(compiled: Project) -> None:
    _path_climbing_out(compiled)
    outcome = invoke_process(["sync", "--config", str(compiled.config)], compiled.root)
    assert_error(outcome, 2, (f"pylock.{VARIANT}.toml", "../../../"))
    assert not (compiled.root / ".venv").exists(), outcome.show()


# --- random configuration documents ----------------------------------------------------------

_TOP_KEYS = [
    "inputs", "python", "platforms", "locks-dir", "constraints", "forbid", "index-url",
    "extra-index-urls", "find-links", "exclude-newer", "formats", "accelerators",
]  # fmt: skip
_ACCEL_KEYS = [
    "inputs", "python", "platforms", "constraints", "index-url", "extra-index-urls",
    "find-links", "priority", "cuda", "gpu-archs", "base",
]  # fmt: skip
_WORDS = [
    "3.12", "3.11", "3.011", "3.99", "3", "3.1x", "12.8", "12.4", "12.7", "13.0", "99.0", "10.2",
    "8.0", "9.0", "sm_90", "99.9", "inputs/base.in", "inputs/cpu.in", "inputs", "locks",
    "../outside.in", "../../outside.in", "/etc/passwd", "x86_64-manylinux_2_28", "aarch64-apple-darwin",
    "beos", "pylock", "requirements", "conda", "file:///nonexistent", "not a url",
    f"https://user:{SECRET}@example.invalid/simple", "2026-01-01T00:00:00Z", "yesterday", "", " ",
    "cpu", "cu128", "CPU", "cu12.8", "numpy", "not a name", "\x00", "é",
]  # fmt: skip
_scalars = st.one_of(
    st.sampled_from(_WORDS),
    st.text(max_size=8),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
)
# Printable keys: a key with a line break in it is its own case above ("unknown-key-with-a-line-break").
_keys = st.one_of(
    st.sampled_from([*_TOP_KEYS, *_ACCEL_KEYS, "tool", "lockgen", "cpu"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=6),
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3), max_leaves=6
)


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A configuration that starts valid and has some keys replaced or added at random."""
    table: dict[str, Any] = {"inputs": ["inputs/base.in"], "python": ["3.12"]}
    for name in draw(st.lists(st.sampled_from(_TOP_KEYS) | _keys, max_size=3)):
        table[name] = draw(_values)
    accelerators: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(["cpu", "cu128", "cu124", "CPU", "cu12.8"]) | _keys, max_size=3)):
        acc_table: dict[str, Any] = {}
        if draw(st.booleans()):
            acc_table["cuda"] = draw(st.sampled_from(["12.8", "12.4", "13.0", "99.0"]) | _scalars)
        for k in draw(st.lists(st.sampled_from(_ACCEL_KEYS) | _keys, max_size=3)):
            acc_table[k] = draw(_values)
        accelerators[name] = acc_table if draw(st.integers(0, 9)) else draw(_values)
    if "accelerators" not in table or draw(st.booleans()):
        table["accelerators"] = accelerators
    kind = draw(st.sampled_from(["lockgen.toml", "pyproject.toml", "pyproject-random-tool"]))
    if kind == "lockgen.toml":
        return kind, table
    if kind == "pyproject.toml":
        return kind, {"tool": {"lockgen": table}}
    return "pyproject.toml", {"tool": draw(_values)}


def _render(document: dict[str, Any]) -> str | None:
    try:
        text = tomlkit.dumps(document)
        tomllib.loads(text)
    except Exception:  # a document tomlkit cannot write, or writes as invalid TOML: the parser's job
        return None
    return text


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_documents())
def test_random_configuration_documents_never_crash(project: Project, drawn: tuple[str, dict[str, Any]]) -> None:
    name, document = drawn
    text = _render(document)
    if text is None:  # still feed lockgen something: the raw repr is a TOML error of its own
        text = repr(document)
    path = project.root / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome = invoke(["check", "--config", str(path)])
    assert_clean(outcome)
    assert outcome.code in (0, 1, 2), outcome.show()
    if outcome.code == 2:
        assert_error(outcome, 2, (f"{path}: ",))


@pytest.mark.parametrize("fault", ["wheel-path-climbing-out", "wheel-path-absolute-outside"])
def test_check_fails_a_lock_edited_to_install_from_outside_the_repository(compiled: Project, fault: str) -> None:
    LOCK_FAULTS[fault](compiled)
    outcome = invoke(["check", "--config", str(compiled.config)])
    assert_clean(outcome)
    assert outcome.code == 1, outcome.show()
    assert "outside the project's repository" in outcome.stdout, outcome.show()

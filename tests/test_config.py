"""Every configuration and intent-file error: one `error:` line naming file and key, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project
from packaging.version import Version

from lockgen import cuda

BASE = 'inputs = ["inputs/base.in"]\npython = ["3.12"]\n'
CPU = "[accelerators.cpu]\n"

CASES = {
    "missing inputs": ('python = ["3.12"]\n' + CPU, "inputs: required key is missing"),
    "missing python": ('inputs = ["inputs/base.in"]\n' + CPU, "python: required key is missing"),
    "no accelerator": (BASE, "accelerators: required key is missing"),
    "unknown top key": (BASE + 'pythn = ["3.12"]\n' + CPU, "pythn: unknown key"),
    "unknown accelerator key": (BASE + CPU + 'cudaa = "12.4"\n', "accelerators.cpu.cudaa: unknown key"),
    "python not a list": ('inputs = ["inputs/base.in"]\npython = "3.12"\n' + CPU, "python: expected a list"),
    "python not minor": (
        'inputs = ["inputs/base.in"]\npython = ["3.12.1"]\n' + CPU,
        "python: '3.12.1' is not a minor version",
    ),
    "input missing": ('inputs = ["inputs/nope.in"]\npython = ["3.12"]\n' + CPU, "inputs: inputs/nope.in: no such file"),
    "dotted accelerator": (
        BASE + '[accelerators."cu12.4"]\ncuda = "12.4"\n',
        "accelerators.cu12.4: accelerator names are lowercase",
    ),
    "uppercase accelerator": (BASE + "[accelerators.CPU]\n", "accelerators.CPU: accelerator names are lowercase"),
    "duplicate table": (BASE + CPU + CPU, "invalid TOML"),
    "impossible gpu-arch": (
        BASE + '[accelerators.cu124]\ncuda = "12.4"\ngpu-archs = ["8.0", "12.0"]\n',
        "accelerators.cu124.gpu-archs: 12.0 is not a compute capability CUDA 12.4 can target",
    ),
    "gpu-arch below CUDA 13": (
        BASE + '[accelerators.cu130]\ncuda = "13.0"\ngpu-archs = ["7.0"]\n',
        "gpu-archs: 7.0 is not a compute capability CUDA 13.0 can target",
    ),
    "gpu-arch spelling": (
        BASE + '[accelerators.cu128]\ncuda = "12.8"\ngpu-archs = ["sm_80"]\n',
        "gpu-archs: 'sm_80' is not a compute capability",
    ),
    "gpu-archs without cuda": (BASE + CPU + 'gpu-archs = ["8.0"]\n', "accelerators.cpu.gpu-archs: needs cuda"),
    "cuda not major.minor": (
        BASE + '[accelerators.cu12]\ncuda = "12"\n',
        "accelerators.cu12.cuda: '12' is not a CUDA version",
    ),
    "cuda too old": (BASE + '[accelerators.cu102]\ncuda = "10.2"\n', "CUDA 10.2 is older than lockgen's table"),
    "cuda a number": (
        BASE + "[accelerators.cu128]\ncuda = 12.8\n",
        "accelerators.cu128.cuda: expected a non-empty string",
    ),
    "unknown platform": (
        BASE + 'platforms = ["beos"]\n' + CPU,
        "platforms: 'beos' is not a uv --python-platform value",
    ),
    "accelerator python outside": (
        BASE + CPU + 'python = ["3.11"]\n',
        "accelerators.cpu.python: 3.11 is not in python",
    ),
    "bad format": (BASE + 'formats = ["conda"]\n' + CPU, "formats: 'conda' is not one of"),
    "bad forbid": (BASE + 'forbid = ["not a name"]\n' + CPU, "forbid: 'not a name' is not a package name"),
    "bad exclude-newer": (
        BASE + 'exclude-newer = "yesterday"\n' + CPU,
        "exclude-newer: 'yesterday' is not an RFC 3339",
    ),
    "bare datetime": (
        BASE + "exclude-newer = 2026-01-01T00:00:00Z\n" + CPU,
        "exclude-newer: write it as a quoted string",
    ),
    "priority not int": (BASE + CPU + 'priority = "high"\n', "accelerators.cpu.priority: expected an integer"),
    "two variants one name": (
        BASE + 'platforms = ["x86_64-manylinux_2_17", "x86_64-manylinux_2_28"]\n' + CPU,
        "two variants are named py312-cpu-linux-x86_64: platforms 'x86_64-manylinux_2_17' and "
        "'x86_64-manylinux_2_28' share an os and arch, which is all a variant's name says",
    ),
    "glibc and musl in one accelerator": (
        BASE + 'platforms = ["x86_64-manylinux_2_28", "x86_64-unknown-linux-musl"]\n' + CPU,
        "give each its own accelerator",
    ),
    "accelerators not a table": (BASE + 'accelerators = ["cpu"]\n', "accelerators: expected at least one"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_configuration_errors(project: Project, name: str) -> None:
    toml, message = CASES[name]
    project.config.write_text(toml)
    result = project.run("compile")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {project.config}: ")
    assert message in lines[0]


INTENT_CASES = {
    "bad requirement": ("app\ntorch>>2\n", "inputs/base.in:2: invalid requirement 'torch>>2'"),
    "unknown option": ("--frobnicate\n", "inputs/base.in:1: unknown option '--frobnicate'"),
    "missing include": ("-r other.in\n", "inputs/base.in:1: includes other.in, which does not exist"),
}


@pytest.mark.parametrize("name", sorted(INTENT_CASES))
def test_intent_file_errors(project: Project, name: str) -> None:
    text, message = INTENT_CASES[name]
    project.write("inputs/base.in", text)
    result = project.run("compile")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"error: {message}")
    assert not project.locks.exists() or not any(project.locks.iterdir())


def test_intent_syntax_that_is_fine(project: Project) -> None:
    project.write("inputs/more.in", "helper  # trailing comment\n")
    project.write("c.txt", "numpy<2\n")
    project.write(
        "inputs/base.in", "# comment\napp[extra] ; python_version >= '3.8'\n-r more.in\n--constraint ../c.txt\ntool\n"
    )
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output


def test_a_url_scheme_in_capitals_is_refused_with_the_spelling_uv_reads(project: Project) -> None:
    """RFC 3986 calls schemes case-insensitive, but uv, given ``HTTPS://`` or ``FILE://``,
    finds no package there and says only that: refused, with the spelling it reads."""
    text = project.config.read_text()
    assert "file://" in text
    project.config.write_text(text.replace("file://", "FILE://"))
    result = project.run("compile")
    assert result.exit_code == 2, result.output
    assert "write its scheme as uv reads it, file://" in result.output, result.output


def test_an_intent_files_index_in_capitals_is_read_as_uv_reads_it(project: Project, tmp_path: Path) -> None:
    """In an intent file uv reads ``HTTP://`` as ``http://``: not refused there."""
    from httpindex import serve, write_page
    from wheelmaker import make_wheel

    write_page(tmp_path / "www", "shouty", [make_wheel(tmp_path / "www" / "files", "shouty", "1.0")])
    with serve(tmp_path / "www") as (url, _, _):
        project.write("inputs/base.in", f"--extra-index-url {url.replace('http://', 'HTTP://')}/simple\napp\nshouty\n")
        result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output


def test_no_traceback_from_the_real_command(project: Project) -> None:
    project.config.write_text(BASE + '[accelerators.cu124]\ncuda = "12.4"\ngpu-archs = ["12.0"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "lockgen", "check", "--config", str(project.config)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("closed", [1, 2])
def test_a_stream_closed_before_lockgen_starts_is_no_traceback(project: Project, closed: int) -> None:
    """``lockgen sync >&-``: Python leaves sys.stdout None, and the exit's flush of it
    raised after the work was done, exit 1."""
    assert project.run("compile").exit_code == 0
    for args, code in ((["--version"], 0), (["check", "--config", str(project.config)], 0)):
        proc = subprocess.run(
            [sys.executable, "-m", "lockgen", *args],
            stdout=subprocess.PIPE if closed == 2 else None,
            stderr=subprocess.PIPE if closed == 1 else None,
            preexec_fn=lambda: os.close(closed),  # the one way to start a child with it closed
            text=True,
        )
        said = proc.stderr if closed == 1 else proc.stdout
        assert proc.returncode == code and "Traceback" not in said, (args, said)


def test_bad_flag_is_exit_2(project: Project) -> None:
    result = project.run("compile", "--jobs", "0")
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_lockgen_toml_wins_over_pyproject(tmp_path, monkeypatch: pytest.MonkeyPatch, project: Project) -> None:
    project.write("pyproject.toml", "[tool.lockgen]\nthis-is = 'ignored'\n")
    monkeypatch.chdir(project.root)
    from click.testing import CliRunner

    from lockgen.cli import main

    result = CliRunner().invoke(main, ["compile", "--dry-run", "py312-cpu"])
    assert result.exit_code == 0, result.output
    project.config.unlink()
    result = CliRunner().invoke(main, ["compile", "--dry-run"])
    assert result.exit_code == 2
    assert "pyproject.toml: tool.lockgen.this-is: unknown key" in result.output


def test_cuda_table_holds_the_documented_facts() -> None:
    t = {
        v: set(cuda.targets(Version(v)) or ()) for v in ("11.8", "12.0", "12.4", "12.7", "12.8", "12.9", "13.0", "13.1")
    }
    for v in ("12.0", "12.4", "12.7"):
        assert min(t[v], key=cuda.arch_key) == "5.0" and max(t[v], key=cuda.arch_key) == "9.0"
    assert t["12.8"] - t["12.4"] == {"10.0", "10.1", "12.0"}
    assert t["12.9"] - t["12.8"] == {"10.3", "12.1"}
    assert all(cuda.arch_key(a) >= (7, 5) for a in t["13.0"])
    assert "10.1" not in t["13.0"] and "11.0" in t["13.0"]
    assert {"3.5", "3.7"} <= t["11.8"] and "3.5" not in t["12.0"]
    assert t["13.1"] == t["13.0"]
    assert cuda.targets(Version("10.2")) is None


@pytest.mark.parametrize(
    ("written", "given"),
    [
        ("2026-03-04", "2026-03-05T00:00:00Z"),
        ("2026-03-04T12:00:00", "2026-03-05T00:00:00Z"),  # uv passes the time over, as it does
        ("2026-03-04 12:00:00", "2026-03-05T00:00:00Z"),
        ("2026-03-04T12:00:00Z", "2026-03-04T12:00:00Z"),
        ("2026-03-04 12:00:00z", "2026-03-04 12:00:00z"),  # uv reads these spellings of UTC too
        ("2026-03-04t12:00:00+05:30", "2026-03-04t12:00:00+05:30"),
    ],
)
def test_what_uv_is_given_for_exclude_newer(project: Project, written: str, given: str) -> None:
    from lockgen.project.config import load
    from lockgen.project.values import cutoff

    project.config.write_text(BASE + f'exclude-newer = "{written}"\n' + CPU)
    (variant,) = load(project.root, project.config).variants
    assert variant.exclude_newer == written and cutoff(written) == given

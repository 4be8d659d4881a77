"""The first hour with lockgen, as a new user meets it: each friction found once, kept fixed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MINOR, Project
from wheelmaker import make_wheel

from lockgen import uv
from lockgen.cli import main

REPO = Path(__file__).parents[1]
TAG = "py" + MINOR.replace(".", "")


@pytest.fixture
def project(project: Project) -> Project:
    """The shared project, with this interpreter's python among its two: a new user's
    first hour is on their own python (3.10 to 3.13 alike), as the tests here select and
    sync for it."""
    if MINOR not in ("3.11", "3.12"):
        project.config.write_text(project.config.read_text().replace('["3.11", "3.12"]', f'["{MINOR}", "3.12"]'))
    return project


def test_every_subpackage_is_found_by_the_build() -> None:
    """The wheel a clone builds holds what setuptools' package discovery finds: every folder
    of lockgen/ must be a package, or an install from a clone would miss it."""
    from lockgen import _toml

    config = _toml.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert config["include"] == ["lockgen*"]
    folders = [p for p in (REPO / "lockgen").rglob("*") if p.is_dir() and p.name != "__pycache__"]
    assert folders and all((f / "__init__.py").is_file() for f in folders)


@pytest.mark.network
def test_the_install_from_a_clone_ships_every_module(tmp_path: Path) -> None:
    """The README installs lockgen from a clone or a git URL (it is not on PyPI): the
    wheel that makes must hold every module, and the installed command must run."""
    out = tmp_path / "dist"
    subprocess.run([uv.binary(), "build", "-q", "--wheel", "--out-dir", str(out), str(REPO)], check=True)
    wheel = next(out.glob("lockgen-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = sorted(str(p.relative_to(REPO).as_posix()) for p in (REPO / "lockgen").rglob("*.py"))
    assert [m for m in modules if m not in names] == []
    tools = tmp_path / "tools"
    env = {**os.environ, "UV_TOOL_DIR": str(tools), "UV_TOOL_BIN_DIR": str(tools / "bin")}
    subprocess.run([uv.binary(), "tool", "install", "-q", str(wheel)], check=True, env=env)
    run = subprocess.run([str(tools / "bin" / "lockgen"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "compile" in run.stdout and "wheelhouse" in run.stdout


def test_adding_the_requirements_format_to_an_up_to_date_project_writes_it(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert (project.locks / f"requirements.{TAG}-cpu.txt").is_file()
    assert project.run("check").exit_code == 0


def test_the_version_differences_report_is_short_and_not_repeated(project: Project) -> None:
    project.write("inputs/many.in", "".join(f"nvidia-lib{i}\n" for i in range(8)))
    result = project.run("compile")
    assert result.exit_code == 0
    report = result.output.split("version differences", 1)[1].splitlines()[1:] if "differences" in result.output else []
    assert 0 < len(report) <= 2, result.output  # one line per python
    assert all(len(line) < 200 for line in report)
    again = project.run("compile", "-P", "torch")
    assert again.exit_code == 0 and "version differences" not in again.output  # nothing changed since
    details = project.run("compile", "-P", "torch", "--details")
    assert "torch: " in details.output and "required by" in details.output


def test_diff_says_all_variants_instead_of_naming_each(project: Project) -> None:
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    assert project.run("compile").exit_code == 0
    git = ["git", "-C", str(project.root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "locks"], check=True)
    project.write("inputs/base.in", "app\nhelper\n")
    assert project.run("compile").exit_code == 0
    text = project.run("diff").output
    assert "+ helper 2.0 in all variants" in text
    markdown = project.run("diff", "--format", "markdown").output
    assert "| helper | — | 2.0 | all variants |" in markdown


def test_select_explain_with_nothing_fitting_prints_the_reasons_once(project: Project) -> None:
    env = {"LOCKGEN_CUDA": "11.8", "LOCKGEN_GPU_ARCHS": "9.0"}
    result = project.run("select", "--explain", env=env)
    assert result.exit_code == 3
    assert result.output.count(f"{TAG}-cu124") == 1, result.output


def test_no_gpu_and_only_cuda_locks_hints_at_variant_and_the_overrides(project: Project) -> None:
    project.config.write_text(project.config.read_text().split("[accelerators.cpu]")[0] + "[accelerators.cu124]\n"
                              f'cuda = "12.4"\ninputs = ["inputs/cu124.in"]\nextra-index-urls = ["{project.indexes.cu124}"]\n')  # fmt: skip
    result = project.run("select")
    assert result.exit_code == 3
    assert "--variant" in result.output and "LOCKGEN_CUDA" in result.output and "LOCKGEN_GPU_ARCHS" in result.output
    for command in ("select", "sync", "detect", "verify"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert "LOCKGEN_CUDA" in help_text and "LOCKGEN_GPU_ARCHS" in help_text, command


def test_a_variant_for_another_python_is_refused_not_already_in_sync(project: Project) -> None:
    other = "3.12" if MINOR != "3.12" else "3.11"
    venv = project.root / ".venv"
    subprocess.run([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable], check=True)
    result = project.run("sync", "--variant", f"py{other.replace('.', '')}-cpu")
    assert result.exit_code == 2
    assert f"it is for Python {other}" in result.output and "has " + MINOR in result.output


def test_virtual_env_pointing_at_lockgen_itself_is_named_as_such(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    result = project.run("sync", env={"VIRTUAL_ENV": sys.prefix})
    assert result.exit_code == 2
    assert result.output.startswith("error: VIRTUAL_ENV: ") and "lockgen's own environment" in result.output


def test_why_says_how_many_chains_it_did_not_show(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    p = Project(tmp_path / "proj", indexes)
    links = p.root / "wheels"
    make_wheel(links, "leaf", "1.0")
    for i in range(14):
        make_wheel(links, f"mid{i}", "1.0", ["leaf"])
    p.write("lockgen.toml", f'inputs = ["in.in"]\npython = ["{MINOR}"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    p.write("in.in", "".join(f"mid{i}\n" for i in range(14)))
    assert p.run("compile").exit_code == 0
    result = p.run("why", "leaf")
    assert result.exit_code == 0
    assert result.output.count("leaf <- mid") == 10 and "… and 4 more chains" in result.output


def test_a_pattern_that_matches_nothing_lists_the_variants(project: Project) -> None:
    result = project.run("compile", "py39-*")
    assert result.exit_code == 2
    assert re.search(rf"no variant matches py39-\* \(variants: .*{TAG}-cpu", result.output)


def test_every_command_takes_config(project: Project) -> None:
    for command in ("compile", "check", "detect", "select", "sync", "verify", "diff", "why", "wheelhouse"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert "--config" in help_text, command
    result = CliRunner().invoke(main, ["detect", "--config", str(project.config)])
    assert result.exit_code == 0, result.output


def test_verbose_after_the_command_logs_as_before_it(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lockgen compile -v`` is what most people type; it was a usage error."""
    from lockgen import settings

    for argv in (["-v", "compile", "--dry-run"], ["compile", "-v", "--dry-run"]):
        monkeypatch.setattr(settings, "verbose", False)
        result = CliRunner().invoke(main, [*argv, "--config", str(project.config)])
        assert result.exit_code == 0, result.output
        assert "lockgen: $ " in result.stderr and " pip compile " in result.stderr, argv

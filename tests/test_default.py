"""The repository's own embedded default: committed locks that check clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockgen.cli import main
from lockgen.project import config

REPO = Path(__file__).parents[1]


def test_embedded_default_has_at_least_four_variants_and_clean_locks() -> None:
    cfg = config.load(REPO, REPO / "pyproject.toml")
    names = [v.name for v in cfg.variants]
    assert len(names) >= 4
    assert "py312-cpu-macos-arm64" in names and "py312-cu128-linux-x86_64" in names
    result = CliRunner().invoke(main, ["check", "--config", str(REPO / "pyproject.toml")])
    assert result.exit_code == 0, result.output


def test_embedded_default_torch_follows_pypi_cuda_generations() -> None:
    from lockgen.locks import pylock as lockfile

    torch = {}
    for path in sorted((REPO / "locks").glob("pylock.*.toml")):
        lock = lockfile.read(path)
        assert lock is not None
        torch[lock.meta["accelerator"]] = lock.versions["torch"]
    assert torch["cu126"].startswith("2.7.")
    assert (2, 8) <= tuple(map(int, torch["cu128"].split(".")[:2])) <= (2, 10)
    assert tuple(map(int, torch["cu130"].split(".")[:2])) >= (2, 11)


@pytest.mark.network
def test_embedded_default_compiles_in_a_fresh_copy(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".nox", ".venv", "__pycache__", "*.egg-info"))
    for lock in (copy / "locks").glob("*.toml"):
        lock.unlink()
    result = CliRunner().invoke(main, ["compile", "--config", str(copy / "pyproject.toml")])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["check", "--config", str(copy / "pyproject.toml")]).exit_code == 0

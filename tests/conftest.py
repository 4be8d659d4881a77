"""Shared fixtures: tiny wheels in local indexes, projects in temp folders, a CLI runner."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

from wheelmaker import make_index, make_wheel

from lockgen.cli import main

LINUX = "py3-none-manylinux_2_28_x86_64"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"  # the python the tests run on, as config names it


@dataclass(frozen=True)
class Indexes:
    """file:// URLs of the fixture indexes, standing in for PyPI and PyTorch's."""

    pypi: str  # the default index: everything but torch builds
    cu124: str  # torch 2.6.0+cu124 and its triton
    cu126: str  # torch 2.7.1+cu126
    cpu: str  # torch 2.6.0+cpu
    links: Path  # a find-links folder


@pytest.fixture(scope="session")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Indexes:
    root = tmp_path_factory.mktemp("indexes")
    files = root / "files"
    pypi = [
        make_wheel(files / "pypi", "app", "1.0", ["torch>=2.5", "numpy>=1.26"]),
        make_wheel(files / "pypi", "numpy", "1.26.4"),
        make_wheel(files / "pypi", "numpy", "2.0.0"),
        make_wheel(files / "pypi", "helper", "1.0"),
        make_wheel(files / "pypi", "helper", "2.0"),
        make_wheel(files / "pypi", "tool", "1.0", ["helper"]),
        make_wheel(files / "pypi", "pins-numpy2", "1.0", ["numpy>=2"]),
        make_wheel(files / "pypi", "py312only", "1.0", python=">=3.12"),
        make_wheel(files / "pypi", "torch", "2.6.0"),  # as on PyPI: must never win over an accelerator's index
        make_wheel(files / "pypi", "torch", "2.7.1"),
    ]
    cu124 = [
        make_wheel(files / "cu124", "torch", "2.6.0+cu124", ["triton==3.2.0"], tag=LINUX),
        make_wheel(files / "cu124", "triton", "3.2.0", tag=LINUX),
    ]
    cu126 = [make_wheel(files / "cu126", "torch", "2.7.1+cu126", tag=LINUX)]
    cpu = [make_wheel(files / "cpu", "torch", "2.6.0+cpu")]
    links = root / "links"
    make_wheel(links, "local-only", "0.1")
    return Indexes(
        pypi=make_index(root / "simple", pypi),
        cu124=make_index(root / "cu124", cu124),
        cu126=make_index(root / "cu126", cu126),
        cpu=make_index(root / "cpu", cpu),
        links=links,
    )


@dataclass
class Project:
    root: Path
    indexes: Indexes

    @property
    def config(self) -> Path:
        return self.root / "lockgen.toml"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def lock(self, variant: str) -> Path:
        return self.locks / f"pylock.{variant}.toml"

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        command, *rest = args
        result = CliRunner().invoke(main, [command, "--config", str(self.config), *rest], env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def snapshot(self) -> dict[str, bytes]:
        """The lock files (not what a run in progress or a killed one keeps beside them)."""
        if not self.locks.exists():
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.locks.glob("*")) if p.is_file() and p.name[0] != "."}


DEFAULT_CONFIG = """
inputs = ["inputs/base.in"]
python = ["3.11", "3.12"]
index-url = "{pypi}"

[accelerators.cpu]
inputs = ["inputs/cpu.in"]
extra-index-urls = ["{cpu}"]

[accelerators.cu124]
cuda = "12.4"
inputs = ["inputs/cu124.in"]
extra-index-urls = ["{cu124}"]
"""


@pytest.fixture
def project(tmp_path: Path, indexes: Indexes) -> Project:
    """A two-accelerator project (cpu, cu124) × python 3.11, 3.12 over the fixture indexes."""
    p = Project(tmp_path / "proj", indexes)
    p.write("lockgen.toml", DEFAULT_CONFIG.format(pypi=indexes.pypi, cpu=indexes.cpu, cu124=indexes.cu124))
    p.write("inputs/base.in", "app\n")
    p.write("inputs/cpu.in", "# CPU builds\n")
    p.write("inputs/cu124.in", "torch==2.6.*\n")
    return p


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No real GPU facts leak in, and uv never reads the developer's configuration."""
    for var in ("LOCKGEN_CUDA", "LOCKGEN_GPU_ARCHS", "LOCKGEN_VARIANT", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV"):
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("UV_") and var != "UV_CACHE_DIR":
            monkeypatch.delenv(var)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lockgen-cache"))
    from lockgen import redact
    from lockgen.machine import probes

    redact.forget()  # secrets one test's configuration taught would hide output in the next
    monkeypatch.setattr(probes, "probe_nvml", lambda: None)
    monkeypatch.setattr(probes, "PROC_NVIDIA", Path("/nonexistent/proc/driver/nvidia"))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not shutil.which("nvidia-smi", path=p)),
    )

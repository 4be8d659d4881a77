"""Selection scenarios (README: "Selection rules"): eligibility, ranking, no silent CPU fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgen.cli import main
from lockgen.machine import selection
from lockgen.machine.detect import Facts, Gpu
from lockgen.project import config

H100 = Path(__file__).parent / "fixtures" / "h100"

ML = """
inputs = ["base.in"]
python = ["3.12"]

[accelerators.cpu]

[accelerators.cu126]
cuda = "12.6"

[accelerators.cu128]
cuda = "12.8"
gpu-archs = ["7.0", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0"]

[accelerators.cu130]
cuda = "13.0"
"""


def load(tmp_path: Path, text: str = ML) -> config.Config:
    (tmp_path / "base.in").write_text("")
    (tmp_path / "lockgen.toml").write_text(text)
    return config.load(tmp_path, tmp_path / "lockgen.toml")


def facts(cuda: str | None, *archs: str, glibc: str = "glibc 2.35", os: str = "linux", arch: str = "x86_64") -> Facts:
    gpus = tuple(Gpu(index=i, name=f"gpu{i}", compute_capability=a, uuid=f"GPU-{i}") for i, a in enumerate(archs))
    return Facts(python="3.12.4", os=os, arch=arch, libc=glibc, driver="x", cuda=cuda, gpus=gpus, sources={}, probes={})


SCENARIOS = [
    # (name, driver cuda, gpu archs, expected variant or None)
    ("H100 on a CUDA 13 driver", "13.0", ("9.0",), "py312-cu130"),
    ("V100 on a CUDA 13 driver: 13.0 dropped Volta", "13.0", ("7.0",), "py312-cu128"),
    ("GTX 1080 Ti on a CUDA 12.8 driver: cu128 builds lack Pascal", "12.8", ("6.1",), "py312-cu126"),
    ("RTX 5090 on a 12.6 driver: nothing fits", "12.6", ("12.0",), None),
    ("RTX 5090 on a 12.8 driver", "12.8", ("12.0",), "py312-cu128"),
    ("A100 + V100 on 13.0: every GPU must be covered", "13.0", ("8.0", "7.0"), "py312-cu128"),
    ("A100 + P100 on 12.9", "12.9", ("8.0", "6.0"), "py312-cu126"),
    ("no GPU", None, (), "py312-cpu"),
    ("GPU with an old driver: no CPU fallback", "11.8", ("8.0",), None),
    ("GPU whose capability is unknown", "13.0", ("",), None),
]


@pytest.mark.parametrize(("name", "cuda", "archs", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenarios(tmp_path: Path, name: str, cuda: str | None, archs: tuple[str, ...], expected: str | None) -> None:
    cfg = load(tmp_path)
    f = facts(cuda, *[a or None for a in archs])  # type: ignore[misc]
    chosen = selection.choose(cfg.variants, f, python="3.12.4").chosen
    assert (chosen.name if chosen else None) == expected


def test_reasons_name_the_gpu_and_the_rule(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    sel = selection.choose(cfg.variants, facts("12.6", "8.0", "12.0"), python="3.12.1")
    reasons = {c.variant.name: c.reason for c in sel.candidates}
    assert reasons == {
        "py312-cpu": "a GPU is visible: a CPU variant only with --allow-cpu",
        "py312-cu126": "GPU 1 (12.0) is not in gpu-archs",
        "py312-cu128": "the driver supports CUDA 12.6, the variant needs 12.8",
        "py312-cu130": "the driver supports CUDA 12.6, the variant needs 13.0",
    }
    assert sel.chosen is None
    allowed = selection.choose(cfg.variants, facts("12.6", "8.0", "12.0"), python="3.12.1", allow_cpu=True)
    assert allowed.chosen is not None and allowed.chosen.name == "py312-cpu"


def test_ranking_priority_then_cuda_then_fewer_archs_then_file_order(tmp_path: Path) -> None:
    text = """
inputs = ["base.in"]
python = ["3.12"]
[accelerators.wide]
cuda = "12.4"
[accelerators.narrow]
cuda = "12.4"
gpu-archs = ["8.0", "9.0"]
[accelerators.twin]
cuda = "12.4"
gpu-archs = ["8.0", "9.0"]
[accelerators.newer]
cuda = "12.6"
"""
    cfg = load(tmp_path, text)
    assert selection.choose(cfg.variants, facts("12.8", "8.0"), python="3.12").chosen.name == "py312-newer"  # type: ignore[union-attr]
    assert selection.choose(cfg.variants, facts("12.4", "8.0"), python="3.12").chosen.name == "py312-narrow"  # type: ignore[union-attr]
    cfg = load(
        tmp_path, text.replace('[accelerators.wide]\ncuda = "12.4"', '[accelerators.wide]\ncuda = "12.4"\npriority = 5')
    )
    assert selection.choose(cfg.variants, facts("12.8", "8.0"), python="3.12").chosen.name == "py312-wide"  # type: ignore[union-attr]


def test_python_and_platform_decide_the_candidates(tmp_path: Path) -> None:
    text = ML.replace(
        'python = ["3.12"]', 'python = ["3.11", "3.12"]\nplatforms = ["x86_64-manylinux_2_34", "aarch64-apple-darwin"]'
    )
    cfg = load(tmp_path, text)
    sel = selection.choose(cfg.variants, facts(None), python="3.11.9")
    reasons = {c.variant.name: c.reason for c in sel.candidates}
    assert reasons["py311-cpu-linux-x86_64"] == "chosen"
    assert reasons["py312-cpu-linux-x86_64"] == "python 3.12, the environment has 3.11"
    assert reasons["py311-cpu-macos-arm64"] == "platform macos-arm64 is not this machine's linux-x86_64"
    assert sel.chosen is not None and sel.chosen.name == "py311-cpu-linux-x86_64"
    old = selection.choose(cfg.variants, facts(None, glibc="glibc 2.31"), python="3.11.9")
    assert old.chosen is None
    assert {c.variant.name: c.reason for c in old.candidates}[
        "py311-cpu-linux-x86_64"
    ] == "platform needs glibc 2.34, this machine has 2.31"
    mac = selection.choose(cfg.variants, facts(None, glibc="", os="macos", arch="arm64"), python="3.12.0")
    assert mac.chosen is not None and mac.chosen.name == "py312-cpu-macos-arm64"


def test_select_cli_with_overrides_json_and_exit_3(tmp_path: Path) -> None:
    import sys

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (tmp_path / "base.in").write_text("")
    (tmp_path / "lockgen.toml").write_text(ML.replace('["3.12"]', f'["{minor}"]'))
    tag = "py" + minor.replace(".", "")

    def run(*args: str, **env: str) -> Result:
        command = ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable, *args]
        return CliRunner().invoke(main, command, env=env)

    r = run("--json", LOCKGEN_CUDA="13.0", LOCKGEN_GPU_ARCHS="9.0,7.0")
    data = json.loads(r.stdout)
    assert r.exit_code == 0
    assert data["variant"] == f"{tag}-cu128" and data["lock"] == f"locks/pylock.{tag}-cu128.toml"
    assert {c["variant"]: c["eligible"] for c in data["candidates"]} == {
        f"{tag}-cpu": False, f"{tag}-cu126": True, f"{tag}-cu128": True, f"{tag}-cu130": False,
    }  # fmt: skip
    assert {c["variant"]: c["reason"] for c in data["candidates"]}[f"{tag}-cu130"] == "GPU 1 (7.0) is not in gpu-archs"
    r = run("--explain", LOCKGEN_CUDA="13.0", LOCKGEN_GPU_ARCHS="9.0")
    assert r.exit_code == 0
    assert f"* {tag}-cu130" in r.stdout and r.stdout.strip().endswith(f"{tag}-cu130 locks/pylock.{tag}-cu130.toml")
    r = run(LOCKGEN_CUDA="12.6", LOCKGEN_GPU_ARCHS="12.0")
    assert r.exit_code == 3
    assert f"{tag}-cu126: GPU 0 (12.0) is not in gpu-archs" in r.stderr
    assert f"{tag}-cpu: a GPU is visible: a CPU variant only with --allow-cpu" in r.stderr
    r = run("--allow-cpu", LOCKGEN_CUDA="12.6", LOCKGEN_GPU_ARCHS="12.0")
    assert r.exit_code == 0 and r.stdout.startswith(f"{tag}-cpu ")
    r = run("--json", LOCKGEN_CUDA="none")
    assert r.exit_code == 0 and json.loads(r.stdout)["variant"] == f"{tag}-cpu"
    r = run("--json", LOCKGEN_CUDA="12.6", LOCKGEN_GPU_ARCHS="12.0")
    assert r.exit_code == 3 and json.loads(r.stdout)["variant"] is None
    verified = CliRunner().invoke(main, ["verify", "--json", "--config", str(tmp_path / "lockgen.toml"), "--python",
                                         sys.executable], env={"LOCKGEN_CUDA": "12.6", "LOCKGEN_GPU_ARCHS": "12.0"})  # fmt: skip
    assert verified.exit_code == 3 and "no variant fits this machine" in verified.stderr
    data = json.loads(verified.stdout)  # a monitor reading JSON gets JSON
    assert data["ok"] is False and data["variant"] is None and data["problems"] == ["no variant fits this machine"]
    assert {c["variant"]: c["reason"] for c in data["candidates"]}[f"{tag}-cu126"] == "GPU 0 (12.0) is not in gpu-archs"
    r = run(LOCKGEN_VARIANT=f"{tag}-cu130")
    assert r.exit_code == 0 and r.stdout.startswith(f"{tag}-cu130 ")
    r = run("--variant", "py27-cpu")
    assert r.exit_code == 2 and "no variant named 'py27-cpu'" in r.stderr


def test_no_lock_for_this_python_says_so_and_verify_json_still_answers(tmp_path: Path) -> None:
    """Where only the Python differs, the hint is about interpreters, not GPUs; and a
    --variant for another Python refused still gives a monitor its JSON."""
    import sys

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    other = f"3.{sys.version_info[1] + 1}"
    (tmp_path / "base.in").write_text("")
    (tmp_path / "lockgen.toml").write_text(ML.replace('["3.12"]', f'["{other}"]'))
    config = ["--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable]
    r = CliRunner().invoke(main, ["select", *config], env={"LOCKGEN_CUDA": "none"})
    assert r.exit_code == 3, r.output
    assert f"hint: the locks are for Python {other}, this environment has {minor}: point --python" in r.stderr
    assert "LOCKGEN_CUDA=12.8" not in r.stderr
    tag = "py" + other.replace(".", "")
    r = CliRunner().invoke(main, ["verify", "--json", *config, "--variant", f"{tag}-cpu"])
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert data["ok"] is False and data["variant"] == f"{tag}-cpu" and data["environment"] == sys.executable
    assert data["problems"] == [r.stderr.strip().removeprefix("error: ")]


def test_the_h100_selection_seen_on_the_device(tmp_path: Path) -> None:
    """The embedded default on the real H100 (driver CUDA 13.0, Python 3.12) chose cu130."""
    seen = json.loads((H100 / "select-default.json").read_text())
    detected = json.loads((H100 / "detect.json").read_text())
    repo = Path(__file__).parents[1]
    cfg = config.load(repo, repo / "pyproject.toml")
    f = Facts(
        python=detected["python"], os="linux", arch="x86_64", libc=detected["platform"]["libc"],
        driver=detected["driver"], cuda=detected["cuda"],
        gpus=tuple(Gpu(**g) for g in detected["gpus"]), sources={}, probes={},
    )  # fmt: skip
    sel = selection.choose(cfg.variants, f, python=detected["python"])
    assert sel.chosen is not None and sel.chosen.name == seen["variant"] == "py312-cu130-linux-x86_64"
    assert [{"variant": c.variant.name, "eligible": c.eligible, "reason": c.reason} for c in sel.candidates] == seen[
        "candidates"
    ]

"""Selection scenarios (README: "Selection rules"): eligibility, ranking, no silent CPU fallback."""

from __future__ import annotations

import json
import os
import re
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


A100_V100 = "0, NVIDIA A100-SXM4-80GB, 8.0, GPU-aaaa1111-0000, 580.65.06\n1, Tesla V100-SXM2-32GB, 7.0, GPU-bbbb2222-0000, 580.65.06\n"


@pytest.mark.parametrize(
    ("env", "chosen", "said"),
    [
        ({"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0"}, "cu130", ""),
        ({"CUDA_VISIBLE_DEVICES": "0"}, "cu130", "CUDA_VISIBLE_DEVICES=0 names GPUs by index"),
        ({"CUDA_VISIBLE_DEVICES": "GPU-bbbb"}, "cu128", ""),
        ({}, "cu128", ""),
    ],
)
def test_which_gpus_count_on_a_mixed_machine_as_cuda_numbers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], chosen: str, said: str
) -> None:
    """The worked examples' A100 + V100 box, through nvidia-smi as it reports it: an
    index in CUDA_VISIBLE_DEVICES is NVML's, which CUDA follows only with
    CUDA_DEVICE_ORDER=PCI_BUS_ID (else it counts the fastest first): select warns then,
    and only then."""
    import sys

    from test_detect import fake_smi

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    load(tmp_path, ML.replace('["3.12"]', f'["{minor}"]'))
    fake_smi(tmp_path / "smi", A100_V100, "Driver Version : 580.65.06\nCUDA Version : 13.0\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'smi'}:{os.environ['PATH']}")
    r = CliRunner().invoke(main, ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable],
                           env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout.split()[0] == f"py{minor.replace('.', '')}-{chosen}"
    assert said in r.stderr and (said != "") == ("warning: CUDA_VISIBLE_DEVICES" in r.stderr), r.stderr


def test_a_gpu_probe_that_gave_no_answer_chooses_nothing_not_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answer from nvidia-smi (a hung driver) once read as "no GPU": select took the
    CPU variant, and sync swapped a CUDA torch for a CPU one. Nothing is chosen now,
    with the reason; --allow-cpu, or LOCKGEN_CUDA=none, takes the CPU variant."""
    import sys

    from test_detect import hung_smi

    from lockgen.machine import probes

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    load(tmp_path, ML.replace('["3.12"]', f'["{minor}"]'))
    monkeypatch.setattr(probes, "SMI_TIMEOUT", 0.5)
    hung_smi(tmp_path / "smi", monkeypatch, 30)
    config = ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable]
    r = CliRunner().invoke(main, config)
    assert r.exit_code == 3, r.output
    tag = "py" + minor.replace(".", "")
    assert (
        f"{tag}-cpu: whether a GPU is visible is unknown: no probe answered (nvidia-smi: no answer in 0.5 s)"
        in r.stderr
    )
    assert f"{tag}-cu130: whether a GPU is visible is unknown" in r.stderr
    r = CliRunner().invoke(main, [*config, "--allow-cpu"])
    assert r.exit_code == 0 and r.stdout.startswith(f"{tag}-cpu "), r.output
    r = CliRunner().invoke(main, config, env={"LOCKGEN_CUDA": "none"})
    assert r.exit_code == 0 and r.stdout.startswith(f"{tag}-cpu "), r.output


def test_rank_is_by_declared_cuda_the_recorded_runtime_decides_eligibility(tmp_path: Path) -> None:
    """Ranking is priority, then the declared ``cuda``, then fewer gpu-archs, then file
    order; what a lock records it needs only makes it eligible or not (its major). A
    lock labelled 12.6 whose packages need 12.8 does not outrank one labelled 12.8 (nor,
    on a 12.6 driver, one labelled 12.6 that comes first in the file)."""
    from packaging.version import Version

    text = (
        'inputs = ["base.in"]\npython = ["3.12"]\n[accelerators.exact]\ncuda = "12.6"\n'
        '[accelerators.relabelled]\ncuda = "12.6"\n[accelerators.newest]\ncuda = "12.8"\n'
    )
    cfg = load(tmp_path, text)
    runtimes = {"py312-exact": Version("12.6"), "py312-relabelled": Version("12.8"), "py312-newest": Version("12.8")}

    def chosen(driver: str) -> str:
        sel = selection.choose(cfg.variants, facts(driver, "8.0"), python="3.12", runtimes=runtimes)
        assert sel.chosen is not None
        return sel.chosen.name

    assert chosen("12.8") == "py312-newest"
    assert chosen("12.6") == "py312-exact"
    runtimes["py312-relabelled"] = Version("13.0")  # a newer major than the driver: not eligible at all
    sel = selection.choose(cfg.variants, facts("12.8", "8.0"), python="3.12", runtimes=runtimes)
    assert (
        "the lock's packages need CUDA 13.0" in {c.variant.name: c.reason for c in sel.candidates}["py312-relabelled"]
    )


def test_a_variant_named_that_sync_would_refuse_is_refused_by_select_too(tmp_path: Path) -> None:
    """--variant on a machine whose driver cannot run the lock's CUDA major: select said
    "eligible" and exit 0 while sync refused; both refuse now, naming why. A name
    that is no variant says where it came from; --explain with no lock for this Python
    says so, not what GPUs need."""
    import sys

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    tag = "py" + minor.replace(".", "")
    load(tmp_path, ML.replace('["3.12"]', f'["{minor}"]'))
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / f"pylock.{tag}-cu130.toml").write_text(
        'lock-version = "1.0"\n\n[tool.lockgen]\ncuda-runtime = "13.0"\n'
    )
    config = ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable]
    machine = {"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "9.0"}
    r = CliRunner().invoke(main, [*config, "--variant", f"{tag}-cu130", "--json"], env=machine)
    assert r.exit_code == 1, r.output
    chosen = next(c for c in json.loads(r.stdout)["candidates"] if c["variant"] == f"{tag}-cu130")
    assert chosen["eligible"] is False and "sync refuses it: the driver supports CUDA 12.8" in chosen["reason"]
    r = CliRunner().invoke(main, [*config, "--variant", f"{tag}-cu130"], env=machine)
    assert r.exit_code == 1 and "the lock's packages need CUDA 13.0" in r.stderr, r.output
    r = CliRunner().invoke(main, config, env={**machine, "LOCKGEN_VARIANT": "nope"})
    assert r.exit_code == 2 and "LOCKGEN_VARIANT" in r.stderr and "'nope'" in r.stderr, r.output
    other = f"3.{sys.version_info[1] + 1}"
    load(tmp_path, ML.replace('["3.12"]', f'["{other}"]'))
    r = CliRunner().invoke(main, [*config, "--explain"], env=machine)
    assert r.exit_code == 3 and f"hint: the locks are for Python {other}" in r.stderr, r.output


def test_hints_and_reasons_say_what_applies_here(tmp_path: Path) -> None:
    """Where every lock of this Python is for another platform, the hint is about
    platforms, not GPU overrides; a CPU variant --allow-cpu makes eligible is passed
    over for a fitting GPU variant, and says so; a chosen lock that cannot be read is
    warned of, as a missing one is."""
    import sys

    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    tag = "py" + minor.replace(".", "")
    text = ML.replace('["3.12"]', f'["{minor}"]')
    load(tmp_path, text.replace(f'python = ["{minor}"]', f'python = ["{minor}"]\nplatforms = ["aarch64-apple-darwin"]'))
    config = ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable]
    r = CliRunner().invoke(main, config, env={"LOCKGEN_CUDA": "none"})
    assert r.exit_code == 3 and "hint: no lock is for this machine's platform (linux-" in r.stderr, r.output
    load(tmp_path, text.replace("[accelerators.cpu]", "[accelerators.cpu]\npriority = 9"))
    r = CliRunner().invoke(
        main, [*config, "--explain", "--allow-cpu"], env={"LOCKGEN_CUDA": "13.0", "LOCKGEN_GPU_ARCHS": "9.0"}
    )
    assert re.search(rf"{tag}-cpu +eligible \(--allow-cpu\), but a GPU variant fits: {tag}-cu130", r.stdout), r.output
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / f"pylock.{tag}-cu130.toml").write_text("not [ toml\n")
    r = CliRunner().invoke(main, config, env={"LOCKGEN_CUDA": "13.0", "LOCKGEN_GPU_ARCHS": "9.0"})
    assert r.exit_code == 0 and "is not a lock lockgen wrote, or cannot be read: sync refuses it" in r.stderr, r.output


def test_half_an_override_is_said_and_a_contradiction_refused(tmp_path: Path) -> None:
    """LOCKGEN_CUDA=12.8 alone on a machine with no GPU chose the CPU lock without a word
    (a Dockerfile describing half its target); LOCKGEN_CUDA=none with LOCKGEN_GPU_ARCHS
    contradicts itself, and was taken as no GPU."""
    import sys

    from conftest import MINOR

    load(tmp_path, ML.replace('["3.12"]', f'["{MINOR}"]'))
    argv = ["select", "--config", str(tmp_path / "lockgen.toml"), "--python", sys.executable]
    half = CliRunner().invoke(main, argv, env={"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": ""})
    assert half.exit_code == 0 and half.stdout.split()[0].endswith("-cpu"), half.output
    assert "warning: LOCKGEN_CUDA=12.8 is set, but no GPU is visible here and LOCKGEN_GPU_ARCHS is not set" in (
        half.stderr
    )
    verify = CliRunner().invoke(main, ["verify", *argv[1:]], env={"LOCKGEN_CUDA": "12.8"})
    assert "warning: LOCKGEN_CUDA=12.8 is set" in verify.stderr, verify.output  # verify chooses as sync does
    forced = CliRunner().invoke(main, [*argv, "--variant", half.stdout.split()[0]], env={"LOCKGEN_CUDA": "12.8"})
    assert forced.exit_code == 0 and "LOCKGEN_CUDA=12.8 is set" not in forced.stderr  # --variant chose, not it
    both = CliRunner().invoke(main, argv, env={"LOCKGEN_CUDA": "none", "LOCKGEN_GPU_ARCHS": "9.0"})
    assert both.exit_code == 2
    assert both.output.startswith("error: LOCKGEN_GPU_ARCHS: '9.0' describes GPUs, and LOCKGEN_CUDA=none"), both.output

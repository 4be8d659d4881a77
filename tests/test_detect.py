"""lockgen detect: every probe, replayed from what a real H100 printed, and every probe failing."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockgen.cli import main
from lockgen.machine import probes

H100 = Path(__file__).parent / "fixtures" / "h100"
NVML = probes.probe_nvml  # the real probe (the conftest gives every test one that finds no NVML)
SEEN = json.loads((H100 / "detect.json").read_text())


def fake_smi(folder: Path, query: str, header: str, listing: str = "", fail: bool = False) -> None:
    """A stand-in nvidia-smi that prints the given outputs of the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("query", query), ("header", header), ("listing", listing)):
        (folder / f"{name}.txt").write_text(text)
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        + (
            "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' >&2; exit 9\n"
            if fail
            else ""
        )
        + f'case "$1" in --query-gpu=*) cat "{folder}/query.txt";; -q) cat "{folder}/header.txt";; -L) cat "{folder}/listing.txt";; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "smi"

    def install(
        query: str = (H100 / "smi-query.txt").read_text(), header: str = (H100 / "smi-q-compute.txt").read_text(), **kw
    ):
        fake_smi(folder, query, header, **kw)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")

    return install


def run_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = CliRunner().invoke(main, ["detect", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_nvidia_smi_probe_reads_the_real_h100_output(smi) -> None:
    smi()
    facts = run_json()
    assert facts["driver"] == SEEN["driver"] == "580.159.04"
    assert facts["cuda"] == SEEN["cuda"] == "13.0"
    assert facts["gpus"] == SEEN["gpus"]
    assert facts["sources"]["gpus"] == "nvidia-smi"
    assert facts["sources"]["probes"] == {"nvml": "unavailable", "nvidia-smi": "ok", "proc": "not needed"}


class FakeNVML:
    """The nvidia-ml-py calls lockgen makes, answering as the real H100 did."""

    class NVMLError(Exception):
        pass

    def __init__(self, gpus: list[dict], driver: str, cuda: int, migs: dict[int, list[str]] | None = None) -> None:
        self.gpus, self.driver, self.cuda, self.migs = gpus, driver, cuda, migs or {}

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        return self.cuda

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        major, minor = self.gpus[h]["compute_capability"].split(".")
        return int(major), int(minor)

    def nvmlDeviceGetUUID(self, h):
        return h if isinstance(h, str) else self.gpus[h]["uuid"]

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return self.gpus[h]["name"].encode()  # older bindings return bytes

    def nvmlDeviceGetMaxMigDeviceCount(self, h: int) -> int:
        if h not in self.migs:
            raise self.NVMLError("not supported")
        return len(self.migs[h])

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: int, m: int) -> str:
        return self.migs[h][m]


def test_nvml_facts_match_what_the_h100_reported() -> None:
    probe = probes._nvml_facts(FakeNVML(SEEN["gpus"], "580.159.04", 13000))
    assert probe.driver == "580.159.04" and probe.cuda == "13.0"
    assert [dataclasses.asdict(g) for g in probe.gpus] == SEEN["gpus"]


def test_nvml_wins_over_nvidia_smi(smi, monkeypatch: pytest.MonkeyPatch) -> None:
    smi(query="0, Something Else, 7.0, GPU-0000, 1.0\n")
    probe = probes._nvml_facts(FakeNVML(SEEN["gpus"], "580.159.04", 12040))
    monkeypatch.setattr(probes, "probe_nvml", lambda: probe)
    facts = run_json()
    assert facts["cuda"] == "12.4" and facts["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert facts["sources"]["probes"] == {"nvml": "ok", "nvidia-smi": "not needed", "proc": "not needed"}


def test_proc_probe_gives_driver_and_cuda_from_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proc"
    gpu = root / "gpus" / "0000:00:06.0"
    gpu.mkdir(parents=True)
    (root / "version").write_text((H100 / "proc-version.txt").read_text())
    (gpu / "information").write_text((H100 / "proc-gpus.txt").read_text().split("\n", 1)[1])
    monkeypatch.setattr(probes, "PROC_NVIDIA", root)
    facts = run_json()
    assert facts["driver"] == "580.159.04"
    assert facts["cuda"] == "13.0"  # from the driver table: 580.65.06 and newer support 13.0
    assert facts["gpus"] == [{**SEEN["gpus"][0], "compute_capability": None}]
    assert facts["sources"]["driver"] == "proc"


def test_every_probe_failing_is_reported_not_a_crash(smi) -> None:
    smi(fail=True)
    facts = run_json()
    assert facts["gpus"] == [] and facts["driver"] is None and facts["cuda"] is None
    assert facts["sources"]["probes"] == {"nvml": "unavailable", "nvidia-smi": "unavailable", "proc": "unavailable"}
    text = CliRunner().invoke(main, ["detect"])
    assert text.exit_code == 0 and "nvidia-smi unavailable" in text.output


def test_garbage_from_nvidia_smi_is_unavailable(smi) -> None:
    smi(query='Field "compute_cap" is not a valid field to query.\n')
    assert run_json()["sources"]["probes"]["nvidia-smi"] == "unavailable"


MIXED = "0, NVIDIA A100-SXM4-80GB, 8.0, GPU-aaaa1111-0000, 550.54.15\n1, Tesla V100-SXM2-32GB, 7.0, GPU-bbbb2222-0000, 550.54.15\n"
HEADER_124 = "Driver Version : 550.54.15\nCUDA Version : 12.4\n"
LISTING = (
    "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa1111-0000)\n"
    "  MIG 1g.10gb     Device  0: (UUID: MIG-1234abcd-0000)\n"
    "GPU 1: Tesla V100-SXM2-32GB (UUID: GPU-bbbb2222-0000)\n"
)


@pytest.mark.parametrize(
    ("cvd", "indices"),
    [
        (None, [0, 1]),
        ("1", [1]),
        ("1,0", [1, 0]),
        ("", []),
        ("-1", []),
        ("0,7,1", [0]),  # entries after the first invalid one are ignored
        ("GPU-bbbb", [1]),  # a unique UUID prefix
        ("GPU-", []),
        ("GPU-bbbb2222-0000,GPU-aaaa1111-0000", [1, 0]),
        ("MIG-1234abcd-0000", [0]),  # a MIG instance counts as its parent GPU
        ("MIG-GPU-bbbb2222-0000/1/0", [1]),  # the older MIG form names its parent
        ("2", []),
    ],
)
def test_cuda_visible_devices(smi, cvd: str | None, indices: list[int]) -> None:
    """As CUDA reads it where CUDA_DEVICE_ORDER=PCI_BUS_ID numbers GPUs as NVML does."""
    smi(query=MIXED, header=HEADER_124, listing=LISTING)
    env = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"} | ({"CUDA_VISIBLE_DEVICES": cvd} if cvd is not None else {})
    facts = run_json(env=env)
    assert [g["index"] for g in facts["gpus"]] == indices
    assert facts["cuda"] == "12.4"


@pytest.mark.parametrize(
    ("cvd", "indices"), [("1", [1]), ("0,7,1", [0]), ("1,0", [1, 0]), ("2", []), ("GPU-bbbb", [1])]
)
def test_gpus_named_by_index_on_a_mixed_machine_warn_that_cuda_may_mean_others(
    smi, cvd: str, indices: list[int]
) -> None:
    """Indices are NVML's (PCI bus order), as CUDA reads them only with
    CUDA_DEVICE_ORDER=PCI_BUS_ID; otherwise CUDA counts the fastest GPU first, and
    CUDA_VISIBLE_DEVICES=1 on an A100 + V100 machine may be the other one. detect said
    nothing where the GPUs left visible were alike, and select and sync said nothing at
    all: they warn now, where an index hides some of the GPUs."""
    smi(query=MIXED, header=HEADER_124, listing=LISTING)
    facts = run_json(env={"CUDA_VISIBLE_DEVICES": cvd})
    assert [g["index"] for g in facts["gpus"]] == indices
    result = CliRunner().invoke(main, ["detect"], env={"CUDA_VISIBLE_DEVICES": cvd})
    named = f"CUDA_VISIBLE_DEVICES={cvd} names GPUs by index, read here in NVML's (PCI bus) order"
    assert (named in result.stderr) == (cvd in ("1", "0,7,1", "2")), result.stderr


def test_different_gpus_warn_about_cuda_numbering(smi) -> None:
    smi(query=MIXED, header=HEADER_124)
    result = CliRunner().invoke(main, ["detect"])
    assert "warning: GPUs differ and CUDA_DEVICE_ORDER is not PCI_BUS_ID" in result.stderr
    result = CliRunner().invoke(main, ["detect"], env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert "warning" not in result.stderr
    # the GPUs left visible are alike, the machine's are not: CUDA's numbering still decides which those are
    result = CliRunner().invoke(main, ["detect"], env={"CUDA_VISIBLE_DEVICES": "GPU-bbbb"})
    assert "warning: GPUs differ and CUDA_DEVICE_ORDER is not PCI_BUS_ID" in result.stderr


def test_overrides_replace_only_their_own_fact(smi) -> None:
    smi(query=MIXED, header=HEADER_124)
    facts = run_json(env={"LOCKGEN_CUDA": "12.8"})
    assert facts["cuda"] == "12.8" and facts["sources"]["cuda"] == "LOCKGEN_CUDA"
    assert [g["compute_capability"] for g in facts["gpus"]] == ["8.0", "7.0"]
    facts = run_json(env={"LOCKGEN_GPU_ARCHS": "9.0,8.9"})
    assert facts["cuda"] == "12.4" and [g["compute_capability"] for g in facts["gpus"]] == ["9.0", "8.9"]
    assert facts["gpus"][0]["name"] == "NVIDIA A100-SXM4-80GB"  # same count: the probe's GPUs, new capabilities
    facts = run_json(env={"LOCKGEN_CUDA": "none"})
    assert facts["cuda"] is None and facts["gpus"] == []


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_override_set_to_nothing_is_no_override(smi, empty: str) -> None:  # type: ignore[no-untyped-def]
    """``docker run -e LOCKGEN_CUDA=``: not set, as LOCKGEN_GPU_ARCHS, LOCKGEN_VARIANT and
    LOCKGEN_CACHE_DIR set to nothing are (it was an error)."""
    smi(query=MIXED, header=HEADER_124)
    facts = run_json(env={"LOCKGEN_CUDA": empty, "LOCKGEN_GPU_ARCHS": empty})
    assert facts["cuda"] == "12.4" and facts["sources"]["cuda"] != "LOCKGEN_CUDA"


def test_overrides_alone_describe_a_machine_without_a_gpu() -> None:
    facts = run_json(env={"LOCKGEN_CUDA": "12.6", "LOCKGEN_GPU_ARCHS": "8.0, 8.6"})
    assert facts["cuda"] == "12.6"
    assert [g["compute_capability"] for g in facts["gpus"]] == ["8.0", "8.6"]


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LOCKGEN_CUDA", "twelve"),
        ("LOCKGEN_GPU_ARCHS", "8.0,ampere"),
        ("LOCKGEN_GPU_ARCHS", "sm_80"),  # spelled as the configuration's gpu-archs are: 8.0
        ("LOCKGEN_GPU_ARCHS", ",,"),  # not "no GPU": LOCKGEN_CUDA=none says that
        ("LOCKGEN_GPU_ARCHS", "99.9"),  # no CUDA release targets it
    ],
)
def test_bad_overrides_are_input_errors(var: str, value: str) -> None:
    result = CliRunner().invoke(main, ["detect"], env={var: value})
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {var}: ")


def test_platform_facts() -> None:
    facts = run_json()
    assert facts["platform"]["os"] in ("linux", "macos", "windows")
    assert facts["python"].count(".") == 2


def scripted_smi(folder: Path, monkeypatch: pytest.MonkeyPatch, answers: dict[str, tuple[str, int]]) -> None:
    """A stand-in nvidia-smi answering each exact argument string, else exit 9."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/sh", 'case "$*" in']
    for i, (args, (out, rc)) in enumerate(answers.items()):
        (folder / f"{i}.txt").write_text(out)
        lines.append(f'  "{args}") cat "{folder}/{i}.txt"; exit {rc};;')
    lines += ["esac", "exit 9"]
    script = folder / "nvidia-smi"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


BANNER = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""


def test_an_old_driver_without_compute_cap_and_only_a_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_smi(
        tmp_path / "smi",
        monkeypatch,
        {
            "--query-gpu=index,name,compute_cap,uuid,driver_version --format=csv,noheader": (
                'Field "compute_cap" is not a valid field to query.\n', 2,
            ),
            "--query-gpu=index,name,uuid,driver_version --format=csv,noheader": (
                "0, Tesla V100-SXM2-16GB, GPU-1111, 470.82.01\n", 0,
            ),
            "": (BANNER, 0),
        },
    )  # fmt: skip
    facts = run_json()
    assert facts["gpus"] == [
        {"index": 0, "name": "Tesla V100-SXM2-16GB", "compute_capability": None, "uuid": "GPU-1111"}
    ]
    assert facts["driver"] == "470.82.01" and facts["cuda"] == "12.4"  # from the banner


def test_a_header_line_and_a_comma_in_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_smi(
        tmp_path / "smi",
        monkeypatch,
        {
            "--query-gpu=index,name,compute_cap,uuid,driver_version --format=csv,noheader": (
                "index, name, compute_cap, uuid, driver_version\n0, NVIDIA RTX 6000 Ada Generation, rev, 8.9, GPU-2222, 535.104.05\n", 0,
            ),
        },
    )  # fmt: skip
    facts = run_json()
    assert facts["gpus"][0]["name"] == "NVIDIA RTX 6000 Ada Generation, rev"
    assert facts["gpus"][0]["compute_capability"] == "8.9"
    assert facts["cuda"] == "12.2"  # neither -q nor the banner answered: the driver table (535.54.03+)


def hung_smi(folder: Path, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """An nvidia-smi that answers like an H100's only after ``seconds`` (a hung driver: never in time)."""
    fake_smi(folder, (H100 / "smi-query.txt").read_text(), (H100 / "smi-q-compute.txt").read_text())
    script = folder / "nvidia-smi"
    script.write_text(script.read_text().replace("#!/bin/sh\n", f"#!/bin/sh\nsleep {seconds}\n", 1))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_a_probe_that_gives_no_answer_leaves_the_gpus_unknown_not_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An nvidia-smi slower than its time (a hung driver) was read as "no GPU", and sync
    then swapped a CUDA torch for a CPU one. No answer is no knowledge: detect says the
    GPUs are unknown and which probe gave no answer."""
    monkeypatch.setattr(probes, "SMI_TIMEOUT", 0.5)
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "no-proc")
    hung_smi(tmp_path / "smi", monkeypatch, 30)
    facts = run_json()
    assert facts["gpus"] == []
    assert facts["sources"]["gpus"] == "unknown: no probe answered (nvidia-smi: no answer in 0.5 s)"
    assert facts["sources"]["probes"]["nvidia-smi"] == "nvidia-smi: no answer in 0.5 s"


def test_a_hung_nvml_is_given_up_on_and_the_overrides_need_no_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NVML's call into a hung driver never returns, and Python cannot interrupt it:
    detect stops waiting (nvidia-smi, which asks NVML too, is not tried), and with
    LOCKGEN_CUDA=none, or both overrides, no probe runs at all."""
    import threading
    import time

    release = threading.Event()
    calls = []

    def hang() -> None:
        calls.append(1)
        release.wait(30)

    monkeypatch.setattr(probes, "probe_nvml", NVML)
    monkeypatch.setattr(probes, "_probe_nvml", hang)
    monkeypatch.setattr(probes, "NVML_TIMEOUT", 0.3)
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "no-proc")
    hung_smi(tmp_path / "smi", monkeypatch, 0)  # it would answer: it is not asked
    try:
        start = time.monotonic()
        facts = run_json()
        assert time.monotonic() - start < 5
        assert facts["gpus"] == [] and facts["sources"]["gpus"].startswith("unknown: no probe answered (NVML")
        assert facts["sources"]["probes"]["nvidia-smi"].startswith("not tried")
        calls.clear()
        for env in ({"LOCKGEN_CUDA": "none"}, {"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "9.0"}):
            facts = run_json(env=env)
            assert set(facts["sources"]["probes"].values()) == {"not needed"}, facts
        assert calls == []
    finally:
        release.set()


@pytest.mark.parametrize(
    ("what", "setup"),
    [
        ("an NVML name that is not UTF-8", "nvml-name"),
        ("a /proc version file that is not UTF-8", "proc-version"),
        ("an unreadable /proc GPU information file", "proc-info"),
        ("a superscript digit as nvidia-smi's index", "smi-index"),
    ],
)
def test_odd_bytes_from_a_probe_are_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, setup: str
) -> None:
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "proc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    if setup == "nvml-name":

        class Nvml:
            class NVMLError(Exception):
                pass

            nvmlSystemGetCudaDriverVersion_v2 = staticmethod(lambda: 12080)
            nvmlDeviceGetCount = staticmethod(lambda: 1)
            nvmlDeviceGetHandleByIndex = staticmethod(lambda i: i)
            nvmlDeviceGetCudaComputeCapability = staticmethod(lambda h: (9, 0))
            nvmlDeviceGetUUID = staticmethod(lambda h: b"GPU-1234")
            nvmlDeviceGetName = staticmethod(lambda h: b"NVIDIA \xff\xfe H100")
            nvmlSystemGetDriverVersion = staticmethod(lambda: b"570.1")

            @staticmethod
            def nvmlDeviceGetMaxMigDeviceCount(h: object) -> int:
                raise Nvml.NVMLError

        monkeypatch.setattr(probes, "probe_nvml", NVML)
        monkeypatch.setattr(probes, "_probe_nvml", lambda: probes._nvml_facts(Nvml))
    elif setup.startswith("proc"):
        gpu = tmp_path / "proc" / "gpus" / "0000:01:00.0"
        gpu.mkdir(parents=True)
        version = b"NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  \xff\n"
        (tmp_path / "proc" / "version").write_bytes(version)
        info = gpu / "information"
        if setup == "proc-info":
            info.mkdir()  # read as a file: an error, as an unreadable one gives
        else:
            info.write_bytes(b"Model: \t\t NVIDIA H100 \xff\nGPU UUID: \t GPU-1234\n")
    else:
        scripted_smi(tmp_path / "smi", monkeypatch, {})
        monkeypatch.setenv("PATH", str(tmp_path / "smi"))
        (tmp_path / "smi" / "nvidia-smi").write_text(
            "#!/bin/sh\necho '\u00b2, NVIDIA H100, 9.0, GPU-1234, 570.86.15'\n", encoding="utf-8"
        )
    result = CliRunner().invoke(main, ["detect", "--json"], env={"CUDA_VISIBLE_DEVICES": "\u00b2"})
    assert result.exit_code == 0, f"{what}: {result.output}"
    assert "Traceback" not in result.output and "internal error" not in result.output
    facts = json.loads(result.stdout)
    if setup in ("nvml-name", "proc-version", "proc-info"):
        assert facts["driver"] in ("570.1", "570.86.15"), facts


def test_a_driver_that_fails_partway_or_a_bare_proc_after_a_hang_leave_the_gpus_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NVML loaded, then failed (pynvml cannot decode a GPU's name): that read as "no
    NVML", then "no GPU", and sync swapped a CUDA torch for a CPU one. And after a
    probe that gave no answer, a /proc/driver/nvidia listing no GPU proved nothing:
    the GPUs stay unknown in both cases."""

    def fails() -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(probes, "probe_nvml", NVML)
    monkeypatch.setattr(probes, "_probe_nvml", fails)
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "no-proc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    facts = run_json()
    assert facts["gpus"] == [] and facts["sources"]["gpus"].startswith(
        "unknown: no probe answered (NVML: UnicodeDecodeError"
    )
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan 1\n")
    monkeypatch.setattr(probes, "PROC_NVIDIA", proc)
    facts = run_json()
    assert facts["driver"] == "570.86.15" and facts["sources"]["gpus"].startswith("unknown: "), facts
    assert run_json(env={"LOCKGEN_CUDA": "none"})["sources"]["gpus"] == "LOCKGEN_CUDA=none"


@pytest.mark.parametrize(("code", "gpus"), [(9, "no probe found a GPU"), (18, "unknown: no probe answered (NVML: ")])
def test_nvml_that_cannot_start_is_absent_only_without_a_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, gpus: str
) -> None:
    """nvmlInit failing meant "no NVML", so "no GPU" and a CPU torch: but only a driver not
    loaded (a container without a GPU) says that. A driver upgraded without a reboot (18:
    driver/library version mismatch), no permission, a GPU lost: the GPUs are unknown."""
    import ctypes
    import sys
    import types

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            self.value = value

    fake = types.ModuleType("pynvml")
    fake.NVMLError = NVMLError  # type: ignore[attr-defined]

    def init() -> None:
        raise NVMLError(code)

    fake.nvmlInit = init  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: None)
    monkeypatch.setattr(probes, "probe_nvml", NVML)
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "no-proc")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert run_json()["sources"]["gpus"].startswith(gpus)


@pytest.mark.parametrize("code", [6, 9, 12, 15])
def test_nvidia_smi_that_fails_is_absent_only_without_a_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """nvidia-smi printing an A100's row, then "Unable to determine the device handle for
    GPU1" and exit 15 (a GPU fallen off the bus) was read as "no GPU", and select chose the
    CPU lock. Only its no-device, no-driver and no-NVML statuses (6: "No devices were found",
    in a container given the driver's tools and no GPU; 9, 12) say there is none, and not
    after a row naming one."""
    row = "0, NVIDIA A100-SXM4-80GB, 8.0, GPU-aaaa1111-0000, 550.54.15\n"
    failing = (row + "Unable to determine the device handle for GPU1: 0000:41:00.0: Unknown Error\n", code)
    scripted_smi(
        tmp_path / "smi",
        monkeypatch,
        {
            "--query-gpu=index,name,compute_cap,uuid,driver_version --format=csv,noheader": failing,
            "--query-gpu=index,name,uuid,driver_version --format=csv,noheader": failing,
        },
    )
    monkeypatch.setattr(probes, "probe_nvml", lambda: None)
    monkeypatch.setattr(probes, "PROC_NVIDIA", tmp_path / "no-proc")
    facts = run_json()
    assert facts["gpus"] == [] and facts["sources"]["gpus"].startswith("unknown: no probe answered"), facts["sources"]
    assert facts["sources"]["probes"]["nvidia-smi"].startswith(f"nvidia-smi: exit status {code}: ")
    scripted_smi(tmp_path / "smi", monkeypatch, {  # the same status with no row first: no GPU
        "--query-gpu=index,name,compute_cap,uuid,driver_version --format=csv,noheader": ("No devices were found\n", code),
        "--query-gpu=index,name,uuid,driver_version --format=csv,noheader": ("No devices were found\n", code),
    })  # fmt: skip
    facts = run_json()
    assert facts["sources"]["gpus"].startswith("no probe found a GPU" if code != 15 else "unknown: "), facts["sources"]


def test_detect_reads_the_project_venv_from_a_subfolder_and_needs_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from inputs/, detect reported the interpreter running lockgen while select,
    verify and sync used the project's .venv; and ``detect --config`` failed on an
    unusable LOCKGEN_CACHE_DIR, which plain detect (and the README) pass over."""
    import subprocess
    import sys

    from lockgen import uv

    root = tmp_path / "proj"
    (root / "inputs").mkdir(parents=True)
    (root / "lockgen.toml").write_text('inputs = ["inputs/base.in"]\npython = ["3.11"]\n[accelerators.cpu]\n')
    (root / "inputs" / "base.in").write_text("")
    subprocess.run([uv.binary(), "venv", "-q", str(root / ".venv"), "--python", sys.executable], check=True)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.chdir(root / "inputs")
    assert run_json()["sources"]["python"] == ".venv"
    monkeypatch.chdir(tmp_path)
    bad_cache = {"LOCKGEN_CACHE_DIR": "/proc/nope"}
    assert run_json("--config", str(root / "lockgen.toml"), env=bad_cache)["sources"]["python"] == ".venv"
    assert run_json(env=bad_cache)["sources"]["python"].startswith("running interpreter")  # no project here

"""Locks that tell the truth: what a lock needs is read from its packages, and a label
that lies, a CPU lock that pulls CUDA, or a lock edited by hand is caught early.

Fixture wheels carry NVIDIA's real names and versions (nvidia-cuda-runtime-cu12
12.8.90, the CUDA 13 ``nvidia-cuda-runtime`` 13.2.86 behind ``cuda-toolkit``, torch
``+cu126``/``+cu130``/``+cpu``) and stand in for PyPI and PyTorch's indexes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import LINUX, MINOR, Project
from wheelmaker import make_index, make_wheel

from lockgen.locks import pylock, runtime, writer
from lockgen.machine import selection

TAG = "py" + MINOR.replace(".", "")
NV = "sys_platform == 'linux'"
TORCH_2_15_PAYLOAD = '__version__ = "2.15.0+cu132"\nclass version:\n    cuda = "13.2"\n'
TORCH_CU130_PAYLOAD = """
__version__ = "2.9.0"
class version:
    cuda = "13.0"
class cuda:
    @staticmethod
    def get_arch_list():
        return ["sm_75", "sm_80", "sm_90", "sm_100", "sm_120"]
"""


@pytest.fixture(scope="module")
def cuda_indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PyPI-like: torch 2.8.0 (CUDA 12.8 wheels), 2.15.0 (CUDA 13.2 via cuda-toolkit);
    a PyTorch-like cu130 index (torch 2.9.1+cu130) and a CPU one (torch 2.8.0+cpu)."""
    root = tmp_path_factory.mktemp("cuda-indexes")
    f = root / "files"
    pypi = [
        make_wheel(
            f / "pypi",
            "torch",
            "2.8.0",
            [f"nvidia-cuda-runtime-cu12==12.8.90; {NV}", f"nvidia-cudnn-cu12==9.10.2.21; {NV}"],
            tag=LINUX,
        ),
        make_wheel(
            f / "pypi",
            "torch",
            "2.15.0",
            [f"cuda-toolkit[cudart,cublas]==13.2.2; {NV}"],
            tag=LINUX,
            payload=TORCH_2_15_PAYLOAD,
        ),
        make_wheel(f / "pypi", "nvidia-cuda-runtime-cu12", "12.8.90", tag=LINUX),
        make_wheel(f / "pypi", "nvidia-cuda-runtime-cu12", "12.4.127", tag=LINUX),
        make_wheel(f / "pypi", "nvidia-cudnn-cu12", "9.10.2.21", ["nvidia-cublas-cu12"], tag=LINUX),
        make_wheel(f / "pypi", "nvidia-cublas-cu12", "12.8.4.1", tag=LINUX),
        make_wheel(
            f / "pypi",
            "cuda-toolkit",
            "13.2.2",
            ['nvidia-cuda-runtime==13.2.86.*; extra == "cudart"', 'nvidia-cublas==13.4.1.3.*; extra == "cublas"'],
            extras=("cudart", "cublas"),
        ),
        make_wheel(f / "pypi", "nvidia-cuda-runtime", "13.2.86", tag=LINUX),
        make_wheel(f / "pypi", "nvidia-cublas", "13.4.1.3", tag=LINUX),
        make_wheel(f / "pypi", "cupy-cuda12x", "14.2.0", tag=LINUX),
        make_wheel(f / "pypi", "app", "1.0"),
        make_wheel(f / "pypi", "jaxlib", "0.4.12"),
        make_wheel(f / "pypi", "jaxlib", "0.4.12+cuda12.cudnn89"),
        make_wheel(f / "pypi", "sentence-transformers", "5.0", ["torch"]),
        make_wheel(
            f / "pypi", "jaxish", "1.0", ['nvidia-cuda-runtime-cu12==12.8.90; extra == "cuda12"'], extras=("cuda12",)
        ),
    ]
    cu130 = [
        make_wheel(f / "cu130", "torch", "2.9.1+cu130", [f"nvidia-cuda-runtime==13.0.96; {NV}"], tag=LINUX),
        make_wheel(f / "cu130", "nvidia-cuda-runtime", "13.0.96", tag=LINUX),
    ]
    cpu = [make_wheel(f / "cpu", "torch", "2.8.0+cpu")]
    return {
        "pypi": make_index(root / "simple", pypi),
        "cu130": make_index(root / "cu130", cu130),
        "cpu": make_index(root / "cpu", cpu),
    }


@pytest.fixture
def gpu_project(tmp_path: Path, indexes, cuda_indexes: dict[str, str]) -> Project:  # type: ignore[no-untyped-def]
    p = Project(tmp_path / "proj", indexes)
    p.write("inputs/base.in", "app\n")
    p.write("inputs/cu128.in", "torch==2.8.0\n")
    p.write("inputs/cpu.in", "torch\n")
    return p


def configure(p: Project, cuda_indexes: dict[str, str], accelerators: str) -> None:
    p.write(
        "lockgen.toml",
        f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nindex-url = "{cuda_indexes["pypi"]}"\n\n' + accelerators,
    )


def meta(p: Project, variant: str) -> dict[str, object]:
    lock = pylock.read(p.lock(variant))
    assert lock is not None
    return dict(lock.meta)


def test_a_lock_records_the_cuda_runtime_its_packages_need(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    configure(gpu_project, cuda_indexes, '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n')
    result = gpu_project.run("compile")
    assert result.exit_code == 0, result.output
    assert meta(gpu_project, f"{TAG}-cu128")["cuda-runtime"] == "12.8"
    assert gpu_project.run("check").exit_code == 0


def test_a_newer_cuda_major_than_the_label_fails_and_keeps_the_old_lock(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    """The Quick-start trap: cu128 says 12.8, but PyPI's newest torch is a CUDA 13.2 build."""
    configure(
        gpu_project,
        cuda_indexes,
        '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n\n[accelerators.lib]\ninputs = []\n',
    )
    gpu_project.write("inputs/base.in", "app\n")
    assert gpu_project.run("compile").exit_code == 0
    before = gpu_project.lock(f"{TAG}-cu128").read_bytes()
    gpu_project.write("inputs/cu128.in", "torch>=2.8\n")
    gpu_project.write("inputs/base.in", "app\n# touched\n")  # the other variant is rewritten
    result = gpu_project.run("compile", "-P", "torch")  # bumping torch picks PyPI's newest: 2.15.0
    assert result.exit_code == 1
    assert re.search(rf"^{TAG}-cu128\s+failed", result.output, re.MULTILINE)
    assert re.search(rf"^{TAG}-lib\s+updated", result.output, re.MULTILINE)
    message = result.output[result.output.index(f"{TAG}-cu128 failed:") :]
    assert "needs CUDA 13.2, a newer major than its cuda = '12.8'" in message
    assert "nvidia-cuda-runtime 13.2.86 <- cuda-toolkit 13.2.2 <- torch 2.15.0 <- inputs/cu128.in" in message
    assert "pin torch to a build for CUDA 12" in message and 'declare cuda = "13.2"' in message
    assert gpu_project.lock(f"{TAG}-cu128").read_bytes() == before


def test_a_cpu_variant_pulling_cuda_through_an_extra_is_told_to_drop_it_not_to_use_pytorchs_index(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    """The PyTorch CPU index has CPU builds of torch and its family only: for jax[cuda12]
    the way out is the extra, not that index."""
    configure(gpu_project, cuda_indexes, '[accelerators.cpu]\ninputs = ["inputs/cpu.in"]\n')
    gpu_project.write("inputs/cpu.in", "jaxish[cuda12]\n")
    result = gpu_project.run("compile")
    assert result.exit_code == 1
    assert "require jaxish without the extra that asks for CUDA" in result.output, result.output
    assert "download.pytorch.org" not in result.output
    gpu_project.write("inputs/cpu.in", "sentence-transformers\n")  # CUDA through torch, two steps down
    result = gpu_project.run("compile")
    assert result.exit_code == 1
    assert "take torch from a CPU index" in result.output and "without the extra" not in result.output


def test_a_cpu_variant_requiring_a_cuda_package_itself_is_told_to_take_it_out(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    """Not "without the extra": no extra asked for it, and it has no CPU build."""
    configure(gpu_project, cuda_indexes, '[accelerators.cpu]\ninputs = ["inputs/cpu.in"]\n')
    gpu_project.write("inputs/cpu.in", "nvidia-cudnn-cu12\n")  # and the cuBLAS it requires
    result = gpu_project.run("compile")
    assert result.exit_code == 1
    assert "take nvidia-cudnn-cu12 out of this CPU variant's intent files" in result.output, result.output
    assert "extra" not in result.output and "CPU build" not in result.output, result.output


def test_a_gpu_variant_whose_torch_is_a_cpu_build_is_warned_of(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    """PyPI's torch for aarch64 Linux is a CPU build with no CUDA at all: labelled CUDA
    12.8, such a lock passed compile and check without a word, and a GPU machine
    selecting it would compute on its CPU."""
    configure(
        gpu_project,
        cuda_indexes,
        f'[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\nextra-index-urls = ["{cuda_indexes["cpu"]}"]\n',
    )
    gpu_project.write("inputs/cu128.in", "torch==2.8.0+cpu\n")
    said = f"{TAG}-cu128: declares cuda = '12.8', but torch 2.8.0+cpu here is a CPU build (nothing in the lock needs"
    for command in ("compile", "check"):
        result = gpu_project.run(command)
        assert result.exit_code == 0 and said in result.output, result.output
    gpu_project.write("inputs/cu128.in", "torch==2.8.0+cpu\ncupy-cuda12x\n")  # other CUDA packages beside it
    result = gpu_project.run("compile")
    said = f"{TAG}-cu128: declares cuda = '12.8', but torch 2.8.0+cpu here is a CPU build (its CUDA packages aside"
    assert result.exit_code == 0 and said in result.output, result.output
    gpu_project.write("inputs/cu128.in", "torch==2.8.0\n")  # PyPI's, with its CUDA 12.8 libraries
    gpu_project.write(
        "lockgen.toml", gpu_project.config.read_text().replace(f'extra-index-urls = ["{cuda_indexes["cpu"]}"]\n', "")
    )
    result = gpu_project.run("compile")
    assert result.exit_code == 0 and "CPU build" not in result.output, result.output


@pytest.mark.parametrize(("jaxlib", "warned"), [("0.4.12", True), ("0.4.12+cuda12.cudnn89", False)])
def test_a_gpu_variants_jaxlib_is_a_cpu_build_unless_its_version_or_a_plugin_says_cuda(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
    jaxlib: str,
    warned: bool,
) -> None:
    configure(gpu_project, cuda_indexes, '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n')
    gpu_project.write("inputs/cu128.in", f"jaxlib==={jaxlib}\n")  # ===: 0.4.12 alone, not its +cuda build
    result = gpu_project.run("compile")
    assert result.exit_code == 0, result.output
    assert ("is a CPU build" in result.output) == warned, result.output


def test_a_newer_minor_is_a_warning_and_the_lock_is_written(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    configure(gpu_project, cuda_indexes, '[accelerators.cu126]\ncuda = "12.6"\ninputs = ["inputs/cu128.in"]\n')
    result = gpu_project.run("compile")
    assert result.exit_code == 0, result.output
    assert f"warning: {TAG}-cu126: needs CUDA 12.8, newer than its cuda = '12.6'" in result.output
    assert "minor-version compatibility" in result.output
    assert meta(gpu_project, f"{TAG}-cu126")["cuda-runtime"] == "12.8"
    check = gpu_project.run("check")
    assert check.exit_code == 0 and "warning:" in check.output


def test_a_cpu_variant_that_pulls_cuda_packages_fails_with_their_size_and_the_remedy(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    configure(gpu_project, cuda_indexes, '[accelerators.cpu]\ninputs = ["inputs/cpu.in"]\n')
    gpu_project.write("inputs/cpu.in", "torch==2.8.0\n")
    result = gpu_project.run("compile")
    assert result.exit_code == 1
    assert f"{TAG}-cpu failed: a CPU variant, but the lock pulls 3 CUDA packages (" in result.output
    assert "nvidia-cuda-runtime-cu12 12.8.90 <- torch 2.8.0 <- inputs/cpu.in" in result.output
    assert "take torch from a CPU index" in result.output and "download.pytorch.org/whl/cpu" in result.output
    assert not gpu_project.lock(f"{TAG}-cpu").exists()
    # The remedy works: the CPU index's torch wins, and nothing needs CUDA.
    configure(
        gpu_project,
        cuda_indexes,
        f'[accelerators.cpu]\ninputs = ["inputs/cpu.in"]\nextra-index-urls = ["{cuda_indexes["cpu"]}"]\n',
    )
    gpu_project.write("inputs/cpu.in", "torch==2.8.0+cpu\n")
    result = gpu_project.run("compile")
    assert result.exit_code == 0, result.output
    assert "cuda-runtime" not in meta(gpu_project, f"{TAG}-cpu")


def test_a_pytorch_index_build_is_read_from_its_local_version(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    configure(
        gpu_project,
        cuda_indexes,
        f'[accelerators.cu130]\ncuda = "13.0"\ninputs = ["inputs/cu130.in"]\nextra-index-urls = ["{cuda_indexes["cu130"]}"]\n',
    )
    gpu_project.write("inputs/cu130.in", "torch==2.9.1\n")
    assert gpu_project.run("compile").exit_code == 0
    assert meta(gpu_project, f"{TAG}-cu130")["cuda-runtime"] == "13.0"


def test_check_never_asks_for_a_version_the_accelerators_cuda_forces_out(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    """Two accelerators read one intent file; cu128's torch stays 2.8.0 while cu132 moves
    to 2.15.0 (a CUDA 13.2 build). uv would resolve 2.15.0 for cu128 too, but that lock
    fails cu128's CUDA: the difference is forced, and check must not tell the user to
    run a compile that then fails."""
    configure(
        gpu_project,
        cuda_indexes,
        '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cpu.in"]\n\n'
        '[accelerators.cu132]\ncuda = "13.2"\ninputs = ["inputs/cpu.in"]\n',
    )
    gpu_project.write("inputs/cpu.in", "torch==2.8.0\n")
    assert gpu_project.run("compile").exit_code == 0
    gpu_project.write("inputs/cpu.in", "torch\n")
    assert gpu_project.run("compile", "-P", "torch", f"{TAG}-cu132").exit_code == 0
    result = gpu_project.run("compile")
    assert result.exit_code == 0, result.output
    assert pylock.read(gpu_project.lock(f"{TAG}-cu128")).versions["torch"] == "2.8.0"  # type: ignore[union-attr]
    assert pylock.read(gpu_project.lock(f"{TAG}-cu132")).versions["torch"] == "2.15.0"  # type: ignore[union-attr]
    result = gpu_project.run("check")
    assert f"-P torch {TAG}-cu128" not in result.output, result.output


def test_a_hand_added_package_is_named_by_check_replaced_by_compile_and_refused_by_sync(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    configure(gpu_project, cuda_indexes, '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n')
    assert gpu_project.run("compile").exit_code == 0
    path = gpu_project.lock(f"{TAG}-cu128")
    good = path.read_text()
    evil = make_wheel(gpu_project.root / "wheels", "evil", "6.6.6")
    block = f'[[packages]]\nname = "evil"\nversion = "6.6.6"\nwheels = [{{ path = "../wheels/{evil.name}", hashes = {{ sha256 = "{"0" * 64}" }} }}]\n\n'
    path.write_text(good.replace("[[packages]]\n", block + "[[packages]]\n", 1))
    result = gpu_project.run("check")
    assert result.exit_code == 1
    assert "not required by the intent files through the lock's own graph (added by hand?): evil 6.6.6" in result.output
    result = gpu_project.run("sync", "--variant", f"{TAG}-cu128", "--dry-run")
    assert result.exit_code == 1 and "not the lock lockgen wrote" in result.output and "evil 6.6.6" in result.output
    result = gpu_project.run("compile")
    assert result.exit_code == 0 and re.search(rf"^{TAG}-cu128\s+updated", result.output, re.MULTILINE)
    assert path.read_text() == good


def test_metadata_that_does_not_match_the_file_name_or_the_configuration_fails_check(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    configure(
        gpu_project,
        cuda_indexes,
        '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n\n[accelerators.lib]\ninputs = []\n',
    )
    assert gpu_project.run("compile").exit_code == 0
    gpu_project.lock(f"{TAG}-lib").write_text(gpu_project.lock(f"{TAG}-cu128").read_text())
    text = gpu_project.lock(f"{TAG}-cu128").read_text()
    gpu_project.lock(f"{TAG}-cu128").write_text(text.replace('cuda-runtime = "12.8"', 'cuda-runtime = "12.0"'))
    result = gpu_project.run("check")
    assert result.exit_code == 1
    assert f"its [tool.lockgen] names variant '{TAG}-cu128', its file name '{TAG}-lib'" in result.output
    assert "accelerator = 'cu128' in the lock, 'lib' in the configuration" in result.output
    assert "cuda-runtime = '12.0' is recorded, but its packages need 12.8" in result.output


def test_a_swapped_artifact_fails_check_by_its_seal_and_check_resolve_even_resealed(
    gpu_project: Project,
    cuda_indexes,  # type: ignore[no-untyped-def]
) -> None:
    configure(gpu_project, cuda_indexes, '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n')
    assert gpu_project.run("compile").exit_code == 0
    result = gpu_project.run("check", "--resolve")
    assert result.exit_code == 0, result.output
    assert "resolved again: 1 of 1 locks equal a fresh resolution" in result.output
    path = gpu_project.lock(f"{TAG}-cu128")
    text = path.read_text()
    other = make_wheel(gpu_project.root / "elsewhere", "app", "1.0", payload="print('not the real app')\n")
    import hashlib

    sha = hashlib.sha256(other.read_bytes()).hexdigest()
    start = text.index('name = "app"')
    url_at = text.index("url = ", start)
    url_end = text.index('"', url_at + 7)
    sha_at = text.index('sha256 = "', start) + len('sha256 = "')
    swapped = text[:url_at] + f'url = "{other.resolve().as_uri()}' + text[url_end:sha_at] + sha + text[sha_at + 64 :]
    path.write_text(swapped)
    result = gpu_project.run("check")
    assert result.exit_code == 1 and "edited since lockgen wrote it" in result.output
    path.write_text(writer.sealed(swapped))  # its seal computed again too
    assert gpu_project.run("check").exit_code == 0  # nothing offline can tell now
    result = gpu_project.run("check", "--resolve")
    assert result.exit_code == 1
    assert f"{TAG}-cu128: the lock differs from a fresh resolution of its inputs" in result.output
    assert f"app 1.0: app-1.0-py3-none-any.whl has sha256 {sha[:12]}" in result.output


def test_sync_refuses_a_lock_needing_a_newer_cuda_major_than_the_driver(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    configure(gpu_project, cuda_indexes, '[accelerators.cu130]\ncuda = "13.0"\ninputs = ["inputs/cu130.in"]\n')
    gpu_project.write("inputs/cu130.in", "torch==2.15.0\n")
    assert gpu_project.run("compile").exit_code == 0  # 13.2 under 13.0: a warning
    env = {"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "9.0"}
    result = gpu_project.run("sync", "--variant", f"{TAG}-cu130", env=env)
    assert result.exit_code == 1
    assert "needs CUDA 13.2" in result.output and "supports CUDA 12.8 (from LOCKGEN_CUDA)" in result.output
    assert "Nothing was changed" in result.output
    assert not (gpu_project.root / ".venv").exists()
    # Selection passes it over for the same reason: the declared cuda already says 13.0.
    result = gpu_project.run("select", "--explain", env=env)
    assert result.exit_code == 3 and "the driver supports CUDA 12.8, the variant needs 13.0" in result.output


def test_sync_refuses_a_torch_built_for_a_newer_cuda_major_than_the_driver(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """Nothing in the lock's names says CUDA 13, but the torch build itself does."""
    p = Project(tmp_path / "proj", indexes)
    make_wheel(p.root / "wheels", "torch", "2.9.0", payload=TORCH_CU130_PAYLOAD)
    p.write(
        "lockgen.toml",
        f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nfind-links = ["wheels"]\nindex-url = "{indexes.pypi}"\n'
        '\n[accelerators.cu129]\ncuda = "12.9"\ninputs = ["inputs/gpu.in"]\n',
    )
    p.write("inputs/base.in", "helper\n")
    p.write("inputs/gpu.in", "torch==2.9.0\n")
    assert p.run("compile").exit_code == 0
    result = p.run("sync", env={"LOCKGEN_CUDA": "12.9", "LOCKGEN_GPU_ARCHS": "9.0"})
    assert result.exit_code == 1, result.output
    assert "was built for CUDA 13.0, and the driver supports only CUDA 12.9" in result.output
    assert not (p.root / ".venv").exists(), "checked in staging; the target was never made"


def test_selection_needs_the_driver_to_have_the_locks_runtime_major() -> None:
    from conftest import DEFAULT_CONFIG  # noqa: F401  (the fixture project's shape)

    from lockgen.machine.detect import Facts, Gpu
    from lockgen.project import config as config_module

    root = Path(__file__).parent
    del root
    facts = Facts(
        python="3.12.1",
        os="linux",
        arch="x86_64",
        libc="glibc 2.39",
        driver="575.51.03",
        cuda="12.9",
        gpus=(Gpu(index=0, name="H100", compute_capability="9.0", uuid="GPU-1"),),
        sources={},
        probes={},
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in.in").write_text("")
        (folder / "lockgen.toml").write_text(
            'inputs = ["in.in"]\npython = ["3.12"]\n[accelerators.a]\ncuda = "12.4"\n[accelerators.b]\ncuda = "12.8"\n'
        )
        cfg = config_module.load(folder, folder / "lockgen.toml")
        plain = selection.choose(cfg.variants, facts, python="3.12.1")
        assert plain.chosen is not None and plain.chosen.name == "py312-b"
        # b's lock (written before lockgen checked labels) records that it needs CUDA 13.
        sel = selection.choose(
            cfg.variants, facts, python="3.12.1", runtimes={"py312-b": runtime_version("13.0"), "py312-a": None}
        )
        assert sel.chosen is not None and sel.chosen.name == "py312-a"
        reason = next(c.reason for c in sel.candidates if c.variant.name == "py312-b")
        assert "the lock's packages need CUDA 13.0" in reason


def runtime_version(text: str):  # type: ignore[no-untyped-def]
    from packaging.version import Version

    return Version(text)


# --- the inference table, on real names and versions ------------------------------

REAL = [
    ("nvidia-cuda-runtime-cu11", "11.8.89", "11.8"),
    ("nvidia-cuda-runtime-cu12", "12.4.127", "12.4"),
    ("nvidia-cuda-runtime-cu12", "12.8.90", "12.8"),
    ("nvidia-cuda-runtime-cu12", "12.9.79", "12.9"),
    ("nvidia-cuda-runtime", "13.0.96", "13.0"),
    ("nvidia-cuda-runtime", "13.2.86", "13.2"),
    ("nvidia-cuda-runtime", "13.5.37", "13.5"),
    ("nvidia-cuda-nvrtc-cu12", "12.8.93", "12.8"),
    ("nvidia-cuda-nvrtc", "13.4.92", "13.4"),
    ("nvidia-nvtx", "13.5.25", "13.5"),
    ("nvidia-cuda-nvcc", "13.1.115", "13.1"),
    ("nvidia-cuda-cccl-cu12", "12.9.27", "12.9"),
    ("nvidia-cuda-cccl", "13.2.86", "13.2"),
    ("nvidia-cuda-cccl", "13.3.4.3.1", "13.0"),  # from 13.3 on, 13.<CCCL version>
    ("nvidia-cublas-cu12", "12.8.4.1", "12.8"),
    ("nvidia-cublas-cu11", "11.11.3.6", "11.0"),
    ("nvidia-cublas", "13.4.1.3", "13.0"),  # ships with CUDA 13.2: its minor is its own
    ("cuda-toolkit", "11.8.0", "11.8"),
    ("cuda-toolkit", "13.0.3.0", "13.0"),
    ("cuda-toolkit", "13.5.0", "13.5"),
    ("torch", "2.9.1+cu130", "13.0"),
    ("torch", "2.6.0+cu118", "11.8"),
    ("torchvision", "0.22.1+cu126", "12.6"),
    ("vllm", "0.18.1+cu130", "13.0"),
    ("flash-attn", "2.2.1+cu118torch2.0cxx11abiFALSE", "11.8"),
    ("flash-attn", "2.8.3+cu12torch2.10cxx11abiTRUE", "12.0"),
    ("torch-scatter", "2.1.2+pt21cu121", "12.1"),
    ("jaxlib", "0.4.12+cuda12.cudnn89", "12.0"),
    ("jaxlib", "0.1.52+cuda110", "11.0"),
    ("jax-cuda12-plugin", "0.10.2", "12.0"),
    ("jax-cuda13-pjrt", "0.12.0.1", "13.0"),
    ("cupy-cuda11x", "13.6.0", "11.0"),
    ("cupy-cuda12x", "14.2.0", "12.0"),
    ("cupy-cuda110", "12.3.0", "11.0"),
    ("cupy-cuda102", "9.6.0", "10.2"),
    ("nvidia-cudnn-cu12", "9.10.2.21", "12.0"),
    ("nvidia-cudnn-cu13", "9.19.0.56", "13.0"),
    ("nvidia-nccl-cu12", "2.27.5", "12.0"),
    ("nvidia-cufft", "12.2.0.57", "13.0"),
    ("nvidia-curand", "10.4.2.66", "13.0"),
    ("nvidia-cuda-runtime-cu13", "0.0.1", "13.0"),  # NVIDIA's deprecated stub
    ("cuda-bindings", "12.9.4", "12.0"),
    ("cuda-python", "13.4.4", "13.0"),
    ("tensorrt-cu12", "10.13.3.9", "12.0"),
    ("tensorrt-cu13-libs", "11.4.0.106", "13.0"),
    ("tensorrt", "10.13.0.35", "12.0"),
    ("tensorrt", "11.4.0.106", "13.0"),
    ("onnxruntime-gpu", "1.18.1", "11.8"),
    ("onnxruntime-gpu", "1.26.0", "12.0"),
    ("onnxruntime-gpu", "1.27.0", "13.0"),
    ("paddlepaddle-gpu", "2.6.1.post120", "12.0"),
    ("nvidia-dali-cuda120", "2.4.0", "12.0"),
    ("mxnet-cu112", "1.9.1", "11.2"),
    ("cudf-cu13", "26.10.2", "13.0"),
    ("cuml-cu12", "26.10.0", "12.0"),
    # what says nothing
    ("torch", "2.8.0+cpu", None),
    ("torch", "2.6.0+rocm6.2.4", None),
    ("triton", "3.6.0", None),
    ("bitsandbytes", "0.50.2", None),
    ("cuda-core", "1.2.2", None),
    ("cuda-pathfinder", "1.9.0", None),
    ("nvidia-ml-py", "13.615.71", None),
    ("xformers", "0.0.35", None),
    ("numpy", "2.4.6", None),
]


@pytest.mark.parametrize(("name", "version", "expected"), REAL)
def test_each_real_package_says_what_cuda_it_needs(name: str, version: str, expected: str | None) -> None:
    found = runtime.package_needs(name, version)
    assert (str(found.needs) if found and found.needs else None) == expected


def test_the_runtime_is_the_runtimes_own_version_not_its_libraries() -> None:
    """torch 2.15 from PyPI: runtime 13.2, cuBLAS 13.4 and nvJitLink 13.5 beside it."""
    needs = runtime.infer(
        {
            "torch": "2.15.0",
            "cuda-toolkit": "13.2.2",
            "nvidia-cuda-runtime": "13.2.86",
            "nvidia-cublas": "13.4.1.3",
            "nvidia-nvjitlink": "13.5.37",
            "nvidia-cudnn-cu13": "9.26.0.51",
        }
    )
    assert str(needs.cuda) == "13.2"
    assert str(runtime.infer({"nvidia-nvjitlink-cu12": "12.9.86"}).cuda) == "12.9"  # no runtime package: the rest
    assert runtime.infer({"numpy": "2.0", "torch": "2.8.0+cpu"}).cuda is None
    mixed = runtime.infer({"nvidia-cuda-runtime-cu12": "12.8.90", "cupy-cuda13x": "14.2.0"})
    assert str(mixed.cuda) == "13.0"  # a CUDA 13 library raises the major


@pytest.mark.network
def test_real_pypi_torch_builds(tmp_path: Path) -> None:
    """PyPI's own torch: 2.10 is a CUDA 12.8 build, 2.15 a CUDA 13.2 one."""
    from click.testing import CliRunner

    from lockgen.cli import main

    root = tmp_path / "proj"
    (root / "inputs").mkdir(parents=True)
    (root / "inputs/a.in").write_text("torch==2.10.0\n")
    (root / "inputs/b.in").write_text("torch==2.15.0\n")
    (root / "lockgen.toml").write_text(
        'inputs = []\npython = ["3.12"]\nexclude-newer = "2026-11-20T00:00:00Z"\n'
        '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/a.in"]\n'
        '[accelerators.cu130]\ncuda = "13.0"\ninputs = ["inputs/b.in"]\n'
    )
    result = CliRunner().invoke(main, ["compile", "--config", str(root / "lockgen.toml")])
    assert result.exit_code == 0, result.output
    for variant, expected in (("py312-cu128", "12.8"), ("py312-cu130", "13.2")):
        lock = pylock.read(root / "locks" / f"pylock.{variant}.toml")
        assert lock is not None and lock.meta["cuda-runtime"] == expected


@pytest.mark.parametrize("written", ["2026-03-04", "2026-03-04T12:00:00"])
def test_exclude_newer_without_an_offset_is_utc_wherever_lockgen_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    """uv reads a date, or a time without an offset (its time passed over), as the end of
    that day in the machine's time zone: one configuration locked one version in
    Kiritimati (UTC+14) and another in Pago Pago (UTC-11). lockgen gives uv the end of
    that day in UTC, what uv reads in UTC; the input digest covers the value as written,
    so locks compiled before stay current."""
    from lockgen.project.config import load

    project.config.write_text(
        project.config.read_text().replace("[accelerators", f'exclude-newer = "{written}"\n[accelerators', 1)
    )
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        monkeypatch.setenv("TZ", zone)
        result = project.run("compile", "-v", "--dry-run")  # fails: the fixture index has no upload times
        commands = [line for line in result.output.splitlines() if "$ " in line and " pip compile " in line]
        given = [c.split()[c.split().index("--exclude-newer") + 1] for c in commands]
        assert given and set(given) == {"2026-03-05T00:00:00Z"}, zone
    after = load(project.root, project.config)  # the digest covers the value as written, as lockgen 0.3's did
    assert [v.settings()["exclude-newer"] for v in after.variants] == [written] * len(after.variants)


@pytest.mark.network
def test_a_date_alone_for_exclude_newer_locks_the_same_in_every_time_zone(tmp_path: Path) -> None:
    """boto3 released 1.42.60 and 1.42.61 within the day around 2026-03-04T00:00Z."""
    from click.testing import CliRunner

    from lockgen.cli import main

    root = tmp_path / "proj"
    (root / "inputs").mkdir(parents=True)
    (root / "inputs/base.in").write_text("boto3\n")
    config = root / "lockgen.toml"
    config.write_text(
        'inputs = ["inputs/base.in"]\npython = ["3.12"]\nexclude-newer = "2026-03-04"\n[accelerators.cpu]\n'
    )
    seen = {}
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        result = CliRunner(env={"TZ": zone}).invoke(main, ["compile", "-U", "--config", str(config)])
        assert result.exit_code == 0, result.output
        lock = pylock.read(root / "locks" / "pylock.py312-cpu.toml")
        assert lock is not None
        seen[zone] = lock.versions["boto3"]
    assert seen["Pacific/Kiritimati"] == seen["Pacific/Pago_Pago"], seen


def test_check_resolve_ignores_which_lockgen_version_wrote_a_lock(gpu_project: Project, cuda_indexes) -> None:  # type: ignore[no-untyped-def]
    """A lock from an older lockgen is not 'edited': only its version lines differ."""
    configure(gpu_project, cuda_indexes, '[accelerators.cu128]\ncuda = "12.8"\ninputs = ["inputs/cu128.in"]\n')
    assert gpu_project.run("compile").exit_code == 0
    path = gpu_project.lock(f"{TAG}-cu128")
    text = re.sub(r"lockgen \S+ from", "lockgen 0.0.1 from", path.read_text())
    path.write_text(writer.sealed(re.sub(r'lockgen-version = "[^"]*"', 'lockgen-version = "0.0.1"', text)))
    result = gpu_project.run("check", "--resolve")
    assert result.exit_code == 0, result.output

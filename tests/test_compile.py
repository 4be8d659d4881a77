"""lockgen compile end to end, against the real uv and fixture indexes."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from conftest import Project
from packaging.pylock import Pylock

from lockgen import _toml, uv

VARIANTS = ["py311-cpu", "py312-cpu", "py311-cu124", "py312-cu124"]


def versions(path) -> dict[str, str]:
    lock = Pylock.from_dict(_toml.loads(path.read_text()))
    return {p.name: str(p.version) for p in lock.packages}


def test_compile_writes_one_valid_hashed_lock_per_variant(project: Project) -> None:
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in project.locks.iterdir()) == sorted(f"pylock.{v}.toml" for v in VARIANTS)
    for v in VARIANTS:
        assert re.search(rf"^{v}\s+updated\s+\d+ packages\s+\+\d+ ~0 -0$", result.output, re.MULTILINE)
    cu = project.lock("py312-cu124")
    data = _toml.loads(cu.read_text())
    lock = Pylock.from_dict(data)  # valid PEP 751
    assert {p.name: str(p.version) for p in lock.packages} == {
        "app": "1.0", "numpy": "2.0.0", "torch": "2.6.0+cu124", "triton": "3.2.0",
    }  # fmt: skip
    assert versions(project.lock("py312-cpu"))["torch"] == "2.6.0+cpu"
    assert "triton" not in versions(project.lock("py312-cpu"))
    for package in lock.packages:
        artifacts = [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]
        assert artifacts and all(a.hashes.get("sha256") for a in artifacts), package.name
    meta = data["tool"]["lockgen"]
    assert meta["variant"] == "py312-cu124"
    assert meta["python"] == "3.12"
    assert meta["platform"] == "x86_64-manylinux_2_28"
    assert meta["accelerator"] == "cu124"
    assert meta["cuda"] == "12.4"
    assert meta["gpu-archs"][0] == "5.0" and meta["gpu-archs"][-1] == "9.0"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["input-digest"])
    assert "lockgen-version" in meta
    assert "cuda" not in _toml.loads(project.lock("py312-cpu").read_text())["tool"]["lockgen"]


def test_second_compile_is_up_to_date_without_calling_uv(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert project.run("compile").exit_code == 0
    before = project.snapshot()
    monkeypatch.setattr(uv, "binary", lambda: "/nonexistent/uv")  # any uv call would now fail
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert all(
        re.search(rf"^{v}\s+up to date\s+\d+ packages  \+0 ~0 -0$", result.output, re.MULTILINE) for v in VARIANTS
    )
    assert project.snapshot() == before


def test_output_is_deterministic(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    first = project.snapshot()
    assert project.run("compile", "--upgrade").exit_code == 0
    assert project.snapshot() == first
    for path in project.locks.iterdir():
        path.unlink()
    assert project.run("compile", "-j", "1").exit_code == 0
    assert project.snapshot() == first


def test_existing_pins_are_kept_and_only_what_inputs_force_changes(project: Project) -> None:
    project.write("inputs/base.in", "app\nhelper==1.0\n")
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"
    # Loosen the pin: helper 2.0 exists, but the lock is the preference.
    project.write("inputs/base.in", "app\nhelper\ntool\n")
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"
    assert re.search(r"^py312-cpu\s+updated\s+\d+ packages\s+\+1 ~0 -0$", result.output, re.MULTILINE)
    # -P lets one package move; -U lets everything move.
    assert project.run("compile", "-P", "helper", "py312-cpu").exit_code == 0
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"
    assert versions(project.lock("py311-cpu"))["helper"] == "1.0"
    assert project.run("compile", "-U").exit_code == 0
    assert versions(project.lock("py311-cpu"))["helper"] == "2.0"


def pinned_then_siblings_moved_on(project: Project, siblings: str) -> None:
    """Every lock pins helper 1.0, kept as the intent file loosens; then the variants
    ``siblings`` names take helper 2.0, which the others' preferences would now offer."""
    project.write("inputs/base.in", "app\nhelper==1.0\n")
    assert project.run("compile").exit_code == 0
    project.write("inputs/base.in", "app\nhelper\n")
    assert project.run("compile").exit_code == 0
    assert project.run("compile", "-P", "helper", siblings).exit_code == 0


def test_a_renamed_accelerator_keeps_the_pins_of_its_lock_under_the_former_name(project: Project) -> None:
    """A rename (diff already pairs the two locks) is no new variant: the lock under the
    old name is the preference, not the siblings', which here have moved on."""
    pinned_then_siblings_moved_on(project, "*-cu124")
    assert versions(project.lock("py312-cu124"))["helper"] == "2.0"
    project.config.write_text(project.config.read_text().replace("[accelerators.cpu]", "[accelerators.cpux]"))
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-cpux"))["helper"] == "1.0"
    assert versions(project.lock("py311-cpux"))["helper"] == "1.0"


def test_a_renamed_accelerator_whose_gpu_archs_changed_too_keeps_its_pins(project: Project) -> None:
    """Renamed, and its GPU architectures named in the same change: no longer the same
    record, but the same python, platform, CUDA and intent files, and no other like it."""
    pinned_then_siblings_moved_on(project, "*-cpu")
    renamed = project.config.read_text().replace('[accelerators.cu124]\ncuda = "12.4"\n',
                                                 '[accelerators.gpu]\ncuda = "12.4"\ngpu-archs = ["8.0"]\n')  # fmt: skip
    assert renamed != project.config.read_text()
    project.config.write_text(renamed)
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-gpu"))["helper"] == "1.0"


def test_a_rename_two_new_accelerators_could_claim_pairs_neither_whichever_is_compiled(project: Project) -> None:
    """cu124 renamed to gpu, and gpu2 added alike: the old lock is either's, so neither's.
    Compiling gpu alone paired it all the same (the other was not in the run)."""
    pinned_then_siblings_moved_on(project, "*-cpu")
    text = project.config.read_text()
    cu124 = text[text.index("[accelerators.cu124]") :]
    project.config.write_text(
        text.replace(cu124, cu124.replace("cu124]", "gpu]") + "\n" + cu124.replace("cu124]", "gpu2]"))
    )
    result = project.run("compile", "py312-gpu")
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-gpu"))["helper"] == "2.0"  # the siblings', as a compile of all gives


def test_inputs_that_force_a_change_change_it(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cpu"))["numpy"] == "2.0.0"
    project.write("inputs/base.in", "app\nnumpy<2\n")
    result = project.run("compile")
    assert result.exit_code == 0
    assert versions(project.lock("py312-cpu"))["numpy"] == "1.26.4"
    assert re.search(r"^py312-cpu\s+updated\s+\d+ packages\s+\+0 ~1 -0$", result.output, re.MULTILINE)


def test_patterns_narrow_the_variants(project: Project) -> None:
    result = project.run("compile", "py312-*")
    assert result.exit_code == 0
    assert sorted(p.name for p in project.locks.iterdir()) == ["pylock.py312-cpu.toml", "pylock.py312-cu124.toml"]
    assert project.run("compile", "nomatch-*").exit_code == 2


def test_dry_run_writes_nothing(project: Project) -> None:
    result = project.run("compile", "--dry-run")
    assert result.exit_code == 0
    assert "updated" in result.output and "dry run" in result.output
    assert not project.locks.exists()


def test_orphans_are_reported_and_pruned(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    orphan = project.lock("py310-cpu")
    orphan.write_text(project.lock("py311-cpu").read_text())
    result = project.run("compile")
    assert "locks/pylock.py310-cpu.toml: orphan" in result.output
    assert orphan.exists()
    result = project.run("compile", "--prune")
    assert "locks/pylock.py310-cpu.toml: pruned" in result.output
    assert not orphan.exists()


def test_exports_of_a_format_taken_out_are_orphans(project: Project) -> None:
    """A requirements export lockgen no longer writes would go stale while pip still
    installs from it: compile and check name it, and --prune deletes it."""
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    assert project.run("compile").exit_code == 0
    export = project.locks / "requirements.py312-cpu.txt"
    assert export.is_file()
    project.config.write_text(project.config.read_text().replace('formats = ["pylock", "requirements"]\n', ""))
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert 'locks/requirements.py312-cpu.txt: orphan (formats does not include "requirements"' in result.output
    assert "pylock.py312-cpu.toml: orphan" not in result.output
    check = project.run("check")
    assert check.exit_code == 1
    assert 'locks/requirements.py312-cpu.txt: orphan: formats does not include "requirements"' in check.output
    assert project.run("compile", "--prune").exit_code == 0
    assert not export.exists() and project.lock("py312-cpu").is_file()
    assert project.run("check").exit_code == 0


def test_a_format_added_writes_exports_and_says_the_locks_stayed(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    before = project.lock("py312-cpu").read_bytes()
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert (project.locks / "requirements.py312-cpu.txt").is_file()
    assert project.lock("py312-cpu").read_bytes() == before
    row = next(line for line in result.output.splitlines() if line.startswith("py312-cpu "))
    assert "updated" in row and "lock unchanged; its requirements export written" in row, result.output


def test_forbidden_package_fails_with_its_chain_and_keeps_the_old_lock(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    before = project.snapshot()
    text = project.config.read_text()
    project.config.write_text('forbid = ["triton"]\n' + text)
    result = project.run("compile")
    assert result.exit_code == 1
    assert "py312-cu124 failed: forbidden: triton <- torch <- inputs/cu124.in" in result.output  # the shortest chain
    assert re.search(r"^py312-cu124\s+failed", result.output, re.MULTILINE)
    # up-to-date variants are checked as well: the digest ignores forbid, so they are up to date
    assert re.search(r"^py312-cpu\s+up to date", result.output, re.MULTILINE)
    assert project.snapshot() == before
    # Names are matched canonically; a chain through a dependency names the package between.
    project.config.write_text('forbid = ["NumPy"]\n' + text)
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 1
    assert "py312-cpu failed: forbidden: numpy <- app <- inputs/base.in" in result.output


def test_a_failed_variant_keeps_its_lock_while_the_others_are_written(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    old_cu = project.lock("py312-cu124").read_bytes()
    project.write("inputs/cu124.in", "torch==2.6.*\nnot-on-any-index\n")
    project.write("inputs/base.in", "app\nhelper==1.0\n")
    result = project.run("compile")
    assert result.exit_code == 1
    assert re.search(r"^py312-cu124\s+failed", result.output, re.MULTILINE)
    assert "not-on-any-index" in result.output  # uv's own reason
    # said once for the two variants it fails, not once each
    assert re.search(r"^py311-cu124, py312-cu124 failed: ", result.output, re.MULTILINE), result.output
    assert project.lock("py312-cu124").read_bytes() == old_cu
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"  # the others were written
    assert not list(project.locks.glob(".lockgen-*")), "temporary files left behind"


def test_python_version_without_an_interpreter_resolves(project: Project) -> None:
    text = project.config.read_text().replace('python = ["3.11", "3.12"]', 'python = ["3.14"]')
    project.config.write_text(text)
    result = project.run("compile", "--offline")
    assert result.exit_code == 0, result.output
    assert _toml.loads(project.lock("py314-cpu").read_text())["requires-python"] == ">=3.14"


def test_requires_python_is_honoured_per_variant(project: Project) -> None:
    project.write("inputs/base.in", "app\npy312only\n")
    result = project.run("compile")
    assert result.exit_code == 1
    assert re.search(r"^py311-cpu\s+failed", result.output, re.MULTILINE)
    assert re.search(r"^py312-cpu\s+updated", result.output, re.MULTILINE)


def test_find_links_and_constraints(project: Project) -> None:
    project.write("constraints.txt", "numpy<2\n")
    shutil.copytree(project.indexes.links, project.root / "wheels")
    text = project.config.read_text()
    text = text.replace('index-url = "', 'constraints = ["constraints.txt"]\nfind-links = ["wheels"]\nindex-url = "', 1)
    project.config.write_text(text)
    project.write("inputs/base.in", "app\nlocal-only\n")
    assert project.run("compile").exit_code == 0
    v = versions(project.lock("py312-cpu"))
    assert v["numpy"] == "1.26.4" and v["local-only"] == "0.1"
    # A folder outside the project would make the lock unreproducible from a clone.
    project.config.write_text(text.replace('find-links = ["wheels"]', f'find-links = ["{project.indexes.links}"]'))
    result = project.run("compile")
    assert result.exit_code == 2 and "outside the project's repository" in result.output


def test_the_graph_is_asked_of_uv_again_when_its_log_does_not_explain_the_lock(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgen.compile import uvlog
    from lockgen.locks import pylock as lockfile

    assert project.run("compile", "py312-cu124").exit_code == 0
    from_log = lockfile.read(project.lock("py312-cu124"))
    project.lock("py312-cu124").unlink()
    monkeypatch.setattr(uvlog, "from_log", lambda log, versions, roots: (None, frozenset(versions)))
    assert project.run("compile", "py312-cu124").exit_code == 0
    lock = lockfile.read(project.lock("py312-cu124"))
    assert lock is not None and lock.graph is not None
    assert lock.graph["triton"] == ("torch",)
    assert lock.graph["torch"] == ("app", "inputs/cu124.in")
    assert from_log is not None and lock.text == from_log.text  # both ways give the same bytes


def test_uv_is_found_before_any_thread_starts(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv.find_uv_bin() reads sysconfig, which is not thread-safe: found in worker threads at
    once, it returned None paths now and then (an intermittent TypeError in compile)."""
    import threading

    calls: list[str] = []
    real = uv.binary
    real.cache_clear()

    def recording() -> str:
        calls.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(uv, "binary", recording)
    assert project.run("compile", "-j", "4").exit_code == 0
    assert calls and calls[0] == threading.main_thread().name


@pytest.mark.parametrize("build", [False, True], ids=["backtracking", "an-sdist-built-with-b[x]"])
def test_a_branch_uv_abandoned_leaves_no_edge_in_the_graph(tmp_path, indexes, build) -> None:  # type: ignore[no-untyped-def]
    """uv tries p 2.0 (which wants b[x], so c), meets s's p<2 (q -> r -> s) and settles on
    p 1.0 (plain b). Its log still says b 1.0 added c: the recorded graph must not.

    Built: no backtracking (only p 1.0 exists), but an sdist whose build needs b[x]: uv
    resolves its build requirements apart, and that resolution's lines (b 1.0 adds c)
    mix into the log as well."""
    from conftest import Project
    from wheelmaker import make_backend, make_sdist, make_wheel

    p = Project(tmp_path / "proj", indexes)
    links = p.root / "wheels"
    if build:
        make_backend(links)
        make_sdist(links, "built", "1.0", build_requires=["b[x]"])
    if not build:
        make_wheel(links, "p", "2.0", ["b[x]"])
    make_wheel(links, "p", "1.0", ["b"])
    make_wheel(links, "b", "1.0", ['c; extra == "x"'], extras=("x",))
    make_wheel(links, "c", "1.0")
    make_wheel(links, "q", "1.0", ["r"])
    make_wheel(links, "r", "1.0", ["s"])
    make_wheel(links, "s", "1.0", ["p<2", "c"])
    p.write("in.in", "p\nq\n" + ("built\n" if build else ""))
    p.write("lockgen.toml", 'inputs = ["in.in"]\npython = ["3.12"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    assert p.run("compile").exit_code == 0
    from lockgen.locks import pylock as lockfile

    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None and lock.versions["p"] == "1.0"
    assert lock.graph is not None and lock.graph["c"] == ("s",)
    assert lock.dependencies["b"] == ()
    assert ("built" in lock.versions) == build


@pytest.mark.parametrize("line", ["./libs/mine", "-e ./libs/mine", "mine @ file:./libs/mine"])
def test_a_local_project_is_named_in_the_graph_and_kept_relative(tmp_path, indexes, line: str) -> None:  # type: ignore[no-untyped-def]
    """uv writes a local project by its path alone in its requirements output, and a
    ``file:`` one by its absolute path in its pylock: the lock still names it a root of
    its intent file with its own dependencies, holds it relative to the lock (a clone
    elsewhere reads the same lock), and passes check and a second compile as it is."""
    from conftest import Project
    from wheelmaker import make_local_project, make_wheel

    from lockgen.locks import pylock as lockfile

    p = Project(tmp_path / "proj", indexes)
    make_local_project(p.root / "libs" / "mine", "mine", "0.3", ["dep"])
    make_wheel(p.root / "wheels", "dep", "1.0")
    make_wheel(p.root / "wheels", "other", "1.0")
    p.write("inputs/in.in", f"{line}\nother\n")
    p.write("lockgen.toml", 'inputs = ["inputs/in.in"]\npython = ["3.12"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\nformats = ["pylock", "requirements"]\n[accelerators.cpu]\n')  # fmt: skip
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None
    assert lock.roots == {"inputs/in.in": ("mine", "other")}
    assert lock.dependencies["mine"] == ("dep",)
    mine = lock.text.split('name = "mine"')[1].split("[[packages]]")[0]
    assert 'directory = { path = "../libs/mine"' in mine and str(tmp_path) not in mine
    again = p.run("compile")
    assert again.exit_code == 0 and "up to date" in again.output, again.output
    check = p.run("check")
    assert check.exit_code == 0, check.output
    # its metadata is part of the inputs: a new dependency there makes the lock stale
    make_local_project(p.root / "libs" / "mine", "mine", "0.4", ["dep", "other"])
    stale = p.run("check")
    assert stale.exit_code == 1 and "stale" in stale.output, stale.output
    bumped = p.run("compile")
    assert bumped.exit_code == 0 and "updated" in bumped.output, bumped.output
    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None and lock.dependencies["mine"] == ("dep", "other")


def test_an_archive_a_local_projects_uv_sources_names_is_in_the_graph(tmp_path, indexes) -> None:  # type: ignore[no-untyped-def]
    """uv writes such an archive by its path relative to the local project, not to the
    project's root: it is still named, so the lock's graph reaches it and check passes."""
    from conftest import Project
    from wheelmaker import make_local_project, make_wheel

    from lockgen.locks import pylock as lockfile

    p = Project(tmp_path / "proj", indexes)
    mine = make_local_project(p.root / "libs" / "mine", "mine", "0.3", ["dep"])
    make_wheel(p.root / "vendored", "dep", "1.0")
    (mine / "pyproject.toml").write_text(
        (mine / "pyproject.toml").read_text()
        + '\n[tool.uv.sources]\ndep = { path = "../../vendored/dep-1.0-py3-none-any.whl" }\n'
    )
    p.write("inputs/in.in", "./libs/mine\n")
    p.write("lockgen.toml", f'inputs = ["inputs/in.in"]\npython = ["3.12"]\nindex-url = "{indexes.pypi}"\n'
                            "[accelerators.cpu]\n")  # fmt: skip
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None and lock.dependencies["mine"] == ("dep",)
    assert 'archive = { path = "../vendored/dep-1.0-py3-none-any.whl"' in lock.text
    check = p.run("check")
    assert check.exit_code == 0, check.output
    again = p.run("compile")
    assert again.exit_code == 0 and "up to date" in again.output, again.output


def test_uv_settings_in_the_environment_do_not_change_a_lock(project: Project, tmp_path: Path) -> None:
    """The configuration decides a resolution: a developer's UV_RESOLUTION, an extra
    index in UV_EXTRA_INDEX_URL or UV_INDEX, UV_EXCLUDE naming a package, or a variable
    a later uv adds, must not give their locks other versions than CI's (the input
    digest would not show it). A network setting still reaches uv, unremarked."""
    from wheelmaker import make_index, make_wheel

    other = make_index(tmp_path / "other", [make_wheel(tmp_path / "files", "helper", "3.0")])
    project.write("inputs/base.in", "app\nhelper\n")
    assert project.run("compile", "py312-cpu").exit_code == 0
    clean = project.lock("py312-cpu").read_bytes()
    project.lock("py312-cpu").unlink()
    (tmp_path / "excluded.txt").write_text("helper\n")
    env = {"UV_RESOLUTION": "lowest", "UV_EXCLUDE_NEWER": "2001-01-01T00:00:00Z", "UV_PRERELEASE": "allow",
           "UV_EXTRA_INDEX_URL": other, "UV_INDEX": other, "UV_FIND_LINKS": str(tmp_path / "files"),
           "UV_INDEX_STRATEGY": "unsafe-best-match", "UV_EXCLUDE": str(tmp_path / "excluded.txt"),
           "UV_SOME_FUTURE_SETTING": "1", "UV_HTTP_TIMEOUT": "60", "UV_OFFLINE": "1",
           "UV_PROJECT_ENVIRONMENT": "/elsewhere", "UV_RUN_RECURSION_DEPTH": "1"}  # fmt: skip
    result = project.run("compile", "py312-cpu", env=env)
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"
    assert project.lock("py312-cpu").read_bytes() == clean
    ignored = ("UV_EXCLUDE, UV_EXCLUDE_NEWER, UV_EXTRA_INDEX_URL, UV_FIND_LINKS, UV_INDEX, UV_INDEX_STRATEGY, "
               "UV_OFFLINE, UV_PRERELEASE, UV_RESOLUTION, UV_SOME_FUTURE_SETTING:")  # fmt: skip
    assert f"warning: ignored {ignored}" in result.output  # a network setting is uv's to use; what nox or
    # `uv run` set for uv's project commands is no concern of `uv pip`: withheld without a word


def test_a_deployment_target_in_the_shell_moves_no_macos_lock(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """MACOSX_DEPLOYMENT_TARGET=14.0 reached uv and locked a macOS-14-only wheel under the
    same label and digest another shell's compile gave a macOS-11 one."""
    from conftest import MINOR
    from wheelmaker import make_index, make_wheel

    files = tmp_path / "files"
    index = make_index(tmp_path / "simple", [
        make_wheel(files, "macy", "1.0", tag="py3-none-macosx_11_0_arm64"),
        make_wheel(files, "macy", "2.0", tag="py3-none-macosx_14_0_arm64"),
    ])  # fmt: skip
    p = Project(tmp_path / "proj", indexes)
    p.write("lockgen.toml", f'inputs = ["in.in"]\npython = ["{MINOR}"]\nindex-url = "{index}"\n'
                            'platforms = ["aarch64-apple-darwin"]\n[accelerators.cpu]\n')  # fmt: skip
    p.write("in.in", "macy\n")
    result = p.run("compile", env={"MACOSX_DEPLOYMENT_TARGET": "14.0", "IPHONEOS_DEPLOYMENT_TARGET": "17.0"})
    assert result.exit_code == 0, result.output
    assert versions(p.lock(f"py{MINOR.replace('.', '')}-cpu"))["macy"] == "1.0"
    said = "warning: ignored MACOSX_DEPLOYMENT_TARGET: a macOS lock takes uv's own floor of macOS versions"
    assert said in result.output and "IPHONEOS" not in result.output  # no iOS variant: nothing it changed
    p.config.write_text(p.config.read_text().replace("aarch64-apple-darwin", "x86_64-manylinux_2_28"))
    p.write("in.in", "")
    linux = p.run("compile", env={"MACOSX_DEPLOYMENT_TARGET": "14.0"})
    assert linux.exit_code == 0 and "MACOSX_DEPLOYMENT_TARGET" not in linux.output  # no macOS variant: no noise


def test_project_root_in_the_shell_is_not_where_uv_reads_project_root(tmp_path: Path, project: Project) -> None:
    """uv reads ${PROJECT_ROOT} from the environment before its working folder: with
    PROJECT_ROOT=<the repository above>, it locked ../libs/x while lockgen digested and
    checked the project's own libs/x."""
    from test_compile import versions
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "x", "x", "0.1", ["helper==1.0"])
    make_local_project(tmp_path / "libs" / "x", "x", "0.1", ["helper==2.0"])  # where PROJECT_ROOT points
    project.write("inputs/base.in", "${PROJECT_ROOT}/libs/x\n")
    result = project.run("compile", "py312-cpu", env={"PROJECT_ROOT": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"
    assert "warning: ignored PROJECT_ROOT: ${PROJECT_ROOT} in an intent file is the project's folder" in result.output


def test_a_comment_ending_in_a_backslash_does_not_swallow_the_next_line(project: Project) -> None:
    """As pip and uv read it: a comment line is never continued."""
    from lockgen.locks import pylock as lockfile

    project.write("inputs/base.in", "app \\\n  >=1.0\n# helper is pinned by ops \\\nhelper\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    lock = lockfile.read(project.lock("py312-cpu"))
    assert lock is not None and lock.graph is not None
    assert "helper" in versions(project.lock("py312-cpu")) and "inputs/base.in" in lock.graph["helper"]


def test_a_lock_never_installs_from_outside_the_repository(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path inside the repository is locked (relative to the lock); whatever spelling
    of a path outside slips past lockgen's reading of the intent files, the lock uv
    writes is read too, and the variant fails with its old lock kept."""
    from wheelmaker import make_wheel

    from lockgen.project.places import Places

    make_wheel(project.root / "wheels", "localpath", "1.0")
    make_wheel(tmp_path / "outside", "localpath", "1.0")
    project.write("inputs/base.in", "app\n./wheels/localpath-1.0-py3-none-any.whl\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    assert 'path = "../wheels/localpath-1.0-py3-none-any.whl"' in project.lock("py312-cpu").read_text()
    before = project.snapshot()

    monkeypatch.setattr(Places, "location", lambda *args, **kwargs: None)  # a reading that misses it
    project.write("inputs/base.in", "app\n../outside/localpath-1.0-py3-none-any.whl\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 1
    assert "installs from ../../outside/localpath-1.0-py3-none-any.whl, outside the project's repository" in (
        result.output
    )
    assert project.snapshot() == before


def test_an_intent_file_uv_reads_as_a_copy_behaves_as_the_original(project: Project) -> None:
    """A ``\\`` continuation (uv's parser does not join it before ``--hash``) sends uv a
    normalized copy kept outside the project: its ``-f`` folder, relative to the file,
    is still found; uv's errors name the project's file, not the copy; a backslash
    ending the file joins nothing, as pip reads it."""
    from wheelmaker import make_wheel

    make_wheel(project.root / "inputs" / "wheels", "localpkg", "1.0")
    project.write("inputs/base.in", "app \\\n  >=1.0\n-f wheels\nlocalpkg\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    assert versions(project.lock("py312-cpu"))["localpkg"] == "1.0"

    two = "-i https://a.example.invalid/simple\n-i https://b.example.invalid/simple\n"  # uv: "... <file>:4:"
    project.write("inputs/base.in", "app \\\n  >=1.0\n" + two)
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 1
    assert "inputs/base.in" in result.output and "lockgen-src" not in result.output, result.output

    (project.root / "inputs/base.in").write_text("app\nhelper \\")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    assert "helper" in versions(project.lock("py312-cpu"))


def test_compile_says_when_it_replaces_a_lock_it_cannot_read(project: Project) -> None:
    """compile is how a broken lock is mended, but its pins are lost: it says so."""
    assert project.run("compile", "py312-cpu").exit_code == 0
    project.lock("py312-cpu").write_text("lock-version = [\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: py312-cpu: .*pylock\.py312-cpu\.toml: invalid TOML.*resolved afresh, without its pins",
                     result.output)  # fmt: skip
    assert versions(project.lock("py312-cpu"))["app"] == "1.0"  # a valid lock again


def test_ctrl_c_stops_a_compile_at_once_and_leaves_the_locks_as_they_were(tmp_path: Path) -> None:
    """Ctrl-C reaches lockgen and every uv it runs (one process group, as a terminal
    sends it). Five variants, three resolving at a time, stuck on a local package whose
    metadata build never ends (one uv builds it, two wait for that build): lockgen must
    exit 130 in seconds, begin no uv for the two variants still waiting, and leave no
    uv (or build) behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    if not Path("/proc/self/stat").is_file():
        pytest.skip("reads processes from /proc")
    root = tmp_path / "proj"
    slow = root / "slowpkg"
    slow.mkdir(parents=True)
    (slow / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "slow"\nbackend-path = ["."]\n'
        '[project]\nname = "slowpkg"\nversion = "1.0"\ndynamic = ["dependencies"]\n'
    )
    (slow / "slow.py").write_text(
        "import time\n\ndef _hang(*args, **kwargs):\n    time.sleep(120)\n\n"
        "get_requires_for_build_wheel = lambda config_settings=None: []\n"
        "prepare_metadata_for_build_wheel = build_wheel = _hang\n"
    )
    (root / "inputs").mkdir()
    (root / "inputs/base.in").write_text("./slowpkg\n")
    text = f'inputs = ["inputs/base.in"]\npython = ["3.12"]\nindex-url = "{(tmp_path / "empty").as_uri()}"\n'
    (tmp_path / "empty").mkdir()
    for i in range(5):
        (root / f"inputs/acc{i}.in").write_text(f"# accelerator {i}\n")
        text += f'\n[accelerators.acc{i}]\ninputs = ["inputs/acc{i}.in"]\n'
    (root / "lockgen.toml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # A run started in the background of a script inherits Ctrl-C ignored; one in a terminal does not.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "lockgen", "compile", "--offline", "-j", "1"], cwd=root, env=env,
                                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        deadline = time.monotonic() + 60
        while True:  # three uv at work, one in the build, two waiting for it; two variants not begun
            alive = _alive_in_session(proc.pid)
            if sum(" pip compile " in c for c in alive) >= 3 and any("import slow" in c for c in alive):
                break
            assert proc.poll() is None and time.monotonic() < deadline, f"the build never started: {alive}"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        start = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - start
        settled = time.monotonic() + 3  # uv does not wait for the build it runs: that one ends on its own Ctrl-C
        while (left := _alive_in_session(proc.pid)) and time.monotonic() < settled:
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "error: interrupted" in err
    assert took < 10, f"{took:.1f} s to stop"
    assert left == [], f"left running after lockgen exited: {left}"
    assert not any((root / "locks").glob("pylock.*"))


def _alive_in_session(sid: int) -> list[str]:
    """The command lines of a session's processes still running, read from /proc (an
    exited one whose parent is gone may linger as a zombie until init reaps it: it runs
    nothing)."""
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            alive.append(cmdline)
    return alive


def _fresh_and_its_beta(tmp_path: Path, indexes):  # type: ignore[no-untyped-def]
    """A project whose find-links hold fresh 1.0 and fresh 2.0b1, reading in.in."""
    from conftest import Project
    from wheelmaker import make_wheel

    p = Project(tmp_path / "proj", indexes)
    make_wheel(p.root / "wheels", "fresh", "1.0")
    make_wheel(p.root / "wheels", "fresh", "2.0b1")
    p.write("lockgen.toml", 'inputs = ["in.in"]\npython = ["3.12"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    return p


def test_pre_in_an_intent_file_takes_pre_releases_as_pip_compile_does(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """uv ignores ``--pre`` inside a requirements file (it warns, and lockgen would hide
    the warning): lockgen asks for pre-releases on uv's command line instead."""
    from lockgen.locks import pylock as lockfile

    p = _fresh_and_its_beta(tmp_path, indexes)
    p.write("in.in", "fresh\n")
    assert p.run("compile").exit_code == 0
    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None and lock.versions["fresh"] == "1.0"
    p.write("in.in", "--trusted-host pypi.example --pre\nfresh\n")  # wherever it stands on its line
    assert p.run("check").exit_code == 1  # stale: the file changed, and what it asks for with it
    assert p.run("compile", "-P", "fresh").exit_code == 0  # (its pin kept otherwise, as pip-compile keeps it)
    lock = lockfile.read(p.lock("py312-cpu"))
    assert lock is not None and lock.versions["fresh"] == "2.0b1"
    assert p.run("check").exit_code == 0


def test_a_lock_resolved_with_pre_passed_over_is_stale(
    tmp_path: Path, indexes, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """An earlier lockgen read ``--pre`` and passed it over; the same file's lock must not
    count as current now that ``--pre`` changes what is resolved."""
    import dataclasses

    from lockgen.project import intentfile

    p = _fresh_and_its_beta(tmp_path, indexes)
    p.write("in.in", "--pre\nfresh\n")
    read = intentfile.Reader.read
    with monkeypatch.context() as m:  # as it was read before: --pre seen, and passed over
        m.setattr(intentfile.Reader, "read", lambda self, rel: dataclasses.replace(read(self, rel), pre=False))
        assert p.run("compile").exit_code == 0
        assert p.run("check").exit_code == 0
    assert "is stale" in p.run("check").output


def test_a_patch_level_python_marker_in_an_intent_file_is_warned_of(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """uv resolves ``--python-version 3.X`` for 3.X.0: ``newpatch ; python_full_version >=
    "3.X.1"`` is left out of the lock altogether, which every 3.X.y installs. Silent, it
    looked like a lock that had all it asked for."""
    from conftest import MINOR
    from wheelmaker import make_wheel

    p = Project(tmp_path / "proj", indexes)
    links = p.root / "wheels"
    make_wheel(links, "newpatch", "1.0")
    p.write("lockgen.toml", f'inputs = ["in.in"]\npython = ["{MINOR}"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    p.write("in.in", f'helper\nnewpatch ; python_full_version >= "{MINOR}.1"\n')
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    assert "newpatch" not in versions(p.lock(f"py{MINOR.replace('.', '')}-cpu"))
    said = f"in.in:2: its marker is false on Python {MINOR}.0 and true on {MINOR}.1: a lock for {MINOR} is resolved"
    assert said in result.output, result.output
    for marker, warned in ((f'python_full_version > "{MINOR}.0"', True), (f'"{MINOR}.1" <= python_full_version', True),
                           (f'python_full_version < "{MINOR}.1"', False), (f'python_version >= "{MINOR}"', False),
                           (f'python_full_version >= "{MINOR}.0"', False),
                           (f'implementation_version >= "{MINOR}.1"', True)):  # fmt: skip
        p.write("in.in", f"helper\nnewpatch ; {marker}\n")
        assert ("its marker is false on Python" in p.run("compile").output) is warned, marker


def test_low_room_is_blamed_only_where_uv_was_killed_or_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With under 1 MiB free, "no version of dep==9.9" had been reported as the disk."""
    import shutil
    from collections import namedtuple

    from lockgen.compile import resolver
    from lockgen.exceptions import CommandError, Killed, LockgenError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(2 << 20, (2 << 20) - (600 << 10), 600 << 10))
    resolver._room(tmp_path, CommandError("× No solution found when resolving dependencies: dep==9.9"))
    for exc in (Killed("ended by SIGABRT"), CommandError("error: No space left on device (os error 28)")):
        with pytest.raises(LockgenError, match=r"cannot write to .*: 600 KiB left on the device"):
            resolver._room(tmp_path, exc)


def test_whether_a_marker_is_false_on_x_y_0_is_asked_of_the_variants_platform() -> None:
    from lockgen.project import lines, platforms

    windows, linux = platforms.parse("x86_64-pc-windows-msvc"), platforms.parse("x86_64-manylinux_2_28")
    assert windows is not None and linux is not None
    marker = 'python_full_version >= "3.11.1" and sys_platform == "win32"'
    assert lines.true_later(marker, "3.11", windows.markers()) == "3.11.1"
    assert lines.true_later(marker, "3.11", linux.markers()) is None
    assert lines.true_later('python_full_version > "3.11.4rc1"', "3.11", linux.markers()) == "3.11.4"


def test_the_patch_marker_check_uses_what_uv_uses_for_a_platform() -> None:
    """Windows on arm64 names its machine ARM64; uv gives a target's implementation_version
    as its X.Y.0 and no OS release or version. A marker on any of them was judged with
    the compiling machine's values."""
    from lockgen.project import lines, platforms

    arm = platforms.parse("aarch64-pc-windows-msvc")
    assert arm is not None and arm.markers()["platform_machine"] == "ARM64"
    assert lines.true_later('platform_machine == "ARM64" and python_full_version >= "3.12.1"', "3.12", arm.markers())
    assert lines.true_later('implementation_version >= "3.12.1"', "3.12", arm.markers()) == "3.12.1"
    host = 'python_full_version >= "3.11.1" and platform_release >= "5"'  # "" on every target, as uv has it
    assert lines.true_later(host, "3.11", arm.markers()) is None

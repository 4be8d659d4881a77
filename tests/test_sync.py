"""lockgen sync end to end: real virtual environments, real uv, fixture wheels."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MINOR, Project
from wheelmaker import make_wheel

from lockgen import uv
from lockgen.install import dists
from lockgen.locks import writer

TAG = "py" + MINOR.replace(".", "")
FAKE_TORCH = """
__version__ = "2.8.0+cu128"
class version:
    cuda = "12.8"
class cuda:
    @staticmethod
    def get_arch_list():
        return ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
"""


@pytest.fixture
def synced(project: Project) -> Project:
    links = project.root / "wheels"
    make_wheel(links, "torch", "2.8.0+cu128", payload=FAKE_TORCH)
    project.write(
        "lockgen.toml",
        f"""
        inputs = ["inputs/base.in"]
        python = ["{MINOR}"]
        index-url = "{project.indexes.pypi}"
        find-links = ["wheels"]

        [accelerators.cpu]

        [accelerators.cu128]
        cuda = "12.8"
        inputs = ["inputs/cu128.in"]
        """,
    )
    project.write("inputs/base.in", "tool\nhelper==1.0\n")
    project.write("inputs/cu128.in", "torch\n")
    assert project.run("compile").exit_code == 0
    return project


def installed(project: Project) -> dict[str, str]:
    venv = project.root / ".venv"
    return dists.versions(dists.scan(sorted((venv / "lib").glob("python*/site-packages"))))


def test_sync_creates_the_venv_and_installs_exactly_the_lock(synced: Project) -> None:
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert f"{TAG}-cpu: locks/pylock.{TAG}-cpu.toml" in result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}
    again = synced.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output


def test_a_lock_holding_a_package_forbidden_since_is_refused_by_sync_and_verify(synced: Project) -> None:
    """``forbid`` decides no resolution, so a name added to it leaves the lock current:
    sync must still not put that package on a machine, and verify not call it fine."""
    assert synced.run("sync").exit_code == 0
    before = installed(synced)
    config = synced.root / "lockgen.toml"
    config.write_text('forbid = ["helper"]\n' + config.read_text())
    for command in ("sync", "verify"):
        result = synced.run(command)
        assert result.exit_code == 1, result.output
        assert "forbid in lockgen.toml names: helper <- inputs/base.in; refusing it" in result.output
    assert installed(synced) == before


def test_a_lock_without_lockgens_table_is_refused_in_words(synced: Project) -> None:
    lock = synced.root / "locks" / f"pylock.{TAG}-cpu.toml"
    lock.write_text(lock.read_text().split("\n[tool.lockgen]", 1)[0] + "\n")
    for command in ("sync", "verify"):
        result = synced.run(command)
        assert result.exit_code == 2, result.output
        assert "no [tool.lockgen] table names its variant: not a lock lockgen wrote" in result.output
        assert "None" not in result.output


def test_a_package_whose_marker_is_false_here_is_neither_installed_nor_missed(synced: Project) -> None:
    """Resolving for 3.11, uv keeps ``python_full_version < '3.11.N'`` as a marker (redis
    locks async-timeout so); on a later 3.11 the installer skips it, and sync and verify
    must not count it missing."""
    micro = sys.version_info[2]
    if micro == 0:
        pytest.skip("needs an interpreter past x.y.0")
    make_wheel(synced.root / "wheels", "gated", "1.0", [f"numpy ; python_full_version < '{MINOR}.{micro}'"])
    synced.write("inputs/base.in", "tool\nhelper==1.0\ngated\n")
    assert synced.run("compile").exit_code == 0
    lock = synced.lock(f"{TAG}-cpu").read_text()
    assert "python_full_version <" in lock.split('name = "numpy"\n')[1].split("[[packages]]")[0]
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0", "gated": "1.0"}
    assert synced.run("verify").exit_code == 0
    again = synced.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output


def test_a_local_project_whose_marker_is_false_here_is_neither_installed_nor_missed(synced: Project) -> None:
    micro = sys.version_info[2]
    if micro == 0:
        pytest.skip("needs an interpreter past x.y.0")
    synced.write("mine/pyproject.toml", '[project]\nname = "mine"\nversion = "0.1"\n')
    synced.write("inputs/base.in", f"tool\nhelper==1.0\n./mine ; python_full_version < '{MINOR}.{micro}'\n")
    assert synced.run("compile").exit_code == 0
    assert "python_full_version <" in synced.lock(f"{TAG}-cpu").read_text().split('name = "mine"')[1]
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}
    verified = synced.run("verify")
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize("marker", ["extra == 'gpu'", "platform_release ~= 'x'"])
def test_a_hand_edited_marker_that_cannot_be_evaluated_is_one_error_naming_the_package(
    synced: Project, marker: str
) -> None:
    lock = synced.lock(f"{TAG}-cpu")
    text = lock.read_text()
    head, rest = text.split('name = "helper"\n', 1)
    lock.write_text(writer.sealed(head + f'name = "helper"\nmarker = "{marker}"\n' + rest))  # its seal renewed too
    for command in ("sync", "verify"):
        result = synced.run(command)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert str(lock) in result.output and "helper" in result.output and "cannot be evaluated" in result.output


def test_sync_removes_what_the_lock_lacks_and_keeps_the_installers_own(synced: Project, indexes) -> None:
    venv = synced.root / ".venv"
    subprocess.run([uv.binary(), "venv", str(venv), "--python", sys.executable, "--seed", "-q"], check=True)
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(Path(indexes.pypi[7:]).parent / "files/pypi"), "helper==2.0", "numpy==1.26.4"], check=True)  # fmt: skip
    seeds = {n: v for n, v in installed(synced).items() if n in ("pip", "setuptools", "wheel", "packaging")}
    assert "pip" in seeds
    dry = synced.run("sync", "--dry-run")
    assert dry.exit_code == 0
    assert "+ tool==1.0" in dry.output and "~ helper 2.0 -> 1.0" in dry.output and "- numpy==1.26.4" in dry.output
    assert installed(synced)["helper"] == "2.0"  # dry run changed nothing
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0", **seeds}


@pytest.mark.parametrize("damage", ["a file edited", "a RECORD row cut short"])
def test_a_damaged_pip_is_kept_and_named_never_removed_nor_called_in_sync(synced: Project, damage: str) -> None:
    """sync never changes the installer's own pip: not even one whose RECORD it cannot
    read. Nor may it say "already in sync" while verify fails on it."""
    venv = synced.root / ".venv"
    subprocess.run([uv.binary(), "venv", str(venv), "--python", sys.executable, "--seed", "-q"], check=True)
    first = synced.run("sync")
    assert first.exit_code == 0, first.output
    site = next((venv / "lib").glob("python*/site-packages"))
    # a new file, not the same one edited: uv links pip from its cache, which other tests share
    path, extra = (
        (site / "pip" / "__init__.py", "# edited\n")
        if damage == "a file edited"
        else (next(site.glob("pip-*.dist-info")) / "RECORD", "pip/x.py,sha256=abc\n")
    )
    text = path.read_text()
    path.unlink()
    path.write_text(text + extra)
    for _ in range(2):  # with nothing else to do, and with something
        result = synced.run("sync")
        assert result.exit_code == 1, result.output
        assert "already in sync" not in result.output
        assert "packages sync keeps as they are are damaged: pip:" in result.output
        assert (site / "pip" / "__init__.py").is_file() and "pip" in installed(synced)
        assert synced.run("verify").exit_code == 1
        synced.write("inputs/base.in", "tool\n")
        assert synced.run("compile").exit_code == 0


@pytest.mark.parametrize("damage", ["a file edited", "a RECORD row cut short"])
def test_an_installer_package_the_lock_pins_is_syncs_to_mend(synced: Project, damage: str) -> None:
    """What sync keeps untouched is the installer's own beside the lock. A lock that
    pins setuptools itself makes it sync's: damaged, it is reinstalled, not refused."""
    make_wheel(synced.root / "wheels", "setuptools", "99.0")
    synced.write("inputs/base.in", "tool\nhelper==1.0\nsetuptools==99.0\n")
    assert synced.run("compile").exit_code == 0
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv/lib").glob("python*/site-packages"))
    path, extra = (
        (site / "setuptools" / "__init__.py", "# edited\n")
        if damage == "a file edited"
        else (site / "setuptools-99.0.dist-info" / "RECORD", "setuptools/x.py,sha256=abc\n")
    )
    text = path.read_text()
    path.unlink()
    path.write_text(text + extra)
    assert synced.run("verify").exit_code == 1
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert "! setuptools reinstall" in result.output
    assert synced.run("verify").exit_code == 0
    if damage == "a file edited":
        assert (site / "setuptools" / "__init__.py").read_text() == text


def test_another_build_of_a_locked_version_installed_over_it_is_found_and_replaced(
    synced: Project, tmp_path: Path
) -> None:
    """A fork at the same version has a RECORD that agrees with its own files: only what
    sync recorded installing tells it apart."""
    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    fork = make_wheel(tmp_path / "fork", "helper", "1.0", files={"helper_fork.py": "HACKED = 1\n"})
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-deps",
                    "--reinstall", str(fork)], check=True)  # fmt: skip
    site = next((venv / "lib").glob("python*/site-packages"))
    assert (site / "helper_fork.py").is_file()
    for flags in ((), ("--hashes",)):
        checked = synced.run("verify", *flags)
        assert checked.exit_code == 1, checked.output
        assert "helper 1.0: its files are not those sync installed" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert "! helper reinstall" in result.output
    assert not (site / "helper_fork.py").exists()
    assert synced.run("verify", "--hashes").exit_code == 0
    assert "already in sync" in synced.run("sync").output


def _cli_wheel(folder: Path, build: str) -> Path:
    """A wheel with a console script (its launcher the installer's) and a binary of its
    own in ``.data/scripts`` (the build's: ruff, uv and ninja ship theirs so)."""
    return make_wheel(folder, "clitool", "1.0", files={
        "clitool-1.0.data/scripts/clitool-bin": f"\x7fELF {build}\n",
        "clitool-1.0.dist-info/entry_points.txt": "[console_scripts]\nclitool = clitool:main\n",
    })  # fmt: skip


def test_the_same_wheel_installed_again_by_pip_is_no_other_build(synced: Project) -> None:
    """pip writes its own INSTALLER file and entry-point launchers: those are the
    installer's, not the build's, and the same wheel reinstalled by pip is the lock's."""
    _cli_wheel(synced.root / "wheels", "build A")
    synced.write("inputs/base.in", "tool\nhelper==1.0\nclitool\n")
    assert synced.run("compile").exit_code == 0
    venv = synced.root / ".venv"
    subprocess.run([uv.binary(), "venv", str(venv), "--python", sys.executable, "--seed", "-q"], check=True)
    assert synced.run("sync").exit_code == 0
    assert (venv / "bin/clitool").is_file() and (venv / "bin/clitool-bin").is_file()
    for wheel in (next((synced.indexes.links.parent / "files" / "pypi").glob("helper-1.0-*.whl")),
                  synced.root / "wheels/clitool-1.0-py3-none-any.whl"):  # fmt: skip
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                        "--no-index", str(wheel)], check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})  # fmt: skip
    site = next((venv / "lib").glob("python*/site-packages"))
    assert (site / "clitool-1.0.dist-info" / "INSTALLER").read_text().strip() == "pip"
    checked = synced.run("verify", "--hashes")
    assert checked.exit_code == 0, checked.output
    again = synced.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output, again.output


def test_another_build_that_differs_only_outside_site_packages_is_found(synced: Project, tmp_path: Path) -> None:
    _cli_wheel(synced.root / "wheels", "build A")
    synced.write("inputs/base.in", "tool\nhelper==1.0\nclitool\n")
    assert synced.run("compile").exit_code == 0
    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    other = _cli_wheel(tmp_path / "b", "build B (musl)")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-deps",
                    "--reinstall", str(other)], check=True)  # fmt: skip
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "clitool 1.0: its files are not those sync installed" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0 and "! clitool reinstall" in result.output, result.output
    assert (venv / "bin/clitool-bin").read_text() == "\x7fELF build A\n"


WRONG = ([1], "4242x", {"a": [1]}, None, True, -1.5)


@pytest.mark.parametrize("kept", ["record.json", "journal.json"])
def test_what_lockgen_keeps_in_the_environment_edited_by_hand_is_never_a_crash(synced: Project, kept: str) -> None:
    """Every key of the record and the journal given each kind of wrong value: verify and
    sync answer (a journal is an unfinished sync, a record that makes no sense is none),
    and sync leaves the environment exactly the lock. ``"pid": "4242x"`` and
    ``"checked": [1]`` were internal errors, and no sync could mend the environment."""
    from lockgen.install import state

    assert synced.run("sync").exit_code == 0
    path = next((synced.root / ".venv/lib").glob("python*/site-packages")) / state.FOLDER / kept
    good = json.loads(path.read_text()) if path.exists() else {"lock": "locks/x.toml", "touched": ["helper"],
                                                               "files": [], "pid": 1}  # fmt: skip
    shapes = [{**good, key: wrong} for key in good for wrong in WRONG]
    if kept == "record.json":
        shapes += [{**good, "packages": {"helper": wrong}} for wrong in WRONG]
    shapes += [wrong for wrong in WRONG]  # the whole file
    deep = "[" * 100_000 + "]" * 100_000  # past what Python's json reads: RecursionError, not ValueError
    for shape in [*shapes, deep]:
        path.write_text(shape if shape is deep else json.dumps(shape))
        for command in ("verify", "sync"):
            result = synced.run(command)
            assert "internal error" not in result.output and result.exit_code in (0, 1), (shape, result.output)
        assert synced.run("verify").exit_code == 0, (shape, synced.run("verify").output)


def test_builds_recorded_by_an_older_lockgen_are_not_taken_for_others(synced: Project) -> None:
    """How a build is told apart changed once (installer-written files left out): a
    record from before says nothing either way, and is written anew, not obeyed."""
    from lockgen.install import state

    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv/lib").glob("python*/site-packages"))
    path = site / state.FOLDER / "record.json"
    data = json.loads(path.read_text())
    assert data["installed"] and all(v.startswith("2:") for v in data["installed"].values())
    data["installed"] = {name: "0" * 64 for name in data["installed"]}  # an older scheme's
    path.write_text(json.dumps(data))
    again = synced.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output, again.output
    assert all(v.startswith("2:") for v in json.loads(path.read_text())["installed"].values())


def test_a_package_installed_twice_is_named_and_mended(synced: Project, tmp_path: Path) -> None:
    """Two dist-infos of one name (an install into the same folder by another tool, a
    kill between writing one and removing the other): which version imports is luck."""
    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    other = tmp_path / "other"
    wheel = make_wheel(tmp_path / "w", "helper", "2.0")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--target", str(other),
                    "--no-deps", str(wheel)], check=True)  # fmt: skip
    site = next((venv / "lib").glob("python*/site-packages"))
    shutil.copytree(other / "helper-2.0.dist-info", site / "helper-2.0.dist-info")
    assert {p.name for p in site.glob("helper-*.dist-info")} == {"helper-1.0.dist-info", "helper-2.0.dist-info"}
    checked = synced.run("verify")
    assert checked.exit_code == 1
    assert "helper: installed more than once: 1.0 (helper-1.0.dist-info), 2.0 (helper-2.0.dist-info)" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert {p.name for p in site.glob("helper-*.dist-info")} == {"helper-1.0.dist-info"}
    assert synced.run("verify", "--hashes").exit_code == 0


def _site(project: Project) -> Path:
    return next((project.root / ".venv" / "lib").glob("python*/site-packages"))


def _edit_metadata_version(dist_info: Path, version: str) -> None:
    """As ``sed -i`` does it: a new file in its place (uv's cached copy stays whole)."""
    meta = dist_info / "METADATA"
    text = re.sub(r"(?m)^Version: .*$", f"Version: {version}", meta.read_text())
    meta.unlink()
    meta.write_text(text)


def test_a_version_edited_in_metadata_is_mended_though_uv_reads_the_folder_name(synced: Project) -> None:
    """pip and imports read 1.1 from METADATA; uv reads 1.0 from the folder's name and
    would see nothing to do: sync must make uv install it again, not fail on every run."""
    assert synced.run("sync").exit_code == 0
    _edit_metadata_version(_site(synced) / "helper-1.0.dist-info", "1.1")
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "helper-1.0.dist-info says version 1.1 in its METADATA" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced)["helper"] == "1.0"
    assert synced.run("verify", "--hashes").exit_code == 0


def test_a_stale_copy_of_a_dist_info_is_mended_whichever_version_it_names(synced: Project) -> None:
    """A copy of helper's dist-info under an older version's name (RECORD and all): uv
    would reinstall one of the two and leave the other, so every sync would fail."""
    assert synced.run("sync").exit_code == 0
    site = _site(synced)
    shutil.copytree(site / "helper-1.0.dist-info", site / "helper-0.9.dist-info")
    _edit_metadata_version(site / "helper-0.9.dist-info", "0.9")
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "helper: installed more than once" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert {p.name for p in site.glob("helper-*.dist-info")} == {"helper-1.0.dist-info"}
    assert synced.run("verify", "--hashes").exit_code == 0
    assert "already in sync" in synced.run("sync").output


def test_another_version_installed_over_the_lock_is_one_line_not_also_another_build(
    synced: Project, tmp_path: Path
) -> None:
    assert synced.run("sync").exit_code == 0
    wheel = make_wheel(tmp_path / "w", "helper", "2.0")
    venv = synced.root / ".venv"
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), str(wheel)], check=True)
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "helper is 2.0, the lock has 1.0" in checked.output, checked.output
    assert "another build" not in checked.output, checked.output


def test_a_difference_no_sync_moved_is_not_promised_a_repair(tmp_path: Path) -> None:
    """ "The next sync repairs it" only where this sync changed something; what it did
    not move, the next one would not either. Starting afresh is offered for a venv of
    lockgen's own, never for an overlay or an interpreter's own prefix."""
    from lockgen.install.environment import Target
    from lockgen.install.sync import _still_differs

    venv = Target(prefix=tmp_path / "venv", python="3.12.1", source="--python", exists=True)
    stuck = str(_still_differs(["helper is 1.1, the lock has 1.0"], ["helper is 1.1, the lock has 1.0"], venv,
                               overlay=False))  # fmt: skip
    assert "could not mend" in stuck and "next lockgen sync repairs" not in stuck
    assert f"remove {tmp_path / 'venv'}" in stuck
    overlay = str(_still_differs(["x"], ["x"], venv, overlay=True))
    assert "could not mend" in overlay and "remove" not in overlay
    moved = str(_still_differs(["tool: a file is missing"], ["helper is 1.1, the lock has 1.0"], venv, overlay=False))
    assert "next lockgen sync repairs it" in moved


def test_an_uninstall_cut_short_by_the_file_system_is_never_called_unchanged(synced: Project, indexes) -> None:  # type: ignore[no-untyped-def]
    """uv removes a package's metadata, then meets a file it may not remove: the versions
    read from folder names look as before, but the environment is half-changed."""
    from test_bad_inputs import immutable

    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(Path(indexes.pypi[7:]).parent / "files/pypi"), "numpy==1.26.4"], check=True)  # fmt: skip
    site = next((venv / "lib").glob("python*/site-packages"))
    stuck = next(p for p in (site / "numpy").rglob("*") if p.is_file())
    with immutable(stuck):
        result = synced.run("sync")
        assert result.exit_code == 1, result.output
        assert "the environment is unchanged" not in result.output
        assert "stays marked" in result.output
        checked = synced.run("verify")
        assert checked.exit_code == 1 and "did not finish" in checked.output
    assert synced.run("sync").exit_code == 0
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}


@pytest.mark.parametrize("left", [("CACHEDIR.TAG",), ("CACHEDIR.TAG", "pyvenv.cfg")])
def test_a_venv_a_killed_first_sync_was_making_is_made_again(synced: Project, left: tuple[str, ...]) -> None:
    """Killed while uv makes .venv, a first sync leaves a folder with some of a venv's
    files in it; sync marks it as its own before uv starts, so the next one starts over.
    A .venv lockgen did not start stays refused."""
    from lockgen.install.environment import CREATING

    venv = synced.root / ".venv"
    venv.mkdir()
    for name in left:
        (venv / name).write_text("home = /nowhere\n" if name == "pyvenv.cfg" else "")
    (venv / "CACHEDIR.TAG").write_text("")
    (venv / CREATING).write_text("12345\n")
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}
    assert not (venv / CREATING).exists()
    assert synced.run("verify").exit_code == 0
    other = synced.root / "other"
    other.mkdir()
    (other / "CACHEDIR.TAG").write_text("")
    venv.rename(synced.root / "made")
    other.rename(venv)
    refused = synced.run("sync")
    assert refused.exit_code == 2 and "not a virtual environment" in refused.output


def test_an_empty_venv_folder_is_where_sync_makes_the_environment(synced: Project) -> None:
    """A first sync makes ``.venv`` empty before it locks it; killed right then, it
    leaves that empty folder (as ``mkdir .venv`` by hand does). The next sync makes
    the environment there, and select and verify do not call the folder foreign."""
    venv = synced.root / ".venv"
    venv.mkdir()
    assert synced.run("select").exit_code == 0
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "not a virtual environment" not in checked.output, checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}
    assert synced.run("verify").exit_code == 0


def test_a_local_project_syncs_verifies_and_stays_in_sync(project: Project) -> None:
    """A local project has no version in its lock (PEP 751 lets a source tree go
    without): whatever version it builds as is the lock's."""
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "mine", "mine", "0.3", ["helper"])
    project.write("lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n'
                                  f'index-url = "{project.indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    project.write("inputs/base.in", "./libs/mine\n")
    compiled = project.run("compile")
    assert compiled.exit_code == 0, compiled.output
    result = project.run("sync")
    assert result.exit_code == 0, result.output
    assert "+ mine (a local project)" in result.output and "mine==" not in result.output
    why = project.run("why", "mine")
    assert why.exit_code == 0 and f"py{MINOR.replace('.', '')}-cpu: mine (a local project)" in why.output, why.output
    assert installed(project) == {"mine": "0.3", "helper": "2.0"}
    assert project.run("verify").exit_code == 0
    again = project.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output, again.output
    # its version bumped where it states it: the lock goes stale, and once compiled, sync installs 0.4
    make_local_project(project.root / "libs" / "mine", "mine", "0.4", ["helper"])
    assert project.run("sync").exit_code == 1  # stale
    assert project.run("compile").exit_code == 0
    assert project.run("verify").exit_code == 1
    bumped = project.run("sync")
    assert bumped.exit_code == 0, bumped.output
    assert "! mine reinstall: its source changed since sync built it" in bumped.output
    assert installed(project) == {"mine": "0.4", "helper": "2.0"}
    assert "already in sync" in project.run("sync").output


def _synced_local_project(project: Project, cache_key: str, files: dict[str, str]) -> Path:
    """libs/mine, whose ``[tool.uv] cache-keys`` name ``cache_key`` too, compiled and synced."""
    from wheelmaker import make_local_project

    folder = make_local_project(project.root / "libs" / "mine", "mine", "0.3", ["helper"])
    with (folder / "pyproject.toml").open("a") as f:
        f.write(f'\n[tool.uv]\ncache-keys = [{{ file = "pyproject.toml" }}, {{ file = "{cache_key}" }}]\n')
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    project.write("lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n'
                                  f'index-url = "{project.indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    project.write("inputs/base.in", "./libs/mine\n")
    assert project.run("compile").exit_code == 0
    assert project.run("sync").exit_code == 0
    return folder


def test_a_source_file_a_local_projects_cache_keys_name_makes_sync_build_it_again(project: Project) -> None:
    """``[tool.uv] cache-keys`` globs name what makes uv build the project again: sync
    does so, while the lock (whose resolution a source file does not change) stays current."""
    folder = _synced_local_project(project, "src/*.py", {"src/mine.py": "X = 1\n"})
    (folder / "src/mine.py").write_text("X = 2\n")
    assert project.run("check").exit_code == 0  # the lock is current
    assert project.run("verify").exit_code == 1
    again = project.run("sync")
    assert again.exit_code == 0 and "! mine reinstall: its source changed since sync built it" in again.output, (
        again.output
    )
    assert "already in sync" in project.run("sync").output


def test_a_source_edited_while_sync_builds_it_is_built_again_next_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record holds the sources as they were when the build began: an edit saved
    while uv builds is a change the next sync sees, not one it was told it installed."""
    from lockgen.install import installer

    folder = _synced_local_project(project, "src/*.py", {"src/mine.py": "X = 1\n"})
    (folder / "src/mine.py").write_text("X = 2\n")
    install = installer.install

    def edited_meanwhile(*args: object, **kwargs: object) -> None:
        install(*args, **kwargs)  # type: ignore[arg-type]
        (folder / "src/mine.py").write_text("X = 3\n")  # saved as the build ends

    with monkeypatch.context() as m:
        m.setattr(installer, "install", edited_meanwhile)
        result = project.run("sync")
        assert result.exit_code == 0, result.output
    checked = project.run("verify")
    assert checked.exit_code == 1 and "mine: its source changed since sync built it" in checked.output, checked.output
    again = project.run("sync")
    assert again.exit_code == 0 and "! mine reinstall" in again.output, again.output


def test_ctrl_c_while_the_environment_is_made_leaves_none(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from lockgen import uv
    from lockgen.install import installer

    assert project.run("compile").exit_code == 0
    run = uv.run

    def interrupted(args: list[str], *rest: object, **kwargs: object) -> object:
        if args[0] == "venv":
            run(args, *rest, **kwargs)  # type: ignore[arg-type]
            raise KeyboardInterrupt
        return run(args, *rest, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(installer.uv, "run", interrupted)
    result = project.run("sync")
    assert result.exit_code != 0
    assert not (project.root / ".venv").exists()


def test_a_local_projects_sources_recorded_by_an_older_lockgen_are_not_held_against_it(project: Project) -> None:
    """Which files count as a local project's changed once (cache-keys, setuptools' dynamic
    files): an older record's hash covered fewer, and must not read as a change."""
    from lockgen.install import state

    _synced_local_project(project, "VERSION", {"VERSION": "0.3\n"})
    path = next((project.root / ".venv/lib").glob("python*/site-packages")) / state.FOLDER / "record.json"
    data = json.loads(path.read_text())
    assert data["sources"]["mine"].startswith("2:")
    data["sources"] = {"mine": "0" * 64}  # an older scheme's, over fewer files
    path.write_text(json.dumps(data))
    assert project.run("verify").exit_code == 0
    again = project.run("sync")
    assert again.exit_code == 0 and "already in sync" in again.output, again.output
    assert json.loads(path.read_text())["sources"]["mine"].startswith("2:")


def test_a_tampered_hash_is_refused_and_the_environment_is_unchanged(synced: Project) -> None:
    assert synced.run("sync").exit_code == 0
    before = installed(synced)
    synced.write("inputs/base.in", "tool\nhelper==2.0\n")
    assert synced.run("compile").exit_code == 0
    lock = synced.lock(f"{TAG}-cpu")
    text = lock.read_text()
    start = text.index('name = "helper"')
    sha = text.index('sha256 = "', start) + len('sha256 = "')
    tampered = text[:sha] + ("0" if text[sha] != "0" else "1") + text[sha + 1 :]
    lock.write_text(tampered)
    result = synced.run("sync")  # edited by hand: its seal says so before anything is fetched
    assert result.exit_code == 1
    assert "edited since lockgen wrote it" in result.output and "Hash mismatch" not in result.output
    assert installed(synced) == before
    lock.write_text(writer.sealed(tampered))  # the seal renewed too: the hash itself still guards the install
    result = synced.run("sync")
    assert result.exit_code == 1
    assert "Hash mismatch" in result.output and "environment is unchanged" in result.output
    assert installed(synced) == before
    # uv's switch for installing what no hash checked: withheld from uv, and said so
    result = synced.run("sync", env={"UV_NO_VERIFY_HASHES": "1", "UV_OFFLINE": "1"})
    assert result.exit_code == 1, result.output
    assert "Hash mismatch" in result.output and installed(synced) == before
    assert "warning: ignored UV_NO_VERIFY_HASHES: the lock decides what uv installs" in result.output  # not UV_OFFLINE


@pytest.mark.parametrize("same_size", [True, False])
def test_a_file_edited_through_a_link_into_uvs_cache_fails_the_next_first_sync(
    synced: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_size: bool
) -> None:
    """uv links files from its cache: a file edited in place in one environment is
    edited in the cache, and a fresh environment got it. Of the same size, sync and
    verify passed it; of another, the failed first sync left its .venv behind."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "own-cache"))  # never the session's shared cache
    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    site = next((venv / "lib").glob("python*/site-packages"))
    _, top = _tool_record(site)
    module = site / top / "__init__.py"
    if module.stat().st_nlink < 2:
        pytest.skip("uv copied the files here rather than linking them")
    text = module.read_bytes()
    an_hour_ago = time.time() - 3600  # when uv unpacked the wheel into its cache
    for path in (*site.glob("tool*/**/*"), *site.glob("tool*/*")):
        if path.is_file():
            os.utime(path, (an_hour_ago, an_hour_ago))
    with module.open("r+b") as f:  # in place: the cache's copy is this very file
        f.write(b"#" if same_size else text + b"# debugging\n")
    shutil.rmtree(venv)
    result = synced.run("sync")
    assert result.exit_code == 1, result.output
    assert f"tool: {top}/__init__.py " in result.output and "uv cache clean NAME" in result.output, result.output
    assert "no environment was left behind" in result.output and not venv.exists()


@pytest.mark.parametrize("now", ["gone", "another minor", "a shim"])
def test_an_environment_whose_python_moved_on_is_no_environment_to_call_in_sync(
    synced: Project, tmp_path: Path, now: str
) -> None:
    """Its python uninstalled, or upgraded to another minor version: no python runs the
    packages, though every file and pyvenv.cfg agree with the lock. verify said ok."""
    assert synced.run("sync").exit_code == 0
    link = synced.root / ".venv" / "bin" / "python"
    if not link.is_symlink():
        pytest.skip("this venv's python is a copy, not a link")
    other = tmp_path / ("python3.99" if now != "a shim" else "python")
    if now == "another minor":
        other.write_bytes(b"\x7fELF")  # an interpreter of another version, as far as a look at it tells
        other.chmod(0o755)
    if now == "a shim":  # as pyenv's: uv would install into the environment of what it runs
        other.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        other.chmod(0o755)
    link.unlink()
    link.symlink_to(other)
    for command in ("verify", "sync"):
        result = synced.run(command)
        assert result.exit_code == 2, result.output
        said = {"gone": "whose python is gone", "another minor": "'s python is now 3.99",
                "a shim": "'s python is a script"}[now]  # fmt: skip
        assert said in result.output and "make it again (remove " in result.output, result.output


def test_a_hash_changed_in_place_is_refused_and_the_environment_is_not_marked(synced: Project) -> None:
    """The same version, another sha256 (and the seal renewed): sync plans to reinstall
    helper (another build), uv refuses the hash before changing a file, and the
    environment is as it was. It was left marked half-changed, and verify failed on it."""
    assert synced.run("sync").exit_code == 0
    before = installed(synced)
    lock = synced.lock(f"{TAG}-cpu")
    text = lock.read_text()
    sha = text.index('sha256 = "', text.index('name = "helper"')) + len('sha256 = "')
    lock.write_text(writer.sealed(text[:sha] + ("0" if text[sha] != "0" else "1") + text[sha + 1 :]))
    result = synced.run("sync")
    assert result.exit_code == 1
    assert "Hash mismatch" in result.output and "environment is unchanged" in result.output, result.output
    assert installed(synced) == before
    lock.write_text(text)
    checked = synced.run("verify")
    assert checked.exit_code == 0, checked.output


def test_sync_hashes_mends_a_file_changed_in_place(synced: Project) -> None:
    """A byte changed, the size kept: only the hashes see it. Plain sync says so in its
    answer (it compared sizes); sync --hashes reinstalls the package."""
    assert synced.run("sync").exit_code == 0
    module = next((synced.root / ".venv").glob("lib/python*/site-packages/tool/__init__.py"))
    text = module.read_text()
    module.write_text(text.replace("1.0", "6.6"))
    assert synced.run("verify").exit_code == 0
    assert synced.run("verify", "--hashes").exit_code == 1
    plain = synced.run("sync")
    assert plain.exit_code == 0 and "(sizes; --hashes compares every byte)" in plain.output
    result = synced.run("sync", "--hashes")
    assert result.exit_code == 0, result.output
    assert "! tool reinstall: its files do not match its RECORD" in result.output
    assert module.read_text() == text
    again = synced.run("sync", "--hashes")
    assert "already in sync" in again.output and "(sizes and sha256)" in again.output
    assert synced.run("verify", "--hashes").exit_code == 0


def test_ctrl_c_in_a_first_sync_leaves_no_environment_behind(synced: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from lockgen.install import installer

    real = installer.install

    def interrupted(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # as SIGINT lands while uv is still at work

    monkeypatch.setattr(installer, "install", interrupted)
    result = synced.run("sync")
    assert result.exit_code == 130 and "interrupted" in result.output
    assert not (synced.root / ".venv").exists()


def test_a_record_cut_short_mid_row_is_repaired(synced: Project) -> None:
    """A kill while the installer writes RECORD leaves a last row of fewer fields,
    which uv refuses to read (so it cannot reinstall the package): lockgen removes that
    distribution itself and installs it again."""
    assert synced.run("sync").exit_code == 0
    record = next((synced.root / ".venv").glob("lib/python*/site-packages/tool-1.0.dist-info/RECORD"))
    text = record.read_text()
    record.write_text(text[: text.index(",", text.index("\n") + 1)])  # the second row, cut after its path
    result = synced.run("verify")
    assert result.exit_code == 1 and "tool: RECORD is malformed at row 2 (1 fields, not 3)" in result.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert record.read_text() == text
    assert synced.run("verify", "--hashes").exit_code == 0


def test_an_environment_pip_installed_is_installed_once_more_then_verifies(project: Project) -> None:
    """pip compiles bytecode after unpacking, rewriting the ``.pyc`` a wheel ships (as
    numpy's does) and listing it in RECORD twice: that is no damage."""
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    make_wheel(project.root / "wheels", "shipspyc", "1.0", files={f"shipspyc/__pycache__/__init__.{tag}.pyc": "stale"})
    project.write("lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n'
                                  f'index-url = "{project.indexes.pypi}"\nfind-links = ["wheels"]\n[accelerators.cpu]\n')  # fmt: skip
    project.write("inputs/base.in", "shipspyc\n")
    assert project.run("compile").exit_code == 0
    venv = project.root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
                    str(project.root / "wheels"), "shipspyc==1.0"], check=True)  # fmt: skip
    pyc = next(venv.glob(f"lib/python*/site-packages/shipspyc/__pycache__/__init__.{tag}.pyc"))
    assert pyc.read_bytes() != b"stale", "pip compiled over the shipped bytecode"
    result = project.run("verify")  # which build pip installed no record says; no file is amiss
    assert result.exit_code == 1 and "1 problem(s)" in result.output, result.output
    assert "no record of what lockgen sync installed" in result.output and "__pycache__" not in result.output
    result = project.run("sync")
    assert result.exit_code == 0 and "! shipspyc reinstall: no record says which build" in result.output, result.output
    assert project.run("verify").exit_code == 0
    assert "already in sync" in project.run("sync").output


def test_with_its_record_gone_another_build_of_a_locked_version_is_never_adopted(synced: Project) -> None:
    """The record deleted (as in any environment lockgen did not make), another build
    installed over a locked package passed verify, and a no-op sync wrote a new record
    from it: never flagged again, even by --hashes."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    (site / ".lockgen" / "record.json").unlink()
    _, top = _tool_record(site)
    other = make_wheel(synced.root / "elsewhere", "tool", "1.0", payload="BUILD = 'another'\n")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(synced.root / ".venv"), "--reinstall",
                    "--no-deps", str(other)], check=True)  # fmt: skip
    checked = synced.run("verify", "--hashes")
    assert checked.exit_code == 1 and "no record of what lockgen sync installed" in checked.output, checked.output
    result = synced.run("sync")
    assert result.exit_code == 0 and "! tool reinstall: no record says which build" in result.output, result.output
    assert "another" not in (site / top / "__init__.py").read_text()
    assert synced.run("verify", "--hashes").exit_code == 0


def test_a_failed_first_sync_leaves_no_environment_behind(synced: Project) -> None:
    lock = synced.lock(f"{TAG}-cpu")
    text = lock.read_text()
    at = text.index('sha256 = "') + len('sha256 = "')
    lock.write_text(writer.sealed(text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]))
    result = synced.run("sync")
    assert result.exit_code == 1 and "Hash mismatch" in result.output
    assert not (synced.root / ".venv").exists()


def test_a_stale_lock_is_refused_unless_allowed(synced: Project) -> None:
    synced.write("inputs/base.in", "tool\nhelper==1.0\nnumpy\n")
    result = synced.run("sync")
    assert result.exit_code == 1
    assert "stale" in result.output and "--allow-stale" in result.output
    assert not (synced.root / ".venv").exists()
    result = synced.run("sync", "--allow-stale")
    assert result.exit_code == 0
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"}
    assert f"warning: {synced.lock(f'{TAG}-cpu')}: stale" in result.output
    verified = synced.run("verify")  # the environment is the lock; the lock is behind its inputs
    assert verified.exit_code == 0 and f"warning: {synced.lock(f'{TAG}-cpu')}: stale" in verified.output


def test_dry_run_changes_nothing(synced: Project) -> None:
    result = synced.run("sync", "--dry-run")
    assert result.exit_code == 0
    assert "+ helper==1.0" in result.output and "would change: +2 ~0 !0 -0" in result.output
    assert not (synced.root / ".venv").exists()


def test_a_no_op_sync_does_not_call_uv(synced: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert synced.run("sync").exit_code == 0
    monkeypatch.setattr(uv, "binary", lambda: "/nonexistent/uv")
    result = synced.run("sync")
    assert result.exit_code == 0 and "already in sync" in result.output


def test_never_installs_into_lockgens_own_environment_or_a_system_python(
    synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgen.install import installer

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("sync tried to change a real interpreter's packages")

    for name in ("install", "uninstall", "create"):  # whatever regresses, this machine's python stays whole
        monkeypatch.setattr(installer, name, never)
    result = synced.run("sync", "--python", sys.executable)
    assert result.exit_code == 2
    assert "lockgen's own environment" in result.output
    system = Path(sys.base_prefix) / "bin" / "python3"
    if sys.prefix == sys.base_prefix or not system.exists():
        pytest.skip("the tests are not running in a virtual environment")
    result = synced.run("sync", "--python", str(system))
    assert result.exit_code == 2 and "is not a virtual environment" in result.output


def test_a_sync_cleans_only_its_own_environments_staging_folders(tmp_path: Path) -> None:
    """Envs ``venv`` and ``venv-2`` side by side: a sync of the first must not take the
    second's live staging folder for a leftover of its own."""
    import tempfile

    from lockgen import files
    from lockgen.install import kernels
    from lockgen.install.environment import Target

    first, second = (
        Target(prefix=tmp_path / n, python="3.12.0", source="test", exists=True) for n in ("venv", "venv-2")
    )
    live = Path(tempfile.mkdtemp(prefix=kernels.stage_prefix(second), dir=tmp_path))
    left = Path(tempfile.mkdtemp(prefix=kernels.stage_prefix(first), dir=tmp_path))
    files.clean_stale(tmp_path, prefix=kernels.stage_prefix(first))
    assert live.is_dir() and not left.exists()


def test_torch_build_must_cover_every_visible_gpu(synced: Project) -> None:
    """The GTX 1080 Ti case: CUDA 12.8's table allows 6.1, this torch build has no sm_61."""
    gpu = {"LOCKGEN_CUDA": "12.8"}
    result = synced.run("sync", env={**gpu, "LOCKGEN_GPU_ARCHS": "6.1"})
    assert result.exit_code == 1
    assert f"{TAG}-cu128" in result.output
    assert (
        "torch 2.8.0+cu128 was built for sm_70" in result.output
        and "GPU 0" in result.output
        and "(6.1)" in result.output
    )
    assert not (synced.root / ".venv").exists(), "checked in a staging environment, the target is untouched"
    assert not list(synced.root.glob(".lockgen-stage-*"))
    result = synced.run("sync", env={**gpu, "LOCKGEN_GPU_ARCHS": "8.9"})  # sm_86 code runs on 8.9
    assert result.exit_code == 0, result.output
    assert installed(synced)["torch"] == "2.8.0+cu128"


def test_variant_flag_picks_the_lock(synced: Project) -> None:
    result = synced.run("sync", "--variant", f"{TAG}-cu128", "--dry-run")
    assert result.exit_code == 0 and "+ torch==2.8.0+cu128" in result.output


@pytest.mark.parametrize(
    ("archs", "capability", "covered"),
    [
        (["sm_80", "sm_90"], "8.6", True),
        (["sm_80", "sm_90"], "7.5", False),
        (["sm_90a"], "9.0", True),
        (["sm_90a"], "9.1", False),
        (["sm_70", "compute_70"], "12.0", True),
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "6.0", False),  # the H100's torch 2.11
        (["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "9.0", True),
    ],
)
def test_arch_list_coverage(archs: list[str], capability: str, covered: bool) -> None:
    from lockgen.install.kernels import covers

    assert covers(archs, capability) is covered


def test_an_empty_lock_still_makes_the_environment(synced: Project) -> None:
    synced.write("inputs/base.in", "# nothing yet\n")
    assert synced.run("compile").exit_code == 0
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert (synced.root / ".venv" / "pyvenv.cfg").is_file()
    assert installed(synced) == {}


def test_a_cpu_torch_on_a_cuda_variant_is_refused(synced: Project) -> None:
    """pip's classic: the CUDA variant's torch turned out to be a CPU build."""
    links = synced.root / "wheels"
    for old in links.glob("torch-*"):
        old.unlink()
    make_wheel(links, "torch", "2.8.0+cu128", payload='__version__ = "2.8.0+cpu"\nclass version:\n    cuda = None\n')
    synced.write("inputs/cu128.in", "torch\n# rebuilt\n")
    assert synced.run("compile", "-U").exit_code == 0
    result = synced.run("sync", env={"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "9.0"})
    assert result.exit_code == 1
    assert "torch 2.8.0+cpu is a CPU build" in result.output
    assert not (synced.root / ".venv").exists()


def _tool_record(site: Path) -> tuple[Path, str]:
    """tool's RECORD in ``site``, and the top-level folder it installs."""
    record = next(site.glob("tool-*.dist-info")) / "RECORD"
    top = next(row.split("/")[0] for row in record.read_text().splitlines() if "/" in row and ".dist-info" not in row)
    return record, top


def test_the_torch_probe_output_seen_on_the_h100() -> None:
    """What TORCH_ARCHS printed there, GPU visible or hidden, judged as sync judges it."""
    from lockgen.install.kernels import covers

    fixtures = Path(__file__).parent / "fixtures" / "h100"
    seen = [json.loads((fixtures / f"torch-archs-{k}.json").read_text()) for k in ("visible", "hidden")]
    assert seen[0] == seen[1], "the build's arch flags do not depend on a visible GPU"
    version, built_for, archs = seen[0]
    assert (version, built_for) == ("2.11.0+cu130", "13.0")
    assert covers(archs, "9.0") and covers(archs, "8.9") and not covers(archs, "7.0")


def test_files_no_package_installed_fail_verify_and_sync_removes_them(synced: Project) -> None:
    """verify compared RECORD with the files it names, so a module dropped into a locked
    package, or a .pth or sitecustomize.py at the top of site-packages (code Python runs
    at every start), passed verify and sync said "already in sync". Both see them now,
    and sync removes them; bytecode caches and the venv's own hook are nobody's concern."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    _, top = _tool_record(site)
    (site / "usercustomize").mkdir()  # imported at start as a package, too
    planted = [
        site / top / "extra.py",
        site / "evil.pth",
        site / "sitecustomize.py",
        site / "usercustomize" / "__init__.py",
    ]
    for path in planted:
        path.write_text("import os\n")
    (site / "_virtualenv.pth").write_text("import _virtualenv\n")  # as virtualenv (and older uv) make a venv
    (site / top / "__pycache__").mkdir(exist_ok=True)
    (site / top / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    checked = synced.run("verify")
    assert checked.exit_code == 1, checked.output
    assert (
        f"tool: 1 file(s) of code in its folders that no RECORD claims: site-packages/{top}/extra.py" in checked.output
    )
    assert "site-packages/evil.pth: no package installed it" in checked.output
    assert "site-packages/sitecustomize.py: no package installed it" in checked.output
    assert "_virtualenv" not in checked.output and "__pycache__" not in checked.output
    planned = synced.run("sync", "--dry-run")
    assert f"- site-packages/{top}/extra.py (no package's RECORD claims it)" in planned.output, planned.output
    assert all(path.exists() for path in planted)
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in planted)
    assert (site / "_virtualenv.pth").exists()
    again = synced.run("sync")
    assert "already in sync" in again.output, again.output
    assert synced.run("verify", "--hashes").exit_code == 0


def test_a_sourceless_bytecode_file_in_a_package_is_code_no_record_claims(synced: Project) -> None:
    """``import tool.evil`` runs a ``tool/evil.pyc`` with no ``evil.py`` beside it; verify
    passed it, and sync kept it."""
    import py_compile

    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    _, top = _tool_record(site)
    source = synced.root / "evil.py"
    source.write_text("import os\n")
    planted = site / top / "evil.pyc"
    py_compile.compile(str(source), cfile=str(planted))
    checked = synced.run("verify")
    assert checked.exit_code == 1, checked.output
    assert f"that no RECORD claims: site-packages/{top}/evil.pyc" in checked.output
    result = synced.run("sync")
    assert result.exit_code == 0 and not planted.exists(), result.output
    assert synced.run("verify").exit_code == 0


def test_a_bare_egg_info_uv_cannot_uninstall_is_removed_by_sync(synced: Project) -> None:
    """An old ``setup.py install`` leaves an .egg-info with no top_level.txt; uv cannot
    uninstall it, so every sync failed ("the environment is unchanged") and none said
    how to mend it. sync removes it itself, as it does other metadata uv cannot read."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    egg = site / "stray-2.0.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: stray\nVersion: 2.0\n")
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "stray" in checked.output, checked.output
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert not egg.exists()
    assert synced.run("verify").exit_code == 0


def test_strays_are_code_resolved_paths_and_only_where_every_record_is_readable(
    synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strays check must never call a package's own files strays: named through
    ``..`` (an environment given as scripts/../.venv), every file once seemed no one's,
    and sync deleted them all. Data a package writes into its folder at run time (a
    downloaded dictionary) is not judged; where one distribution's RECORD is missing,
    nothing is; and a failed install removes nothing (the environment is unchanged)."""
    from lockgen.exceptions import CommandError
    from lockgen.install import installer

    assert synced.run("sync").exit_code == 0
    venv = synced.root / ".venv"
    site = next((venv / "lib").glob("python*/site-packages"))
    (synced.root / "scripts").mkdir()
    roundabout = ["--python", str(synced.root / "scripts" / ".." / ".venv")]
    checked = synced.run("verify", *roundabout)
    assert checked.exit_code == 0, checked.output
    assert synced.run("sync", *roundabout).exit_code == 0
    assert installed(synced) == {"tool": "1.0", "helper": "1.0"} and synced.run("verify", "--hashes").exit_code == 0
    record, top = _tool_record(site)
    (site / top / "dicdir").mkdir()
    (site / top / "dicdir" / "sys.dic").write_bytes(b"\0" * 64)  # what a package downloads for itself
    (site / top / "gen.py").write_text("x = 1\n")  # claimed by an absolute row, as PEP 376 allows
    (site / "tool_editable.pth").write_text(str(synced.root) + "\n")
    rows = record.read_text() + f"{site / top / 'gen.py'},,\n{site / 'tool_editable.pth'},,\n"
    record.write_text(rows)
    assert synced.run("verify").exit_code == 0
    (site / "evil.pth").write_text("import os\n")
    real = installer.install
    monkeypatch.setattr(installer, "install", lambda *a, **k: (_ for _ in ()).throw(CommandError("no network")))
    failed = synced.run("sync")
    assert failed.exit_code == 1 and "unchanged" in failed.output, failed.output
    assert (site / "evil.pth").exists()
    monkeypatch.setattr(installer, "install", real)
    (next(site.glob("helper-*.dist-info")) / "RECORD").unlink()
    blind = synced.run("verify")
    assert "evil.pth" not in blind.output, blind.output
    assert (site / top / "dicdir" / "sys.dic").exists()


def test_a_record_row_naming_a_bytecode_folder_that_is_gone_is_no_damage(synced: Project) -> None:
    """virtualenv's seeder lists pip's ``__pycache__`` folders in RECORD; they need not
    exist, as bytecode need not: sync failed on a virtualenv-made venv ("pip is damaged")."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    record, top = _tool_record(site)
    record.write_text(record.read_text() + f"{top}/__pycache__,,\n")
    assert synced.run("verify").exit_code == 0


def test_the_strays_check_never_reaches_through_a_link_nor_takes_a_folder_for_a_hook(
    synced: Project, tmp_path: Path
) -> None:
    """A locked package's folder linked to a source checkout (a developer's trick): the
    strays walk followed the link, and sync deleted the checkout's own files, outside
    the environment. A folder named ``x.pth`` is no hook, and failed every sync."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    _, top = _tool_record(site)
    checkout = tmp_path / "checkout"
    shutil.copytree(site / top, checkout)
    (checkout / "notes.py").write_text("# mine\n")
    shutil.rmtree(site / top)
    (site / top).symlink_to(checkout, target_is_directory=True)
    (site / "odd.pth").mkdir()
    result = synced.run("sync")
    assert result.exit_code == 0, result.output
    assert (checkout / "notes.py").exists() and (site / "odd.pth").is_dir()


@pytest.mark.parametrize("how", ["killed", "failed"])
def test_an_install_cut_short_after_it_began_a_package_is_never_unchanged(
    synced: Project, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """uv SIGKILLed (the OOM killer) as it links a package, or failing partway (a write
    error), leaves files no RECORD claims yet; sync compared distributions only, said
    "the environment is unchanged" and dropped its mark, and the half package stayed for
    good (once the lock no longer named it, verify said ok and it still imported). Now
    the environment stays marked (a folder that appeared at the top of site-packages
    counts as a change too), and the next sync removes the code no RECORD claims in the
    lock's packages' folders."""
    from lockgen.exceptions import CommandError, Killed
    from lockgen.install import installer

    assert synced.run("sync").exit_code == 0
    synced.write("inputs/base.in", "tool\nhelper==2.0\n")
    assert synced.run("compile").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    real = installer.install
    half = site / "helper" / "half_linked.py"

    def cut_short(*args: object, **kwargs: object) -> None:
        (site / "newpkg").mkdir()  # a package begun before its RECORD: the environment changed
        half.write_text("x = 1\n")
        raise Killed("ended by SIGKILL") if how == "killed" else CommandError("write failed: No space left on device")

    monkeypatch.setattr(installer, "install", cut_short)
    result = synced.run("sync")
    assert result.exit_code == 1 and "unchanged" not in result.output and "stays marked" in result.output, result.output
    checked = synced.run("verify")
    assert checked.exit_code == 1 and "did not finish" in checked.output, checked.output
    monkeypatch.setattr(installer, "install", real)
    assert synced.run("sync").exit_code == 0
    assert not half.exists()
    assert installed(synced) == {"tool": "1.0", "helper": "2.0"}
    assert synced.run("verify", "--hashes").exit_code == 0


def test_the_strays_check_never_enters_a_folder_mounted_into_a_package(synced: Project, tmp_path: Path) -> None:
    """A folder bind-mounted into a package (a container sharing host code): its files are
    the host's, never the environment's strays. Skipped where mount is not allowed."""
    assert synced.run("sync").exit_code == 0
    site = next((synced.root / ".venv" / "lib").glob("python*/site-packages"))
    _, top = _tool_record(site)
    host = tmp_path / "host"
    host.mkdir()
    (host / "plugin.py").write_text("# the host's\n")
    (site / top / "mounted").mkdir()
    if subprocess.run(["mount", "--bind", str(host), str(site / top / "mounted")], capture_output=True).returncode:
        pytest.skip("mount --bind is not allowed here")
    try:
        assert synced.run("verify").exit_code == 0
        assert synced.run("sync").exit_code == 0
        assert (host / "plugin.py").exists()
    finally:
        subprocess.run(["umount", str(site / top / "mounted")], check=False)

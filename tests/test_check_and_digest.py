"""lockgen check, the input digest, and compiles interrupted mid-way."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Project

from lockgen import fileset
from lockgen.project import config
from lockgen.project.intents import Inputs

PORTABLE = """
inputs = ["inputs/base.in"]
python = ["3.12"]
index-url = "https://example.invalid/simple"

[accelerators.cu124]
cuda = "12.4"
inputs = ["inputs/cu124.in"]
index-url = "https://example.invalid/whl/cu124"
"""


def digest_of(root: Path, variant: str = "py312-cu124") -> str:
    cfg = config.load(root, root / "lockgen.toml")
    return Inputs.of(cfg).digest(cfg.variant(variant))


@pytest.fixture
def portable(tmp_path: Path) -> Path:
    root = tmp_path / "a"
    (root / "inputs").mkdir(parents=True)
    (root / "lockgen.toml").write_text(PORTABLE)
    (root / "inputs/base.in").write_bytes(b"app\n-r common.in\n")
    (root / "inputs/common.in").write_bytes(b"numpy<2\n")
    (root / "inputs/cu124.in").write_bytes(b"torch==2.6.*\n")
    return root


def test_digest_is_pinned_and_portable(portable: Path, tmp_path: Path) -> None:
    # Pinned: a change to this value means every user's locks go stale. Bump DIGEST_SCHEME on purpose only.
    expected = "e81b305c899bca44d3e902f73c606801d655b3fa2a4ee554eff12fa6a77471e8"
    assert digest_of(portable) == expected
    moved = tmp_path / "elsewhere" / "clone"
    shutil.copytree(portable, moved)
    assert digest_of(moved) == expected


def test_credentials_are_no_part_of_the_digest_and_0_3s_digest_of_them_stays_current(portable: Path) -> None:
    # Pinned: 773409fb… is what lockgen 0.3 wrote for this configuration (computed with 0.3's code).
    (portable / "lockgen.toml").write_text(
        PORTABLE.replace("https://example.invalid/whl", "https://ci:s3cret@example.invalid/whl")
    )
    assert digest_of(portable) == "e81b305c899bca44d3e902f73c606801d655b3fa2a4ee554eff12fa6a77471e8"
    cfg = config.load(portable, portable / "lockgen.toml")
    variant, inputs = cfg.variant("py312-cu124"), Inputs.of(cfg)
    old = "773409fb9dd107ddd93c6337189c1b8cbc805b54f677eb3703d225f821786cab"
    assert inputs.digest(variant, with_credentials=True) == old
    assert inputs.current(variant, old) and not inputs.current(variant, "0" * 64)
    (portable / "inputs/cu124.in").write_bytes(b"torch==2.7.*\n")  # 0.3's digest follows the files all the same
    assert not Inputs.of(cfg).current(variant, old)


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        (lambda r: (r / "inputs/common.in").write_bytes(b"numpy<2.1\n"), True),  # an included file
        (lambda r: (r / "inputs/cu124.in").write_bytes(b"torch==2.6.*\n# note\n"), True),  # any byte
        (lambda r: (r / "lockgen.toml").write_text(PORTABLE.replace("whl/cu124", "whl/cu124x")), True),
        (
            lambda r: (r / "lockgen.toml").write_text(
                PORTABLE.replace('cuda = "12.4"', 'cuda = "12.4"\ngpu-archs = ["8.0"]')
            ),
            True,
        ),
        (lambda r: (r / "lockgen.toml").write_text('forbid = ["x"]\n' + PORTABLE), False),  # validity, not resolution
        (
            lambda r: (r / "lockgen.toml").write_text(
                PORTABLE.replace("[accelerators", "constraints = []\n[accelerators", 1)
            ),
            False,
        ),
    ],
)
def test_digest_follows_what_decides_resolution(portable: Path, change, stale: bool) -> None:
    before = digest_of(portable)
    change(portable)
    assert (digest_of(portable) != before) is stale


STATIC = '[project]\nname = "mine"\nversion = "0.1"\ndependencies = ["helper"]\n\n[tool.ruff]\nline-length = 100\n'
DYNAMIC = (
    '[project]\nname = "mine"\nversion = "0.1"\ndynamic = ["dependencies"]\n\n'
    '[tool.setuptools.dynamic]\ndependencies = {file = ["requirements.txt"]}\n'
)


@pytest.mark.parametrize(
    ("start", "edit", "stale"),
    [
        (STATIC, lambda t: t.replace("line-length = 100", "line-length = 120"), False),  # a linter's setting
        (STATIC, lambda t: t + "\n[tool.lockgen]\nforbid = ['x']\n", False),  # lockgen's own forbid: not resolution
        (STATIC, lambda t: t.replace('["helper"]', '["helper", "tool"]'), True),  # a dependency
        (STATIC, lambda t: t.replace('version = "0.1"', 'version = "0.2"'), True),
        (STATIC, lambda t: t + '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n', True),
        (DYNAMIC, lambda t: t.replace("requirements.txt", "requirements-gpu.txt"), True),  # a backend states them
        (
            STATIC,
            lambda t: t + '\n[tool.uv.sources]\nhelper = { path = "../wheels/helper-1.0-py3-none-any.whl" }\n',
            True,
        ),
    ],
    ids=["tool setting", "forbid", "dependency", "version", "build backend", "dynamic dependencies", "uv sources"],
)
def test_a_local_projects_pyproject_counts_only_where_it_states_metadata(
    tmp_path: Path,
    start: str,
    edit,
    stale: bool,  # type: ignore[no-untyped-def]
) -> None:
    root = tmp_path / "p"
    (root / "inputs").mkdir(parents=True)
    (root / "lockgen.toml").write_text(PORTABLE)
    (root / "inputs/base.in").write_text("-e ./mine\n")
    (root / "inputs/cu124.in").write_text("torch\n")
    (root / "mine").mkdir()
    (root / "mine/pyproject.toml").write_text(start)
    before = digest_of(root)
    (root / "mine/pyproject.toml").write_text(edit(start))
    assert (digest_of(root) != before) is stale


CACHE_KEYS = (
    STATIC + '\n[tool.uv]\ncache-keys = [{ file = "pyproject.toml" }, { file = "requirements.txt" }, '
    '{ file = "reqs/*.txt" }, { git = true }, "README.md", { file = 3 }]\n'
)
OPTIONAL = DYNAMIC + 'optional-dependencies = { dev = { file = ["dev.txt"] } }\n'


@pytest.mark.parametrize(
    ("start", "edited", "stale"),
    [
        (DYNAMIC, "requirements.txt", True),  # setuptools reads the dependencies there
        (OPTIONAL, "dev.txt", True),
        (CACHE_KEYS, "requirements.txt", True),  # a file the project tells uv its metadata comes from
        (CACHE_KEYS, "reqs/extra.txt", False),  # a glob names sources: uv builds again, resolution is the same
        (CACHE_KEYS, "dev.txt", False),
        (DYNAMIC, "README.md", False),
        (DYNAMIC + 'readme = { file = ["README.md"] }\n', "README.md", False),  # a description: no resolution
        (
            CACHE_KEYS.replace("{ file = 3 }", '{ file = "a\\u0000b" }, { file = "' + "n" * 300 + '" }'),
            "dev.txt",
            False,
        ),
    ],
    ids=[
        "dynamic dependencies file",
        "optional dependencies file",
        "uv cache-keys file",
        "uv cache-keys glob",
        "unnamed file",
        "readme",
        "dynamic readme",
        "odd names",
    ],
)
def test_the_files_a_local_project_reads_its_metadata_from_count(
    tmp_path: Path, start: str, edited: str, stale: bool
) -> None:
    """``dynamic = ["dependencies"]`` read from requirements.txt: a dependency added there
    changes what uv resolves, so the locks are stale, as ``uv pip compile`` would show."""
    root = tmp_path / "p"
    (root / "inputs").mkdir(parents=True)
    (root / "lockgen.toml").write_text(PORTABLE)
    (root / "inputs/base.in").write_text("-e ./mine\n")
    (root / "inputs/cu124.in").write_text("torch\n")
    (root / "mine/reqs").mkdir(parents=True)
    (root / "mine/pyproject.toml").write_text(start)
    for name in ("requirements.txt", "dev.txt", "reqs/extra.txt", "README.md"):
        (root / "mine" / name).write_text("helper\n")
    before = digest_of(root)
    (root / "mine" / edited).write_text("helper\nclick\n")
    assert (digest_of(root) != before) is stale


def test_a_requirements_file_linked_from_elsewhere_in_the_repository_counts(tmp_path: Path) -> None:
    """A monorepo keeps one requirements file and links it into each project:
    setuptools reads the file it leads to, and so does the digest."""
    root = tmp_path / "p"
    (root / "inputs").mkdir(parents=True)
    (root / ".git").mkdir()  # the repository: the shared file is inside it
    (root / "lockgen.toml").write_text(PORTABLE)
    (root / "inputs/base.in").write_text("-e ./mine\n")
    (root / "inputs/cu124.in").write_text("torch\n")
    (root / "mine").mkdir()
    (root / "mine/pyproject.toml").write_text(DYNAMIC)
    (root / "shared").mkdir()
    (root / "shared/requirements.txt").write_text("helper\n")
    (root / "mine/requirements.txt").symlink_to("../shared/requirements.txt")
    before = digest_of(root)
    (root / "shared/requirements.txt").write_text("helper\nclick\n")
    assert digest_of(root) != before


def test_check_passes_on_fresh_locks_and_names_each_problem(project: Project) -> None:
    assert project.run("check").exit_code == 1  # no locks yet
    assert project.run("compile").exit_code == 0
    result = project.run("check")
    assert result.exit_code == 0, result.output
    project.write("inputs/cu124.in", "torch==2.6.*\nhelper\n")
    project.lock("py311-cpu").unlink()
    project.lock("py312-cpu").write_text(
        project.lock("py312-cpu").read_text().replace('lock-version = "1.0"', 'lock-version = "9.0"')
    )
    shutil.copy(project.lock("py312-cu124"), project.locks / "pylock.py39-cpu.toml")
    result = project.run("check")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert "py311-cpu: locks/pylock.py311-cpu.toml is missing (run: lockgen compile py311-cpu)" in lines
    assert any(
        line.startswith("py312-cpu: ") and "not a valid PEP 751 lock: pylock version 9.0" in line for line in lines
    )
    assert any(line.startswith("py312-cu124: locks/pylock.py312-cu124.toml is stale") for line in lines)
    assert any(line.startswith("py311-cu124: locks/pylock.py311-cu124.toml is stale") for line in lines)
    assert any(line.startswith("locks/pylock.py39-cpu.toml: orphan") for line in lines)
    assert len(lines) == 5, lines


def test_an_intent_removed_since_the_lock_makes_it_stale_not_edited_by_hand(project: Project) -> None:
    """The lock still holds what an intent file no longer asks for: that is the staleness
    check reports, not a package "added by hand"."""
    project.write("inputs/cu124.in", "torch==2.6.*\nhelper\n")
    assert project.run("compile").exit_code == 0
    project.write("inputs/cu124.in", "torch==2.6.*\n")
    result = project.run("check")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["py311-cu124", "py312-cu124"], lines
    assert all("is stale" in line for line in lines) and "by hand" not in result.output, lines


def test_a_package_taken_out_of_a_lock_by_hand_fails_check_and_compile_restores_it(project: Project) -> None:
    """Its requirer still lists it: installing that lock would leave an import broken."""
    from lockgen.locks import pylock as lockfile

    assert project.run("compile").exit_code == 0
    path = project.lock("py312-cpu")
    good = path.read_text()
    lock = lockfile.read(path)
    assert lock is not None
    requirer, child = next((p, deps[0]) for p, deps in sorted(lock.dependencies.items()) if deps)
    blocks = good.split("\n\n[[packages]]\n")
    path.write_text("\n\n[[packages]]\n".join(b for b in blocks if not b.startswith(f'name = "{child}"\n')))
    assert path.read_text() != good
    result = project.run("check")
    assert result.exit_code == 1
    assert f"requires packages the lock does not have (removed by hand?): {child} (required by {requirer})" in (
        result.output
    )
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert path.read_text() == good


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: text.replace('name = "app"\n', 'name = "app"\nmarker = "sys_platform == \'win32\'"\n', 1),
        lambda text: text.replace('version = "1.0"', 'version = "1.0.0"', 1),
        lambda text: text.replace("\n[tool.lockgen]\n", "\n[tool.lockgen]\nnote = 'ok'\n"),
        lambda text: text.replace(
            'name = "app"\n', f'name = "app"\n{text[text.index("content-digest = ") :].split(chr(10))[0]}\n', 1
        ),
    ],
    ids=["a marker added", "a version respelled", "a key added", "two seals"],
)
def test_any_hand_edit_to_a_lock_fails_check_and_sync_and_compile_restores_it(project: Project, edit) -> None:  # type: ignore[no-untyped-def]
    """Each lock carries the sha256 of its own content: an edit that keeps the lock
    valid and consistent (one no other rule catches) is still not what lockgen wrote."""
    assert project.run("compile").exit_code == 0
    variant = f"py3{sys.version_info[1]}-cpu"  # one sync can install here
    if variant not in ("py311-cpu", "py312-cpu"):
        pytest.skip("the project's variants are for 3.11 and 3.12")
    path = project.lock(variant)
    good = path.read_text()
    edited = edit(good)
    assert edited != good
    path.write_text(edited)
    result = project.run("check")
    assert result.exit_code == 1
    assert f"{variant}: locks/pylock.{variant}.toml: " in result.output
    assert "edited since lockgen wrote it" in result.output
    result = project.run("sync", "--variant", variant)
    assert result.exit_code == 1 and f"not the lock lockgen wrote for {variant}" in result.output
    assert not (project.root / ".venv").exists()
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert path.read_text() == good, result.output


def test_a_lock_from_before_the_seal_fails_check_and_syncs_with_a_warning(project: Project) -> None:
    """After an upgrade, machines keep syncing the locks they have; CI's check asks for
    a compile, which adds the seal and changes no package."""
    import json

    assert project.run("compile").exit_code == 0
    variant = f"py3{sys.version_info[1]}-cpu"
    if variant not in ("py311-cpu", "py312-cpu"):
        pytest.skip("the project's variants are for 3.11 and 3.12")
    path = project.lock(variant)
    good = path.read_text()
    old = "".join(line for line in good.splitlines(keepends=True) if not line.startswith("content-digest = "))
    old = re.sub(r'(?m)^lockgen-version = ".*"$', 'lockgen-version = "0.2.0"', old)  # as 0.2 wrote it
    path.write_text(old)
    result = project.run("check")
    assert result.exit_code == 1 and "it has no content-digest" in result.output
    result = project.run("sync", "--variant", variant)
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "it has no content-digest" in result.output
    verified = project.run("verify", "--variant", variant, "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True
    assert project.run("compile").exit_code == 0
    assert path.read_text() == good


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda text, seal: text.replace(seal, ""), id="taken-out-of-a-lock-that-says-0.3"),
        pytest.param(lambda text, seal: text.replace(seal, 'content-digest = "zzz"\n'), id="not-hex"),
        pytest.param(lambda text, seal: seal + text.replace(seal, ""), id="moved-to-the-top"),
        pytest.param(
            lambda text, seal: text.replace(seal, "").replace('name = "app"\n', f'name = "app"\n{seal}'),
            id="moved-into-a-package",
        ),
        pytest.param(lambda text, seal: seal + text, id="a-second-one-at-the-top"),
    ],
)
def test_a_seal_taken_out_moved_or_mangled_is_an_edit(project: Project, edit: Callable[[str, str], str]) -> None:
    """Leniency is for locks an older lockgen wrote, not for any lock without a seal;
    and the seal counts only where lockgen writes it."""
    assert project.run("compile").exit_code == 0
    variant = f"py3{sys.version_info[1]}-cpu"
    if variant not in ("py311-cpu", "py312-cpu"):
        pytest.skip("the project's variants are for 3.11 and 3.12")
    path = project.lock(variant)
    text = path.read_text()
    seal = re.search(r"(?m)^content-digest = .*\n", text)
    assert seal is not None
    edited = edit(text, seal[0])
    assert edited != text
    path.write_text(edited)
    check = project.run("check")
    assert check.exit_code == 1 and variant in check.output, check.output
    sync = project.run("sync", "--variant", variant)
    assert sync.exit_code == 1 and f"not the lock lockgen wrote for {variant}" in sync.output, sync.output
    assert not (project.root / ".venv").exists()


def test_verify_json_names_a_refused_lock_in_json(project: Project) -> None:
    import json

    assert project.run("compile").exit_code == 0
    variant = f"py3{sys.version_info[1]}-cpu"
    path = project.lock(variant)
    path.write_text(path.read_text().replace('version = "1.0"', 'version = "1.0.0"', 1))
    result = project.run("verify", "--variant", variant, "--json")
    assert result.exit_code == 1 and "error: " in result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["variant"] == variant and "edited since lockgen wrote it" in data["problems"][0]


def test_a_lock_checked_out_with_windows_line_endings_keeps_its_seal(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    path = project.lock("py312-cpu")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # git's autocrlf
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_a_requirement_behind_a_false_marker_is_no_root_and_cannot_hide_a_hand_edit(project: Project) -> None:
    """``helper ; python_version >= '3.12'`` is not a root of 3.11's lock (helper comes
    in there through tool alone), and a package the intent files name only behind a
    marker false for the variant, pasted into its lock, is named by check."""
    from lockgen.locks import pylock as lockfile

    project.write("inputs/base.in", "tool\nhelper ; python_version >= '3.12'\npins-numpy2 ; python_version < '3.12'\n")
    assert project.run("compile").exit_code == 0
    old, new = lockfile.read(project.lock("py311-cpu")), lockfile.read(project.lock("py312-cpu"))
    assert old is not None and new is not None
    assert old.roots == {"inputs/base.in": ("pins-numpy2", "tool")} and old.graph["helper"] == ("tool",)  # type: ignore[index]
    assert new.roots == {"inputs/base.in": ("helper", "tool")} and "pins-numpy2" not in new.versions
    assert project.run("check").exit_code == 0
    blocks = {b.split('"')[1]: b for b in old.text.split("\n\n[[packages]]\n")[1:]}
    pasted = "".join(f"[[packages]]\n{blocks[n].split(chr(10) + chr(10))[0]}\n\n" for n in ("numpy", "pins-numpy2"))
    project.lock("py312-cpu").write_text(new.text.replace("[[packages]]\n", pasted + "[[packages]]\n", 1))
    result = project.run("check")
    assert result.exit_code == 1
    assert "py312-cpu: locks/pylock.py312-cpu.toml: not required by the intent files through the lock's own graph" in (
        result.output
    )
    assert "pins-numpy2 1.0" in result.output


@pytest.mark.parametrize(
    ("line", "marked"),
    [
        ("x ; python_version < '3'", True),
        ("x>=1;sys_platform=='win32'", True),
        ("x[y] @ https://h.invalid/x-1-py3-none-any.whl ; python_version < '3'", True),
        ("x @ https://h.invalid/x;1-py3-none-any.whl", False),  # a URL may hold a ';'
        ("x==1 --hash=sha256:00", False),
    ],
)
def test_which_requirements_are_behind_a_marker(line: str, marked: bool) -> None:
    from lockgen.project import lines

    assert lines.has_marker(line) is marked


def test_a_lock_copied_from_another_python_fails_check(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """Its label edited to fit (variant, python, digest), a py311 lock in py312's place
    still holds cp311 wheels: installing it on 3.12 would build or fail."""
    import re

    from wheelmaker import make_wheel

    p = Project(tmp_path / "proj", indexes)
    for minor in (11, 12):
        make_wheel(p.root / "wheels", "native", "1.0", tag=f"cp3{minor}-cp3{minor}-manylinux_2_17_x86_64")
    p.write("in.in", "native\n")
    p.write("lockgen.toml", 'inputs = ["in.in"]\npython = ["3.11", "3.12"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    assert p.run("compile").exit_code == 0
    assert p.run("check").exit_code == 0
    own = p.lock("py312-cpu").read_text()
    digest = re.search(r'input-digest = "([^"]+)"', own)[1]  # type: ignore[index]
    copied = (
        p.lock("py311-cpu").read_text().replace("py311-cpu", "py312-cpu").replace('python = "3.11"', 'python = "3.12"')
    )
    p.lock("py312-cpu").write_text(re.sub(r'input-digest = "[^"]+"', f'input-digest = "{digest}"', copied))
    result = p.run("check")
    assert result.exit_code == 1
    assert (
        "py312-cpu: locks/pylock.py312-cpu.toml: wheels for another python or platform than 3.12 on "
        "x86_64-manylinux_2_28 (from another lock?): native 1.0 (native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl)"
    ) in result.output


@pytest.mark.parametrize(
    ("wheel", "python", "platform", "fits"),
    [
        ("a-1-py3-none-any.whl", "3.12", "x86_64-manylinux_2_28", True),
        ("a-1-py2.py3-none-any.whl", "3.12", "aarch64-apple-darwin", True),
        ("a-1-py313-none-any.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "3.12", "x86_64-manylinux_2_28", True),
        ("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp39-abi3-manylinux_2_28_x86_64.whl", "3.12", "x86_64-manylinux_2_28", True),
        ("a-1-cp313-abi3-manylinux_2_28_x86_64.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-manylinux_2_34_x86_64.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-manylinux_2_17_aarch64.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-manylinux2014_aarch64.whl", "3.12", "aarch64-manylinux2014", True),
        ("a-1-cp312-cp312-manylinux_2_28_aarch64.whl", "3.12", "aarch64-manylinux2014", False),
        ("a-1-cp312-cp312-musllinux_1_2_x86_64.whl", "3.12", "x86_64-unknown-linux-musl", True),
        ("a-1-cp312-cp312-manylinux_2_17_x86_64.whl", "3.12", "x86_64-unknown-linux-musl", False),
        ("a-1-cp313-cp313t-manylinux_2_17_x86_64.whl", "3.13", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-macosx_11_0_arm64.whl", "3.12", "aarch64-apple-darwin", True),
        ("a-1-cp312-cp312-macosx_10_9_universal2.whl", "3.12", "x86_64-apple-darwin", True),
        ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", "3.12", "aarch64-apple-darwin", False),
        ("a-1-cp312-cp312-win_amd64.whl", "3.12", "x86_64-pc-windows-msvc", True),
        ("a-1-cp312-cp312-win32.whl", "3.12", "x86_64-pc-windows-msvc", False),
        ("torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl", "3.12", "x86_64-manylinux_2_28", True),  # uv takes it
        ("a-1-cp312-cp312-linux_aarch64.whl", "3.12", "x86_64-manylinux_2_28", False),
        ("a-1-cp312-cp312-linux_x86_64.whl", "3.12", "x86_64-unknown-linux-musl", True),
        ("a-1-cp312-cp312-macosx_10_9_fat32.whl", "3.12", "x86_64-apple-darwin", True),
        ("a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", "3.10", "x86_64-manylinux_2_28", False),
        ("a-1.tar.gz", "3.12", "x86_64-manylinux_2_28", True),  # not a wheel: not judged here
        ("a-1-cp37-cp37m-manylinux_2_17_x86_64.whl", "3.7", "x86_64-manylinux_2_28", True),  # up to 3.7: "m"
        ("a-1-cp36-cp36m-win_amd64.whl", "3.6", "x86_64-pc-windows-msvc", True),
        ("a-1-cp38-cp38m-manylinux_2_17_x86_64.whl", "3.8", "x86_64-manylinux_2_28", False),  # no "m" from 3.8
        ("a-1-cp312-cp312-musllinux_1_3_x86_64.whl", "3.12", "x86_64-unknown-linux-musl", False),  # uv: 1_2
        ("a-1-cp312-cp312-musllinux_1_1_x86_64.whl", "3.12", "x86_64-unknown-linux-musl", True),
    ],
)
def test_which_wheels_fit_a_variant(wheel: str, python: str, platform: str, fits: bool) -> None:
    from lockgen.locks import tags
    from lockgen.project import platforms

    target = platforms.parse(platform)
    assert target is not None
    assert tags.fits(wheel, python, target) is fits


def test_check_reports_forbidden_packages_with_their_chain(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    project.config.write_text('forbid = ["triton"]\n' + project.config.read_text())
    result = project.run("check")
    assert result.exit_code == 1
    assert "py312-cu124: forbidden: triton <- torch <- inputs/cu124.in" in result.output.splitlines()


def test_check_uses_no_network(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert project.run("compile").exit_code == 0
    from lockgen import uv

    monkeypatch.setattr(uv, "binary", lambda: "/nonexistent/uv")
    assert project.run("check").exit_code == 0


def test_a_rename_that_fails_mid_commit_puts_the_old_set_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a kill: the third lock cannot be replaced (a file made immutable, say). The
    two already replaced are put back, and the error says no lock changed."""
    import errno

    assert project.run("compile").exit_code == 0
    old = project.snapshot()
    project.write("inputs/base.in", "app\ntool\n")
    real, renamed = os.replace, []

    def failing(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if (
            Path(dst).parent == project.locks
            and Path(dst).name.startswith("pylock.")
            and ".lockgen-old." not in str(src)
        ):
            renamed.append(dst)
            if len(renamed) == 3:
                raise PermissionError(errno.EPERM, "Operation not permitted", dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    result = project.run("compile")
    assert result.exit_code != 0
    assert "Operation not permitted); no lock was changed" in result.output, result.output
    assert project.snapshot() == old
    assert not list(project.locks.glob(".lockgen-*")), "nothing is left behind"
    monkeypatch.undo()
    assert project.run("compile").exit_code == 0
    assert project.run("check").exit_code == 0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _journal(folder: Path, body: dict[str, object], *, token: str | None = None) -> str:
    """Write ``body`` as the folder's journal, as a run of this user on this machine writes
    one: naming a token kept in lockgen's cache with the journal's sha256, and the
    folder's identity. ``token``: name this one instead, keeping nothing (a journal
    that came with a commit). Returns the token."""
    import json
    import secrets

    from lockgen import files, fileset

    run = token or secrets.token_hex(16)
    text = json.dumps({"run": run, "folder": fileset.identity(folder), **body})
    if token is None:
        tokens = files.cache_folder("journals")
        assert tokens is not None
        (tokens / run).write_text(_sha(text))
    (folder / fileset.JOURNAL).write_text(text)
    return run


@pytest.mark.parametrize("written", ["here", "committed", "by lockgen 0.3"])
def test_a_rollback_killed_midway_is_undone_by_the_next_run(tmp_path: Path, written: str) -> None:
    """A failed commit first turns its journal into the undoing: killed midway, what it
    had replaced is put back by the next run, and what it had added is removed. A
    journal written for another folder (it came with a commit: ``git add locks`` after
    a kill), or one without the sha256 of what it moves (lockgen 0.3's), is no killed
    run's here: dropped."""

    from lockgen import fileset

    folder = tmp_path / "locks"
    folder.mkdir()
    (folder / "pylock.a.toml").write_text("new a")  # replaced by the commit, not yet put back
    (folder / ".lockgen-old.pylock.a.toml").write_text("old a")
    (folder / "pylock.b.toml").write_text("new b")  # added by the commit
    (folder / "pylock.c.toml").write_text("old c")  # already put back before the kill
    renames = [[".lockgen-old.pylock.a.toml", "pylock.a.toml", _sha("old a"), _sha("new a")],
               [".lockgen-old.pylock.c.toml", "pylock.c.toml", _sha("old c"), _sha("new c")]]  # fmt: skip
    removals: list[object] = [["pylock.b.toml", _sha("new b")]]
    if written == "by lockgen 0.3":
        renames, removals = [r[:2] for r in renames], ["pylock.b.toml"]
    # Committed: the very folder's identity (it leaks with any journal once committed), but
    # a token this user's lockgen cache never held.
    _journal(folder, {"renames": renames, "remove": removals}, token=None if written == "here" else "5" * 32)
    before = {p.name: p.read_text() for p in folder.iterdir() if p.name != fileset.JOURNAL}
    if written != "here":
        assert fileset.recover(folder) == "dropped"
        assert {p.name: p.read_text() for p in folder.iterdir()} == before  # as it is (leftovers: clean_stale's)
        return
    assert fileset.recover(folder) == "finished"
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"pylock.a.toml": "old a", "pylock.c.toml": "old c"}


def _killed_after_first_rename(folder: Path) -> None:
    """The locks folder of a compile killed after replacing a (of a and b): the journal,
    b's new lock still under its temporary name."""

    (folder / "pylock.a.toml").write_text("new a")
    (folder / "pylock.b.toml").write_text("old b")
    (folder / ".lockgen-pylock.b.toml.x1.tmp").write_text("new b")
    renames = [[".lockgen-pylock.a.toml.x0.tmp", "pylock.a.toml", _sha("new a"), _sha("old a")],
               [".lockgen-pylock.b.toml.x1.tmp", "pylock.b.toml", _sha("new b"), _sha("old b")]]  # fmt: skip
    _journal(folder, {"renames": renames})


def test_a_killed_commit_is_finished_or_dropped_whole_by_what_the_folder_holds(tmp_path: Path) -> None:
    """Killed after its first rename, a commit is finished by the next run; but where the
    folder was changed since (``git checkout -- locks``, as check's advice may lead to),
    its journal no longer describes it and finishing would make a mix: it is dropped,
    the checked-out set left whole."""
    from lockgen import fileset

    folder = tmp_path / "locks"
    folder.mkdir()
    _killed_after_first_rename(folder)
    assert fileset.recover(folder) == "finished"
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"pylock.a.toml": "new a", "pylock.b.toml": "new b"}
    for p in folder.iterdir():
        p.unlink()
    _killed_after_first_rename(folder)
    (folder / "pylock.a.toml").write_text("old a")  # checked out again
    assert fileset.recover(folder) == "dropped"
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"pylock.a.toml": "old a", "pylock.b.toml": "old b"}
    for p in folder.iterdir():
        p.unlink()
    _killed_after_first_rename(folder)
    (folder / "pylock.b.toml").write_text("b of another branch")  # not renamed yet, but changed since
    assert fileset.recover(folder) == "dropped"
    assert (folder / "pylock.b.toml").read_text() == "b of another branch"


_X = _sha("a file to move, were the journal carried out")


@pytest.mark.parametrize(
    "journal",
    [  # well-formed, for this folder, with the right sha256: only the names are wrong
        {"renames": [["../lockgen.toml", "../../victim/moved.toml", _X, ""]]},
        {"renames": [[".lockgen-x", "/nonexistent-folder/elsewhere", _X, ""]]},
        {"renames": [[".lockgen-x", "../inputs/base.in", _X, ""]]},
        {"renames": [[".lockgen-x", "../../victim/notes.txt", _X, ""]]},
        {"renames": [["pylock.py312-cpu.toml", "pylock.other.toml", _X, ""]]},  # a lock is no temporary file
        {"renames": [[".lockgen-x", ".lockgen-commit.json", _X, ""]]},
        {"renames": [], "remove": [["../../victim/notes.txt", _sha("keep me")]]},
        {"renames": [], "remove": [["../inputs/base.in", _X]]},
        {"renames": [], "remove": [["/etc/hostname", _X]]},
        {"renames": [], "remove": 5},
        {"renames": "[", "remove": []},
    ],
)
def test_a_journal_that_is_not_a_commits_own_is_dropped_touching_nothing(
    project: Project, tmp_path: Path, journal: dict[str, list[object]]
) -> None:
    """A journal that arrived with a commit (``git add locks`` after a killed compile) or
    was written by anyone else is carried out only if every name in it is a file of the
    locks folder that a commit makes: none may move or remove a file anywhere else."""

    assert project.run("compile").exit_code == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    (project.locks / ".lockgen-x").write_text("a file to move, were the journal carried out")
    before = {p: p.read_bytes() for p in [*project.root.rglob("*"), victim / "notes.txt"] if p.is_file()}
    _journal(project.locks, journal)
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert "dropped the journal of an interrupted compile" in result.output
    after = {p: p.read_bytes() for p in [*project.root.rglob("*"), victim / "notes.txt"] if p.is_file()}
    assert after == before
    assert project.run("check").exit_code == 0


@pytest.mark.parametrize(
    "left", [".lockgen-.lockgen-commit.json.a1b2.tmp", ".lockgen-probe-a1b2", ".lockgen-old.pylock.py312-cpu.toml"]
)
def test_what_a_run_killed_at_any_step_leaves_the_next_compile_removes(project: Project, left: str) -> None:
    """A journal killed before its rename, a probe of the folder, a replaced lock's second
    name: each a temporary name of lockgen's own that git would show as untracked."""
    assert project.run("compile").exit_code == 0
    (project.locks / left).write_text("left by a killed run")
    assert project.run("compile").exit_code == 0
    assert not (project.locks / left).exists()


def test_check_reads_again_a_locks_folder_that_a_compile_changed_meanwhile(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check takes no run lock: a compile renaming its locks into place while check reads
    them could show it half the old set and half the new. It reads until it sees one."""
    from lockgen.review import check

    assert project.run("compile").exit_code == 0
    real, reads = check._problems, []

    def read_while_renaming(*args: object) -> check.Findings:
        reads.append(1)
        found = real(*args)  # type: ignore[arg-type]
        if len(reads) < limit:
            lock = project.lock("py312-cpu")
            lock.with_name("x.tmp").write_bytes(lock.read_bytes())
            os.replace(lock.with_name("x.tmp"), lock)  # a compile's rename: another file, same name
        return found

    monkeypatch.setattr(check, "_problems", read_while_renaming)
    limit = 2
    assert project.run("check").exit_code == 0 and len(reads) == 2
    reads.clear()
    limit = 10
    result = project.run("check")
    assert result.exit_code == 1 and "the locks changed while check read them" in result.output


def test_check_beside_a_compile_still_resolving_reads_once_and_passes(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compile's workspaces in the locks folder change all through its run; no lock
    does until it commits: check must not call that a change."""
    from lockgen.review import check

    assert project.run("compile").exit_code == 0
    workspace = project.locks / ".lockgen-tmp-x1"
    workspace.mkdir()
    real, reads = check._problems, []

    def resolving(*args: object) -> check.Findings:
        reads.append(1)
        (workspace / f"spool-{len(reads)}").write_text("uv's log, growing")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(check, "_problems", resolving)
    assert project.run("check").exit_code == 0 and reads == [1]


def test_a_full_locks_folder_fails_each_variant_in_words_naming_the_file(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv's workspace lives in the locks folder; a full disk there was ``error: No space
    left on device``, naming nothing."""
    import errno

    assert project.run("compile").exit_code == 0
    old = project.snapshot()
    project.write("inputs/base.in", "app\ntool\n")
    real = Path.write_text

    def full(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.parent.name.startswith(".lockgen-tmp-") and self.name != ".gitignore":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    result = project.run("compile")
    assert result.exit_code == 1
    assert "cannot write " in result.output and "/pylock.py312-cpu.toml: no space left on the device" in result.output
    assert project.snapshot() == old


def test_a_journal_naming_the_token_of_another_journal_is_dropped(tmp_path: Path) -> None:
    """A killed run's journal committed by mistake, then removed by hand: its token stays
    in the cache, and the history shows it. A forged journal naming it must not pass."""
    from lockgen import fileset

    folder = tmp_path / "locks"
    folder.mkdir()
    (folder / "pylock.a.toml").write_text("reviewed a")
    real = _journal(folder, {"renames": []})
    (folder / fileset.JOURNAL).unlink()
    (folder / ".lockgen-x.tmp").write_text("attacker's a")
    forged = [[".lockgen-x.tmp", "pylock.a.toml", _sha("attacker's a"), _sha("reviewed a")]]
    _journal(folder, {"renames": forged}, token=real)
    assert fileset.recover(folder) == "dropped"
    assert (folder / "pylock.a.toml").read_text() == "reviewed a"


def test_tokens_kept_inside_the_repository_vouch_for_no_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOCKGEN_CACHE_DIR in the work tree (or, resolved, linked into it): a pull request
    could bring the token file with the forged journal."""
    from lockgen import fileset

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    folder = repo / "locks"
    folder.mkdir()
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(repo / ".cache" / "lockgen"))
    (folder / "pylock.a.toml").write_text("reviewed a")
    (folder / ".lockgen-x.tmp").write_text("attacker's a")
    _journal(folder, {"renames": [[".lockgen-x.tmp", "pylock.a.toml", _sha("attacker's a"), _sha("reviewed a")]]})
    assert fileset.recover(folder) == "dropped"
    assert (folder / "pylock.a.toml").read_text() == "reviewed a"


def test_a_journal_that_came_with_a_commit_is_dropped_even_where_it_describes_the_folder(project: Project) -> None:
    """A pull request adding only ``locks/.lockgen-commit.json`` that removes a lock by its
    true sha256: diff shows no lock change, and compile once carried it out, resolving
    the lock afresh without its pins."""
    import json

    from lockgen import fileset

    assert project.run("compile").exit_code == 0
    lock = project.lock("py312-cpu")
    own = {"run": "5" * 32, "folder": fileset.identity(project.locks)}  # the folder's identity leaked, no token
    journal = {**own, "renames": [], "remove": [[lock.name, hashlib.sha256(lock.read_bytes()).hexdigest()]]}
    (project.locks / fileset.JOURNAL).write_text(json.dumps(journal))
    before = project.snapshot()
    result = project.run("compile")
    assert result.exit_code == 0 and "dropped the journal of an interrupted compile" in result.output
    assert project.snapshot() == before


@pytest.mark.parametrize("kind", ["link to a device", "deep", "huge"])
def test_a_journal_no_run_could_have_written_is_dropped_not_read(tmp_path: Path, kind: str) -> None:
    """A committed link to /dev/zero once grew compile's memory without end; JSON nested
    200,000 deep was an internal RecursionError on every compile."""
    from lockgen import fileset

    folder = tmp_path / "locks"
    folder.mkdir()
    journal = folder / fileset.JOURNAL
    if kind == "link to a device":
        journal.symlink_to("/dev/zero")
    elif kind == "deep":
        journal.write_text("[" * 200_000)
    else:
        journal.write_text(" " * (2 << 20) + "{}")
    assert fileset.interrupted(folder)
    assert fileset.recover(folder) in ("dropped", None)
    assert not os.path.lexists(journal)


def test_a_folder_under_the_journals_name_is_one_clear_error(project: Project) -> None:
    from lockgen import fileset

    assert project.run("compile").exit_code == 0
    (project.locks / fileset.JOURNAL).mkdir()
    result = project.run("compile")
    assert result.exit_code == 2 and "a folder under the name of lockgen's commit journal" in result.output
    assert "interrupted" in project.run("check").output  # check and compile agree something is wrong


@pytest.mark.parametrize("run", ["compile", "dry run", "every variant fails", "bad input"])
def test_a_first_compile_makes_its_locks_folder_before_it_locks_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, run: str
) -> None:
    """The run lock locks the locks folder itself too, which keeps apart runs whose run
    locks live in different cache folders; a folder that does not exist yet could not
    be locked, so two first compiles (sudo beside the user) interleaved. A run that
    writes nothing leaves no folder behind, nor its parents (locks-dir = "build/locks")."""
    from lockgen import runs

    project.config.write_text('locks-dir = "build/locks"\n' + project.config.read_text())
    locks = project.root / "build" / "locks"
    if run == "every variant fails":
        project.write("inputs/base.in", "no-such-package-anywhere\n")
    if run == "bad input":
        project.write("inputs/base.in", "-r missing.in\n")
    real, seen = runs.run_lock, []

    def spy(kind: str, key: Path, **kwargs: Any) -> Any:
        seen.append(key.is_dir())
        return real(kind, key, **kwargs)

    monkeypatch.setattr(runs, "run_lock", spy)
    result = project.run("compile", *(["--dry-run"] if run == "dry run" else []))
    assert result.exit_code == {"compile": 0, "dry run": 0, "every variant fails": 1, "bad input": 2}[run], (
        result.output
    )
    assert seen == ([] if run == "bad input" else [True])
    assert locks.is_dir() == (run == "compile")
    assert (project.root / "build").exists() == (run == "compile")


@pytest.mark.parametrize("after", ["pylock.", fileset.JOURNAL])
def test_ctrl_c_during_the_renames_leaves_the_whole_new_set(
    project: Project, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """Ctrl-C (or SIGTERM) landing between two renames of a commit, or once its journal
    is in place and before the first: the journal's promise is kept before lockgen stops.
    Once, the files it named were removed as the run unwound, the next compile finished
    nothing, and a mix of two runs passed check; landing just after the journal, the new
    files went and the journal stayed, which the next run blamed on a checkout."""
    assert project.run("compile").exit_code == 0
    project.write("inputs/base.in", "app\ntool\n")
    real, renamed = os.replace, []

    def interrupted(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real(src, dst)
        if Path(dst).parent == project.locks and Path(dst).name.startswith(after):
            renamed.append(dst)
            if len(renamed) == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(fileset.os, "replace", interrupted)
    result = project.run("compile")
    assert result.exit_code == 130, result.output
    monkeypatch.undo()
    assert not list(project.locks.glob(".lockgen-*")), "the commit was finished, nothing left for the next run"
    new = project.snapshot()
    assert project.run("check").exit_code == 0
    again = project.run("compile")
    assert again.exit_code == 0 and "updated" not in again.output and "journal" not in again.output, again.output
    assert project.snapshot() == new
    assert project.run("check").exit_code == 0


def test_a_journal_that_could_not_be_made_durable_promises_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal renamed into place, then its folder's fsync failing: the run said
    "cannot write" and yet, finding the journal in place, carried out every rename."""
    assert project.run("compile").exit_code == 0
    old = project.snapshot()
    project.write("inputs/base.in", "app\ntool\n")
    real, failed = fileset.fsync_dir, []

    def failing(folder: Path) -> None:
        if (folder / fileset.JOURNAL).exists() and not failed:
            failed.append(folder)
            raise OSError(5, "Input/output error")
        real(folder)

    monkeypatch.setattr(fileset, "fsync_dir", failing)
    result = project.run("compile")
    assert failed and result.exit_code == 1 and "cannot write" in result.output, result.output
    assert project.snapshot() == old and not (project.locks / fileset.JOURNAL).exists()


def test_an_immutable_lock_fails_the_compile_before_anything_changes(project: Project) -> None:
    assert project.run("compile").exit_code == 0
    old = project.snapshot()
    project.write("inputs/base.in", "app\ntool\n")
    target = project.lock("py312-cpu")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        result = project.run("compile")
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert result.exit_code != 0 and "no lock was changed" in result.output, result.output
    assert project.snapshot() == old


def test_private_folders_of_killed_runs_are_removed_and_no_others(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed compile or sync leaves its private folder (copies of intent files, which
    may hold credentials) in the temporary folder; the next run that resolves or
    installs removes those of processes that are gone, and nothing else."""
    import tempfile

    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    from lockgen import private

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = private._host()
    dead = [shared / f"lockgen-src-{here}-{gone.pid}-abc123", shared / f"lockgen-sync-{here}-{gone.pid}-x"]
    kept = [
        shared / f"lockgen-src-{here}-{os.getpid()}-abc123",  # alive
        shared / f"lockgen-src-0othrhst-{gone.pid}-abc123",  # another host's: its pids mean nothing here
        shared / "lockgen-src-999",
        shared / "other-1-2-3",
    ]
    for folder in dead + kept:
        (folder / "src").mkdir(parents=True)
    assert project.run("compile").exit_code == 0
    assert sorted(p.name for p in shared.iterdir()) == sorted(p.name for p in kept)


def test_a_killed_compile_leaves_the_old_set_or_the_new_one(project: Project, tmp_path: Path) -> None:
    """SIGKILL at several moments: every lock is the old one or the new one, never half; and
    the set as a whole is old or new once the next run has finished an interrupted write."""
    assert project.run("compile").exit_code == 0
    old = project.snapshot()
    project.write("inputs/base.in", "app\ntool\n")
    twin = Project(tmp_path / "twin", project.indexes)  # the same project, compiled to the end
    shutil.copytree(project.root, twin.root)
    assert twin.run("compile").exit_code == 0
    new = twin.snapshot()
    assert set(new) == set(old) and all(new[n] != old[n] for n in new)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    for delay in (0.05, 0.15, 0.3, 0.45, 0.6, 0.8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockgen", "compile", "-j", "1", "--config", str(project.config)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = project.snapshot()
        assert set(now) >= set(old), "no lock is ever missing"
        for name in old:
            assert now[name] in (old[name], new[name]), f"{name} is neither the old lock nor the new one"
        mixed = {now[n] == new[n] for n in old} == {True, False}
        if mixed:  # only between the journal and its last rename; check says so
            assert (project.locks / ".lockgen-commit.json").is_file()
            assert "a compile was interrupted while writing" in project.run("check").output
        for name in old:  # start the next try from the old set
            (project.locks / name).write_bytes(old[name])
        (project.locks / ".lockgen-commit.json").unlink(missing_ok=True)
    assert project.run("compile").exit_code == 0
    assert project.snapshot() == new
    assert not list(project.locks.glob(".lockgen-*")), "the next compile removed what the killed ones left"
    assert project.run("check").exit_code == 0


def test_a_local_project_a_local_project_installs_from_a_path_counts_too(project: Project) -> None:
    """libs/x says ``y = { path = "../y" }`` in its [tool.uv.sources], which uv applies:
    y's dependencies decide the resolution as x's do. An edit to them left every lock
    current, and sync installed what ``uv pip check`` then failed."""
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "y", "ylocal", "1.0", [])
    x = make_local_project(project.root / "libs" / "x", "xlocal", "1.0", ["ylocal"])
    (x / "pyproject.toml").write_text(
        (x / "pyproject.toml").read_text() + '\n[tool.uv.sources]\nylocal = { path = "../y" }\n'
    )
    project.write("inputs/base.in", "./libs/x\n")
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert project.run("check").exit_code == 0
    make_local_project(project.root / "libs" / "y", "ylocal", "1.0", ["helper"])  # y now needs helper
    result = project.run("check")
    assert result.exit_code == 1 and "is stale: its inputs or settings changed" in result.output, result.output


@pytest.mark.parametrize(
    "spelling", ["vend @ file:./vendor/vend-1.0-py3-none-any.whl", "./vendor/vend-1.0-py3-none-any.whl"]
)
def test_a_vendored_wheel_rebuilt_under_its_name_makes_the_lock_stale(project: Project, spelling: str) -> None:
    """A wheel kept in the repository and installed by path was not in the input digest:
    rebuilt with another dependency (same file name), check called the lock current and
    compile skipped it, its hash and helper pin wrong until someone ran -U."""
    from test_compile import versions
    from wheelmaker import make_wheel

    vendor = project.root / "vendor"
    make_wheel(vendor, "vend", "1.0", ["helper==1.0"])
    project.write("inputs/base.in", spelling + "\n")
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"
    make_wheel(vendor, "vend", "1.0", ["helper==2.0"])
    check = project.run("check")
    assert check.exit_code == 1 and "py312-cpu" in check.output and "stale" in check.output, check.output
    result = project.run("compile")
    assert result.exit_code == 0 and "updated" in result.output, result.output
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"
    assert project.run("check").exit_code == 0


def test_a_wheel_a_local_project_takes_by_path_is_digested(project: Project) -> None:
    """``./libs/x`` says ``vend = { path = "vendor/vend-1.0-py3-none-any.whl" }``: the
    wheel rebuilt under its name left the lock current, as the intent files' own had."""
    from test_compile import versions
    from wheelmaker import make_local_project, make_wheel

    x = make_local_project(project.root / "libs" / "x", "x", "0.1", ["vend"])
    with (x / "pyproject.toml").open("a") as f:
        f.write('\n[tool.uv.sources]\nvend = { path = "vendor/vend-1.0-py3-none-any.whl" }\n')
    make_wheel(x / "vendor", "vend", "1.0", ["helper==1.0"])
    project.write("inputs/base.in", "./libs/x\n")
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cpu"))["helper"] == "1.0"
    make_wheel(x / "vendor", "vend", "1.0", ["helper==2.0"])
    assert "stale" in project.run("check").output
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"


def test_sync_and_verify_do_not_need_a_vendored_wheel_the_lock_was_made_from(project: Project) -> None:
    """Where the file is gone (a checkout without git-lfs holds a pointer, a machine syncs
    from a wheelhouse), the lock is not stale: its hashes say what to install. compile and
    check need the file, and a rebuilt one makes the lock stale there."""
    from conftest import MINOR
    from wheelmaker import make_wheel

    variant = f"py{MINOR.replace('.', '')}-cpu"
    wheel = make_wheel(project.root / "vendor", "vend", "1.0", ["helper==1.0"])
    project.write("inputs/base.in", "vend @ file:./vendor/vend-1.0-py3-none-any.whl\n")
    assert project.run("compile").exit_code == 0
    assert project.run("sync", "--variant", variant).exit_code == 0
    wheel.write_bytes(b"version https://git-lfs.github.com/spec/v1\n")  # a git-lfs pointer
    for args in (("verify", "--variant", variant), ("sync", "--variant", variant)):
        result = project.run(*args)
        assert result.exit_code == 0 and "stale" not in result.output, (args, result.output)
    check = project.run("check")
    assert check.exit_code == 1 and "a wheel or sdist it installs by path changed" in check.output, check.output


def test_a_wheel_named_through_a_variable_is_not_in_the_digest(project: Project) -> None:
    """``vend @ file:./${VENDIR}/vend-1.0-py3-none-any.whl``: digested where VENDIR was set
    and not elsewhere, a fresh lock was stale on every machine without it (where a place
    naming an unset variable is not judged, so that such machines still check and sync)."""
    from wheelmaker import make_wheel

    make_wheel(project.root / "vendor", "vend", "1.0", ["helper==1.0"])
    project.write("inputs/base.in", "vend @ file:./${VENDIR}/vend-1.0-py3-none-any.whl\n")
    assert project.run("compile", env={"VENDIR": "vendor"}).exit_code == 0
    assert "VENDIR" not in os.environ
    check = project.run("check")  # a machine without it
    assert check.exit_code == 0, check.output
    assert project.run("check", env={"VENDIR": "vendor"}).exit_code == 0


def test_a_vendored_wheel_in_an_export_is_no_local_project(project: Project) -> None:
    """pip installs a wheel named by path from an export with its hash; the export had
    called it a local project that pip cannot install."""
    from wheelmaker import make_wheel

    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    make_wheel(project.root / "vendor", "vend", "1.0")
    project.write("inputs/base.in", "vend @ file:./vendor/vend-1.0-py3-none-any.whl\n")
    result = project.run("compile")
    assert result.exit_code == 0 and "local project" not in result.output, result.output
    export = (project.locks / "requirements.py312-cpu.txt").read_text()
    assert "pip cannot install" not in export and "vend @ file:" in export and "--hash=sha256:" in export


def test_a_place_under_project_root_stays_in_the_digest(project: Project) -> None:
    """``${PROJECT_ROOT}`` is the project's folder on every machine: a local project or
    wheel named through it is the same place everywhere, and an edit to it makes the lock
    stale (leaving out every place named through a variable had let such an edit pass)."""
    from wheelmaker import make_local_project, make_wheel

    x = make_local_project(project.root / "libs" / "x", "x", "0.1", ["helper==1.0"])
    make_wheel(project.root / "vendor", "vend", "1.0", ["helper==1.0"])
    project.write(
        "inputs/base.in", "-e ${PROJECT_ROOT}/libs/x\nvend @ file://${PROJECT_ROOT}/vendor/vend-1.0-py3-none-any.whl\n"
    )
    assert project.run("compile").exit_code == 0
    assert project.run("check").exit_code == 0
    make_wheel(project.root / "vendor", "vend", "1.0", ["helper==2.0"])
    assert "a wheel or sdist it installs by path changed" in project.run("check").output
    make_wheel(project.root / "vendor", "vend", "1.0", ["helper==1.0"])
    (x / "pyproject.toml").write_text((x / "pyproject.toml").read_text().replace('"helper==1.0"', '"helper==2.0"'))
    assert "stale: its inputs or settings changed" in project.run("check").output


def test_a_lock_from_before_archive_digests_is_called_that_not_changed(project: Project) -> None:
    import re

    from wheelmaker import make_wheel

    from lockgen.locks import writer

    make_wheel(project.root / "vendor", "vend", "1.0")
    project.write("inputs/base.in", "vend @ file:./vendor/vend-1.0-py3-none-any.whl\n")
    assert project.run("compile").exit_code == 0
    lock = project.lock("py312-cpu")
    lock.write_text(writer.sealed(re.sub(r'^archive-digest = ".*"\n', "", lock.read_text(), flags=re.M)))
    check = project.run("check")
    assert check.exit_code == 1
    assert "it was written before lockgen recorded the wheels and sdists it installs by path" in check.output
    assert project.run("compile").exit_code == 0 and project.run("check").exit_code == 0


def test_an_export_naming_a_source_wheel_without_a_name_passes_check(project: Project) -> None:
    """uv writes a wheel a local project's ``[tool.uv.sources]`` names by path as a bare
    path line (``../../vendor/vend2-1.0-py3-none-any.whl --hash=…``): its hash was looked
    for under vend2's name, and check failed on the export compile had just written."""
    from wheelmaker import make_local_project, make_wheel

    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    x = make_local_project(project.root / "libs" / "x", "x", "0.1", ["vend2"])
    with (x / "pyproject.toml").open("a") as f:
        f.write('\n[tool.uv.sources]\nvend2 = { path = "../../vendor/vend2-1.0-py3-none-any.whl" }\n')
    make_wheel(project.root / "vendor", "vend2", "1.0")
    project.write("inputs/base.in", "./libs/x\n")
    assert project.run("compile").exit_code == 0
    export = (project.locks / "requirements.py312-cpu.txt").read_text()
    assert "vend2-1.0-py3-none-any.whl" in export
    check = project.run("check")
    assert check.exit_code == 0, check.output

"""The review workflow: diff against git, versions kept consistent, why, requirements files."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MINOR, Project
from test_compile import versions

from lockgen.locks import pylock, writer


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(project: Project) -> Project:
    project.write("inputs/base.in", "app\nhelper==1.0\n")
    assert project.run("compile").exit_code == 0
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "locks")
    return project


def diff_json(project: Project, *args: str) -> dict:
    result = project.run("diff", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_version_bump_is_grouped_across_variants(repo: Project) -> None:
    repo.write("inputs/base.in", "app\nhelper==2.0\n")
    assert repo.run("compile").exit_code == 0
    data = diff_json(repo)
    assert data["changed"] == [
        {
            "package": "helper",
            "old": "1.0",
            "new": "2.0",
            "downgrade": False,
            "variants": ["py311-cpu", "py311-cu124", "py312-cpu", "py312-cu124"],
        }
    ]
    assert data["added"] == data["removed"] == data["hash_changes"] == []
    assert data["variants"] == {"added": [], "removed": [], "renamed": []}
    text = repo.run("diff").output
    assert "helper 1.0 → 2.0 in all variants" in text
    md = repo.run("diff", "--format", "markdown").output
    assert "| helper | 1.0 | 2.0 | all variants |" in md  # JSON keeps the names; people read "all"
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "helper 2")
    repo.write("inputs/base.in", "app\nhelper==1.0\n")  # back down: a reviewer must not read it as a bump
    assert repo.run("compile").exit_code == 0
    assert diff_json(repo)["changed"][0]["downgrade"] is True
    assert "helper 2.0 → 1.0 (downgrade) in all variants" in repo.run("diff").output
    assert "| helper | 2.0 | 1.0 (downgrade) | all variants |" in repo.run("diff", "--format", "markdown").output


def test_added_removed_packages_and_variants(repo: Project) -> None:
    repo.write("inputs/cu124.in", "torch==2.6.*\ntool\n")
    text = repo.config.read_text().replace('python = ["3.11", "3.12"]', 'python = ["3.12"]')
    repo.config.write_text(text)
    assert repo.run("compile", "--prune").exit_code == 0
    data = diff_json(repo)
    assert data["added"] == [{"package": "tool", "version": "1.0", "variants": ["py312-cu124"]}]
    assert data["variants"] == {"added": [], "removed": ["py311-cpu", "py311-cu124"], "renamed": []}
    repo.write("inputs/cu124.in", "torch==2.6.*\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "tool")
    assert repo.run("compile").exit_code == 0
    assert diff_json(repo)["removed"] == [{"package": "tool", "version": "1.0", "variants": ["py312-cu124"]}]


def test_a_local_project_swapped_for_another_is_one_added_and_one_removed(project: Project) -> None:
    """uv locks a source tree without a version (PEP 751 allows it): diff must not take
    the empty version for an absent package, nor print one."""
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "a", "a", "0.1")
    make_local_project(project.root / "libs" / "b", "b", "0.1")
    project.write("inputs/base.in", "app\n-e ./libs/a\n")
    assert project.run("compile").exit_code == 0
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "a")
    project.write("inputs/base.in", "app\n-e ./libs/b\n")
    assert project.run("compile").exit_code == 0
    data = diff_json(project)
    assert [(c["package"], c["version"]) for c in data["added"]] == [("b", None)]
    assert [(c["package"], c["version"]) for c in data["removed"]] == [("a", None)]
    assert data["changed"] == []
    text = project.run("diff").output.splitlines()
    assert text == ["+ b in all variants", "- a in all variants"]


def test_all_variants_means_every_variant_on_both_sides(repo: Project) -> None:
    # a new python arrives while helper moves: the move is in the old variants only
    repo.config.write_text(
        repo.config.read_text().replace('python = ["3.11", "3.12"]', 'python = ["3.11", "3.12", "3.13"]')
    )
    repo.write("inputs/base.in", "app\nhelper==2.0\n")
    assert repo.run("compile").exit_code == 0
    lines = repo.run("diff").output.splitlines()
    assert "helper 1.0 → 2.0 in all py311 variants, all py312 variants" in lines, lines
    assert not any("in all variants" in line for line in lines)


@pytest.mark.parametrize("where", [0, 20, 63])
def test_hash_change_without_version_change_is_loud(repo: Project, where: int) -> None:
    lock = repo.lock("py312-cpu")
    text = lock.read_text()
    start = text.index('sha256 = "', text.index('name = "helper"')) + len('sha256 = "')
    old = text[start : start + 64]
    at = start + where
    lock.write_text(text[:at] + ("f" if text[at] != "f" else "e") + text[at + 1 :])
    new = lock.read_text()[start : start + 64]
    data = diff_json(repo)
    assert [(h["package"], h["version"], h["variants"]) for h in data["hash_changes"]] == [
        ("helper", "1.0", ["py312-cpu"])
    ]
    assert data["hash_changes"][0]["artifact"] == "helper-1.0-py3-none-any.whl"
    text_out = repo.run("diff").output
    assert text_out.startswith("!! ARTIFACTS CHANGED HASH WITHOUT A VERSION CHANGE")
    # both hashes shown far enough to tell apart, not the same 12 characters twice
    shown = re.search(r"helper-1\.0-py3-none-any\.whl (\S+) → (\S+) in", text_out)
    assert shown and shown[1] != shown[2], text_out
    assert old.startswith(shown[1].rstrip("…")) and new.startswith(shown[2].rstrip("…"))
    md = repo.run("diff", "--format", "markdown").output
    assert md.index("[!CAUTION]") < md.index(f"| helper | 1.0 | `helper-1.0-py3-none-any.whl` | `{old}` | `{new}` |")


def test_a_renamed_variant_is_compared_under_its_new_name(repo: Project) -> None:
    # cu124 is called cuda124 now, and helper moves on with the rename: the review sees a
    # rename and the version change in it, not a variant gone and another come.
    repo.config.write_text(repo.config.read_text().replace("[accelerators.cu124]", "[accelerators.cuda124]"))
    repo.write("inputs/cu124.in", "torch==2.6.*\nhelper==2.0\n")
    repo.write("inputs/base.in", "app\nhelper\n")
    assert repo.run("compile", "--prune").exit_code == 0
    data = diff_json(repo)
    assert data["variants"] == {
        "added": [],
        "removed": [],
        "renamed": [{"old": "py311-cu124", "new": "py311-cuda124"}, {"old": "py312-cu124", "new": "py312-cuda124"}],
    }
    assert data["changed"] == [
        {
            "package": "helper",
            "old": "1.0",
            "new": "2.0",
            "downgrade": False,
            "variants": ["py311-cuda124", "py312-cuda124"],
        }
    ]
    assert "variant renamed: py311-cu124 → py311-cuda124" in repo.run("diff").output
    # A new accelerator for the same CUDA beside the old one is no rename: both stay.
    repo.config.write_text(
        repo.config.read_text() + f'\n[accelerators.cu124]\ncuda = "12.4"\ninputs = ["inputs/cu124.in"]\n'
        f'extra-index-urls = ["{repo.indexes.cu124}"]\n'
    )
    assert repo.run("compile").exit_code == 0
    data = diff_json(repo)
    assert data["variants"]["renamed"] == [] and data["variants"]["added"] == ["py311-cuda124", "py312-cuda124"]


def test_a_cpu_variant_replaced_by_an_overlay_of_a_base_image_is_no_rename(repo: Project) -> None:
    """Same python, platform and no CUDA, but one installs on a base image and the other
    into a bare venv: a reviewer must see one go and the other come."""
    lock = pylock.read(repo.lock("py312-cpu"))
    assert lock is not None
    repo.write("bases/image.txt", f"numpy=={lock.versions['numpy']}\n")
    repo.config.write_text(
        repo.config.read_text().replace("[accelerators.cpu]", '[accelerators.image]\nbase = "bases/image.txt"')
    )
    result = repo.run("compile", "--prune")
    assert result.exit_code == 0, result.output
    variants = diff_json(repo)["variants"]
    assert variants["renamed"] == []
    assert variants["removed"] == ["py311-cpu", "py312-cpu"] and variants["added"] == ["py311-image", "py312-image"]


def test_diff_when_locks_are_new_at_ref(project: Project) -> None:
    project.write("README", "x\n")
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "README")
    git(project.root, "commit", "-qm", "first")
    assert project.run("compile").exit_code == 0
    data = diff_json(project)
    assert data["variants"]["added"] == ["py311-cpu", "py311-cu124", "py312-cpu", "py312-cu124"]
    bad = project.run("diff", "--base", "no-such-ref")
    assert bad.exit_code == 2 and bad.output.strip().endswith("'no-such-ref' is not a commit of the git repository at "
                                                             f"{project.root.resolve()}"), bad.output  # fmt: skip


@pytest.mark.parametrize("moved", ["locks-dir", "config file", "whole project"])
def test_a_change_that_moves_the_locks_is_compared_with_where_they_were(repo: Project, moved: str) -> None:
    """Read from today's folder at the base, the old side held no locks: every variant
    showed as added, none removed, and the bump made in the same change went unseen."""
    inputs = repo.root / "inputs" / "base.in"
    if moved == "whole project":  # into a subfolder (a name git quotes unless asked not to)
        (repo.root / "své").mkdir()
        git(repo.root, "mv", "lockgen.toml", "inputs", "locks", "své/")
        config_arg = ["--config", str(repo.root / "své" / "lockgen.toml")]
        inputs = repo.root / "své" / "inputs" / "base.in"
    else:
        git(repo.root, "mv", "locks", "lockfiles")
        config = repo.config.read_text()
    if moved == "config file":  # lockgen.toml becomes pyproject.toml's table, naming the new folder
        repo.config.unlink()
        body = config.replace("[accelerators.", "[tool.lockgen.accelerators.")
        repo.write("pyproject.toml", f'[tool.lockgen]\nlocks-dir = "lockfiles"\n{body}')
        config_arg = ["--config", str(repo.root / "pyproject.toml")]
    elif moved == "locks-dir":
        repo.config.write_text(f'locks-dir = "lockfiles"\n{config}')
        config_arg = ["--config", str(repo.config)]
    inputs.write_text("app\nhelper==2.0\n")
    from click.testing import CliRunner

    from lockgen.cli import main

    assert CliRunner().invoke(main, ["compile", *config_arg]).exit_code == 0
    result = CliRunner().invoke(main, ["diff", "--format", "json", *config_arg])
    data = json.loads(result.output)
    assert data["variants"] == {"added": [], "removed": [], "renamed": []}
    assert [(c["package"], c["old"], c["new"]) for c in data["changed"]] == [("helper", "1.0", "2.0")]


@pytest.mark.parametrize("was", ["file", "link"])
def test_diff_where_the_locks_folder_was_a_file_or_a_link_at_the_base(project: Project, was: str) -> None:
    """Not git's ``fatal: not a tree object``: no locks were there, so every lock is new."""
    git(project.root, "init", "-q", "-b", "main")
    if was == "file":
        project.write("locks", "not yet a folder\n")
    else:
        (project.root / "locks").symlink_to("elsewhere")
    git(project.root, "add", "locks")
    git(project.root, "commit", "-qm", "first")
    (project.root / "locks").unlink()
    assert project.run("compile").exit_code == 0
    assert diff_json(project)["variants"]["added"] == ["py311-cpu", "py311-cu124", "py312-cpu", "py312-cu124"]


def test_diff_where_git_cannot_read_the_base_locks_is_an_error_not_every_lock_new(repo: Project) -> None:
    """A corrupt object, or a partial clone cut off from its origin: "every variant
    added" would be a wrong diff that a reviewer believes."""
    tree = subprocess.run(["git", "-C", str(repo.root), "rev-parse", "HEAD:locks"], capture_output=True, text=True)
    (repo.root / ".git" / "objects" / tree.stdout[:2] / tree.stdout.strip()[2:]).unlink()
    result = repo.run("diff")
    assert result.exit_code != 0 and "variant added" not in result.output, result.output
    assert result.output.startswith("error: --base HEAD: git cannot read locks there: "), result.output


def test_a_new_accelerator_stays_on_its_siblings_versions(repo: Project) -> None:
    # Siblings hold helper 1.0; the pin goes, and a new accelerator arrives: 2.0 exists,
    # but nothing forces it, so the newcomer takes its siblings' 1.0.
    repo.write("inputs/base.in", "app\nhelper\n")
    text = (
        repo.config.read_text()
        + f'\n[accelerators.cu126]\ncuda = "12.6"\ninputs = ["inputs/cu126.in"]\nextra-index-urls = ["{repo.indexes.cu126}"]\n'
    )
    repo.config.write_text(text)
    repo.write("inputs/cu126.in", "torch\n")
    result = repo.run("compile", "--details")
    assert result.exit_code == 0, result.output
    assert versions(repo.lock("py312-cu126"))["helper"] == "1.0"
    assert versions(repo.lock("py312-cpu"))["helper"] == "1.0"
    assert versions(repo.lock("py312-cu126"))["torch"] == "2.7.1+cu126"
    # compile reports what differs, and why
    assert re.search(
        r"torch: .*2\.6\.0\+cu124 in py312-cu124 \(required by app 1\.0, inputs/cu124\.in\)", result.output
    )
    # and a new python follows the other python's versions too
    repo.config.write_text(
        repo.config.read_text().replace('python = ["3.11", "3.12"]', 'python = ["3.11", "3.12", "3.13"]')
    )
    assert repo.run("compile").exit_code == 0
    assert versions(repo.lock("py313-cpu"))["helper"] == "1.0"
    assert repo.run("check").exit_code == 0


def test_check_reports_a_difference_nothing_forces(repo: Project) -> None:
    repo.write("inputs/base.in", "app\ntool\n")
    assert repo.run("compile").exit_code == 0
    assert {versions(repo.lock(v))["helper"] for v in ("py312-cpu", "py312-cu124")} == {"1.0"}
    assert repo.run("check").exit_code == 0
    assert repo.run("compile", "-P", "helper", "py312-cpu").exit_code == 0
    assert versions(repo.lock("py312-cpu"))["helper"] == "2.0"
    result = repo.run("check")
    assert result.exit_code == 1
    assert "py312-cu124: helper 1.0 differs from 2.0 in py312-cpu, and nothing forces it" in result.output
    assert all("py311" not in line for line in result.output.splitlines())
    # the remedy it names is one that works
    remedy = re.search(r"\(run: lockgen (compile .*?)\)", result.output)
    assert remedy is not None
    assert repo.run(*remedy[1].split()).exit_code == 0
    assert versions(repo.lock("py312-cu124"))["helper"] == "2.0"
    assert repo.run("check").exit_code == 0


def test_check_names_every_variant_a_difference_holds_back_in_one_run(repo: Project) -> None:
    # Two accelerators of one python stay on helper 1.0 where cpu moved to 2.0: both
    # are named at once, so one round of remedies clears check.
    repo.write("inputs/base.in", "app\ntool\n")
    repo.config.write_text(
        repo.config.read_text()
        + f'\n[accelerators.cu126]\ncuda = "12.6"\ninputs = ["inputs/cu126.in"]\nextra-index-urls = ["{repo.indexes.cu126}"]\n'
    )
    repo.write("inputs/cu126.in", "torch\n")
    assert repo.run("compile").exit_code == 0
    assert repo.run("compile", "-P", "helper", "py312-cpu").exit_code == 0
    result = repo.run("check")
    assert result.exit_code == 1
    held = re.findall(r"^(py312-cu12[46]): helper 1\.0 differs from 2\.0 in py312-cpu", result.output, re.M)
    assert sorted(held) == ["py312-cu124", "py312-cu126"], result.output
    for remedy in re.findall(r"\(run: lockgen (compile .*?)\)", result.output):
        assert repo.run(*remedy.split()).exit_code == 0
    assert repo.run("check").exit_code == 0


def test_check_passes_a_difference_an_index_forces(project: Project, tmp_path: Path) -> None:
    # cu124's extra index carries helper 1.0 only, and uv takes a package from the first
    # index that has it: a fresh compile must pass check, whatever the variants' order.
    from wheelmaker import make_index, make_wheel

    old = make_index(tmp_path / "old", [make_wheel(tmp_path / "files", "helper", "1.0")])
    project.config.write_text(
        project.config.read_text().replace(
            f'extra-index-urls = ["{project.indexes.cu124}"]',
            f'extra-index-urls = ["{project.indexes.cu124}", "{old}"]',
        )
    )
    project.write("inputs/base.in", "app\ntool\n")
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cu124"))["helper"] == "1.0"
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_check_passes_a_difference_a_base_forces(project: Project) -> None:
    project.write("bases/image.txt", "helper==1.0\n")
    project.config.write_text(
        project.config.read_text().replace('cuda = "12.4"', 'cuda = "12.4"\nbase = "bases/image.txt"')
    )
    project.write("inputs/base.in", "app\ntool\n")
    assert project.run("compile").exit_code == 0
    assert versions(project.lock("py312-cu124"))["helper"] == "1.0"
    assert versions(project.lock("py312-cpu"))["helper"] == "2.0"
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_why_prints_the_chains_per_variant(project: Project) -> None:
    project.write("inputs/base.in", "app\ntool\nhelper\n")
    assert project.run("compile").exit_code == 0
    result = project.run("why", "Helper", "--variant", "py312-cpu")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "py312-cpu: helper 2.0",
        "  helper <- inputs/base.in",
        "  helper <- tool <- inputs/base.in",
    ]
    result = project.run("why", "triton")
    assert (
        "py312-cu124: triton 3.2.0\n  triton <- torch <- inputs/cu124.in\n  triton <- torch <- app <- inputs/base.in"
        in result.output
    )
    assert "py312-cpu: not in this lock" in result.output
    assert project.run("why", "nothing-like-it").exit_code == 1
    spec = project.run("why", "helper>=1")  # a requirement, not a name: bad input, not "not in this lock"
    assert spec.exit_code == 2 and "'helper>=1' is not a package name" in spec.output, spec.output
    assert project.run("why", "helper", "--variant", "py27-cpu").exit_code == 2
    globbed = project.run("why", "helper", "--variant", "py312-*")  # a glob, as compile takes
    assert globbed.exit_code == 0, globbed.output
    assert [line for line in globbed.output.splitlines() if not line.startswith(" ")] == [
        "py312-cpu: helper 2.0",
        "py312-cu124: helper 2.0",
    ]


def test_an_export_naming_a_local_project_says_pip_cannot_install_it(project: Project) -> None:
    """pip hash-checks every line once one has a hash, and cannot hash a folder: an
    export with a local project is not installable by pip, and says so."""
    from wheelmaker import make_local_project

    make_local_project(project.root / "libs" / "mine", "mine", "0.3")
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    project.write("inputs/base.in", "tool\n-e ./libs/mine\n")
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    assert "locks/requirements.py312-cpu.txt names a local project (-e ./libs/mine): pip cannot install" in (
        result.output
    )
    text = (project.locks / "requirements.py312-cpu.txt").read_text()
    assert "# pip cannot install this file as it is: it names a local project (-e ./libs/mine)" in text
    assert "lockgen sync installs this variant's pylock" in text
    assert project.run("check").exit_code == 0


def test_an_export_names_a_find_links_folder_from_the_project_and_pip_installs_from_it(
    project: Project, tmp_path: Path
) -> None:
    """uv reads copies of the intent files, where a relative ``-f`` folder is made
    absolute; the export must not carry that path of this machine's (every clone wrote
    its own, and a home folder reached git), and pip, run as its header says, must find
    the folder ("links", as written in inputs/, it did not)."""
    from wheelmaker import make_wheel

    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    make_wheel(project.root / "inputs" / "my links", "local-only", "0.1")
    project.write("inputs/base.in", '-f "my links"\nlocal-only\n')
    minor = f"{sys.version_info[0]}{sys.version_info[1]}"
    if minor not in ("311", "312"):
        pytest.skip("the fixture project locks 3.11 and 3.12")
    assert project.run("compile", f"py{minor}-cpu").exit_code == 0
    text = (project.locks / f"requirements.py{minor}-cpu.txt").read_text()
    assert '\n--find-links "inputs/my links"\n' in text and str(project.root) not in text, text
    said = re.search(r"^#   pip (install --require-hashes -r \S+)$", text, re.M)
    assert said is not None, text
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin/python"), "-m", "pip", "-q", "--isolated", *said[1].split()],
                          cwd=project.root, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_uvs_word_on_an_intent_file_names_the_users_file_and_no_position_in_the_copy(project: Project) -> None:
    """uv reads copies (comments dropped, lines joined): its "at position 0" counted in
    the copy, and pointed the user at the wrong place of their own file."""
    project.write("inputs/base.in", "# a comment\n\n--index-url ${LOCKGEN_TEST_UNSET_VAR}/simple\napp\n")
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 1 and "`inputs/base.in`" in result.output, result.output
    assert "at position" not in result.output and "lockgen-src" not in result.output, result.output


def _resealed(text: str) -> str:
    """An export edited by someone who also computed its content-digest again."""
    rest = re.sub(r"^# content-digest: .*\n", "", text, flags=re.M)
    return re.sub(r"^# content-digest: .*$", f"# content-digest: {hashlib.sha256(rest.encode()).hexdigest()}", text,
                  flags=re.M)  # fmt: skip


EXPORT_EDITS = {
    "a marker pip reads as false here": lambda t: t.replace(
        "helper==2.0 \\", 'helper==2.0 ; sys_platform == "win32" \\'
    ),
    "an extra": lambda t: t.replace("helper==2.0 \\", "helper[more]==2.0 \\"),
    "another index": lambda t: t.replace(
        "helper==2.0 \\", "--extra-index-url https://elsewhere.example/simple\nhelper==2.0 \\"
    ),
    "its seal taken out": lambda t: re.sub(r"^# content-digest: .*\n", "", t, flags=re.M),
    "its seal moved to the end": lambda t: re.sub(r"^(# content-digest: .*\n)((?:.*\n)*)", r"\2\1", t, flags=re.M),
}


@pytest.mark.parametrize("edit", sorted(EXPORT_EDITS))
def test_an_export_edited_by_hand_fails_check_and_compile_writes_it_anew(project: Project, edit: str) -> None:
    """Its pins and hashes still matched the pylock: check passed an export that no longer
    installs helper, or installs from another index."""
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    project.write("inputs/base.in", "tool\n")
    assert project.run("compile").exit_code == 0
    req = project.locks / "requirements.py312-cpu.txt"
    text = req.read_text()
    req.write_text(EXPORT_EDITS[edit](text))
    result = project.run("check")
    assert result.exit_code == 1, result.output
    said = {
        "its seal taken out": "it has no content-digest",
        "its seal moved to the end": "edited since lockgen wrote it (its content-digest line is not where",
    }.get(edit, "edited since lockgen wrote it")
    assert f"locks/requirements.py312-cpu.txt: {said}" in result.output, result.output
    assert project.run("compile").exit_code == 0
    assert req.read_text() == text
    assert project.run("check").exit_code == 0
    if edit.startswith("a marker"):  # its seal computed again: the pylock's markers still tell
        req.write_text(_resealed(EXPORT_EDITS[edit](text)))
        result = project.run("check")
        assert result.exit_code == 1 and "helper's marker is not its pylock's" in result.output, result.output
    elif not edit.startswith("its seal"):  # its seal computed again: only resolving again can tell
        req.write_text(_resealed(EXPORT_EDITS[edit](text)))
        assert project.run("check").exit_code == 0
        result = project.run("check", "--resolve")
        assert result.exit_code == 1, result.output
        assert "requirements.py312-cpu.txt differs from a fresh resolution's export: " in result.output


def test_an_export_an_older_lockgen_wrote_needs_no_seal(project: Project) -> None:
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    assert project.run("compile").exit_code == 0
    lock = project.lock("py312-cpu")
    lock.write_text(writer.sealed(re.sub(r'lockgen-version = "[^"]*"', 'lockgen-version = "0.3.0"', lock.read_text())))
    req = project.locks / "requirements.py312-cpu.txt"
    req.write_text(re.sub(r"^# content-digest: .*\n", "", req.read_text(), flags=re.M))
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_requirements_format_is_installable_with_pip_require_hashes(project: Project, tmp_path: Path) -> None:
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    project.write("inputs/base.in", "tool\n")
    assert project.run("compile").exit_code == 0
    req = project.locks / "requirements.py312-cpu.txt"
    text = req.read_text()
    assert "helper==2.0 \\\n    --hash=sha256:" in text
    assert "# via tool" in text and "lockgen-pins" not in text and "-c " not in text
    assert project.run("check").exit_code == 0
    req.write_text(text.replace("helper==2.0", "helper==1.0"))
    assert "requirements.py312-cpu.txt: edited since lockgen wrote it" in project.run("check").output
    req.write_text(text)
    pylock = project.lock("py312-cpu")
    before = pylock.read_text()
    sha = re.search(r'name = "helper"\n(?:.*\n)*?.*sha256 = "([0-9a-f]{64})"', before)
    assert sha is not None
    pylock.write_text(before.replace(sha[1], "0" * 64))  # a hash edited in one file, not the other
    result = project.run("check")
    assert result.exit_code == 1 and "sha256 in the pylock is not among helper's hashes" in result.output
    pylock.write_text(before)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" not in ("3.11", "3.12"):
        pytest.skip("the fixture project locks 3.11 and 3.12")
    minor = f"{sys.version_info[0]}{sys.version_info[1]}"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # as the file's own header says, from the project's folder
    header = (project.locks / f"requirements.py{minor}-cpu.txt").read_text()
    said = re.search(r"^#   pip (install --require-hashes -r \S+)$", header, re.M)
    assert said is not None, header
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "-q", "--isolated", *said[1].split()], cwd=project.root, check=True
    )
    listing = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    got = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert got["tool"] == "1.0" and got["helper"] == "2.0"


@pytest.mark.parametrize(
    ("old", "new", "down"),
    [
        ("2.2.6", "1.26.4", True),
        ("1.0", "2.0", False),
        ("2.6.0+cu124", "2.6.0+cpu", False),
        ("2.6.0+cu124", "2.5.1+cu124", True),
    ],
)
def test_a_downgrade_is_a_lower_release_not_another_build_of_one(old: str, new: str, down: bool) -> None:
    from lockgen.review.diff import Change

    assert Change(package="torch", old=old, new=new, variants=("v",)).downgrade is down


def test_check_resolve_counts_every_variant_a_missing_lock_among_them(project: Project) -> None:
    """It said "resolved again: 3 of 3" over four variants, one lock gone."""
    assert project.run("compile").exit_code == 0
    project.lock("py312-cpu").unlink()
    result = project.run("check", "--resolve")
    assert result.exit_code == 1, result.output
    assert "resolved again: 3 of 4 locks equal a fresh resolution (1 missing or unreadable: see above)" in result.output


def test_an_export_cut_to_its_header_is_an_edit_not_a_crash(project: Project) -> None:
    """An export whose lines end before the seal's place, its seal computed again, ended
    check in an IndexError."""
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    assert project.run("compile").exit_code == 0
    req = project.locks / "requirements.py312-cpu.txt"
    body = "# cut\n"
    req.write_text(f"# content-digest: {hashlib.sha256(body.encode()).hexdigest()}\n{body}")
    result = project.run("check")
    assert result.exit_code == 1, result.output
    assert "requirements.py312-cpu.txt: edited since lockgen wrote it" in result.output


class _Counted(dict):  # type: ignore[type-arg]
    """A graph that fails a search taking up more than ``budget`` packages' parents."""

    def __init__(self, graph: dict[str, tuple[str, ...]], budget: int) -> None:
        super().__init__(graph)
        self.left = budget

    def _spend(self) -> None:
        self.left -= 1
        assert self.left > 0, "the search took up more of the graph than its answer needs"

    def __getitem__(self, key: str) -> tuple[str, ...]:
        self._spend()
        return super().__getitem__(key)  # type: ignore[no-any-return]

    def get(self, key: str, default: object = None) -> object:
        self._spend()
        return super().get(key, default)


def _lattice(depth: int) -> dict[str, tuple[str, ...]]:
    """leaf <- l{depth-1}{a,b} <- … <- l0{a,b} <- in.in: each package required by both of
    the layer above it, 2^depth chains in all."""
    graph: dict[str, tuple[str, ...]] = {"leaf": (f"l{depth - 1}a", f"l{depth - 1}b")}
    for i in range(depth):
        parents = ("in.in",) if i == 0 else (f"l{i - 1}a", f"l{i - 1}b")
        graph[f"l{i}a"] = graph[f"l{i}b"] = parents
    return graph


def test_chains_in_a_lattice_are_found_without_listing_them_all() -> None:
    """A lock's graph can hold exponentially many chains; why, check's forbid line and
    compile's CUDA explanations asked for a few and listed them all first (a 45-package
    lock: 19 s and 650 MB for why, 10 s for check)."""
    from lockgen.locks import graph

    lattice = _Counted(_lattice(40), budget=20_000)
    shown = graph.chains(lattice, "leaf", limit=10)
    assert len(shown) == 10 and len({tuple(c) for c in shown}) == 10
    assert all(len(c) == 42 and c[0] == "leaf" and c[-1] == "in.in" for c in shown)
    assert shown[0] == ["leaf", *(f"l{i}a" for i in reversed(range(40))), "in.in"]
    assert graph.count_chains(lattice, "leaf") == (2**40, True)


def test_chains_come_shortest_first_and_cycles_are_counted_exactly() -> None:
    from lockgen.locks import graph

    g = {"x": ("a", "b"), "a": ("b", "in.in"), "b": ("a", "c"), "c": ("in.in",)}
    assert graph.chains(g, "x", limit=10) == [
        ["x", "a", "in.in"],
        ["x", "b", "a", "in.in"],
        ["x", "b", "c", "in.in"],
        ["x", "a", "b", "c", "in.in"],
    ]
    assert graph.chains(g, "x", limit=2) == [["x", "a", "in.in"], ["x", "b", "a", "in.in"]]
    assert graph.count_chains(g, "x") == (4, True)
    assert graph.chains(g, "nothing", limit=3) == [] and graph.count_chains(g, "nothing") == (0, True)


def test_why_and_check_answer_at_once_on_a_lock_with_millions_of_chains(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    from conftest import MINOR
    from wheelmaker import make_wheel

    p = Project(tmp_path / "proj", indexes)
    links = p.root / "wheels"
    make_wheel(links, "leaf", "1.0")
    depth = 24
    for i in range(depth):
        below = ["leaf"] if i == depth - 1 else [f"l{i + 1}a", f"l{i + 1}b"]
        make_wheel(links, f"l{i}a", "1.0", below)
        make_wheel(links, f"l{i}b", "1.0", below)
    p.write("lockgen.toml", f'inputs = ["in.in"]\npython = ["{MINOR}"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    p.write("in.in", "l0a\nl0b\n")
    assert p.run("compile").exit_code == 0
    result = p.run("why", "leaf")
    assert result.exit_code == 0, result.output
    assert result.output.count("leaf <- l23a <- l22a") == 10 and f"… and {2**depth - 10} more chains" in result.output
    p.config.write_text('forbid = ["leaf"]\n' + p.config.read_text())
    check = p.run("check")
    assert check.exit_code == 1
    assert "forbidden: leaf <- l23a <- l22a <- " in check.output


def test_a_label_change_alone_is_a_lock_change(repo: Project) -> None:
    """gpu-archs narrowed: no package moves, but another lock now reaches a V100. diff
    had said "no lock changes"."""
    repo.config.write_text(
        repo.config.read_text().replace('cuda = "12.4"', 'cuda = "12.4"\ngpu-archs = ["8.0", "9.0"]')
    )
    assert repo.run("compile").exit_code == 0
    data = diff_json(repo)
    assert data["changed"] == data["added"] == data["removed"] == data["otherwise"] == []
    [label] = data["labels"]
    assert label["key"] == "gpu-archs" and label["new"] == ["8.0", "9.0"] and len(label["old"]) > 2
    assert label["variants"] == ["py311-cu124", "py312-cu124"]
    text = repo.run("diff").output
    assert "no lock changes" not in text
    assert f"label gpu-archs: {', '.join(label['old'])} → 8.0, 9.0 in py311-cu124, py312-cu124" in text.splitlines()
    md = repo.run("diff", "--format", "markdown").output
    assert "No lock changes" not in md and "| `gpu-archs` |" in md


def _swap_wheel(lock: Path, package: str, filename: str, url: str, sha: str) -> str:
    text = lock.read_text()
    start = text.index(f'name = "{package}"')
    end = text.index("\n\n", start)
    body = re.sub(r'url = "[^"]+"', f'url = "{url}"', text[start:end], count=1)
    body = re.sub(r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{sha}"', body, count=1)
    old_name = re.search(r"/([^/\"]+\.whl)\"", text[start:end])
    assert old_name, text[start:end]
    lock.write_text(text[:start] + body + text[end:])
    return old_name[1]


def test_another_file_under_an_unchanged_version_is_loud(repo: Project) -> None:
    """helper 1.0's wheel swapped for another file at another host, same version: the
    hash compare saw no file name on both sides and said nothing."""
    lock = repo.lock("py312-cpu")
    old = _swap_wheel(lock, "helper", "", "https://evil.example/helper-1.0-1-py3-none-any.whl", "ab" * 32)
    data = diff_json(repo)
    changes = {(f["artifact"], f["old"] is None, f["new"] is None) for f in data["file_changes"]}
    assert changes == {("helper-1.0-1-py3-none-any.whl", True, False), (old, False, True)}
    text = repo.run("diff").output
    assert text.startswith("!! FILES OF AN UNCHANGED VERSION CHANGED")
    assert "!! helper 1.0: + helper-1.0-1-py3-none-any.whl from https://evil.example/" in text
    assert f"!! helper 1.0: - {old} in py312-cpu" in text
    assert "[!CAUTION]" in repo.run("diff", "--format", "markdown").output


def test_other_bytes_from_another_host_name_the_host(repo: Project) -> None:
    """The tampering case: the URL moved to another host and the hash changed with it.
    Only the hash change was reported, naming no host."""
    lock = repo.lock("py312-cpu")
    text = lock.read_text()
    start = text.index('name = "helper"')
    url = re.search(r'url = "([^"]+)"', text[start:])
    sha = re.search(r'sha256 = "([0-9a-f]{64})"', text[start:])
    assert url and sha
    lock.write_text(
        text.replace(url[1], "https://evil.example/helper-1.0-py3-none-any.whl", 1).replace(sha[1], "ab" * 32)
    )
    data = diff_json(repo)
    assert [h["package"] for h in data["hash_changes"]] == ["helper"]
    assert [f["new"] for f in data["file_changes"]] == ["https://evil.example/helper-1.0-py3-none-any.whl"]
    assert "moved: " in repo.run("diff").output and "evil.example" in repo.run("diff").output


def test_the_same_file_from_another_place_is_a_change(repo: Project) -> None:
    lock = repo.lock("py312-cpu")
    text = lock.read_text()
    start = text.index('name = "helper"')
    url = re.search(r'url = "([^"]+)"', text[start:])
    assert url
    moved = "https://mirror.example/" + url[1].rsplit("/", 1)[1]
    lock.write_text(text.replace(url[1], moved, 1))
    [change] = diff_json(repo)["file_changes"]
    assert (change["old"], change["new"]) == (url[1], moved)
    assert f"moved: {url[1]} → {moved} in py312-cpu" in repo.run("diff").output


def test_a_lock_changed_only_otherwise_is_not_called_unchanged(repo: Project) -> None:
    lock = repo.lock("py312-cpu")
    text = lock.read_text()
    start = text.index('name = "helper"')
    at = text.index("\n", text.index("version = ", start))
    lock.write_text(text[:at] + "\nmarker = \"sys_platform == 'win32'\"" + text[at:])
    data = diff_json(repo)
    assert data["otherwise"] == [{"variant": "py312-cpu", "what": ["markers"]}]
    assert "py312-cpu: changed otherwise (markers): see git diff" in repo.run("diff").output


def test_an_unreadable_lock_at_the_base_is_named_and_the_rest_compared(repo: Project) -> None:
    """A merge's conflict markers committed to main: the pull request repairing them
    could not be diffed at all."""
    lock = repo.lock("py312-cpu")
    good = lock.read_text()
    lock.write_text("<<<<<<< HEAD\n" + good)
    git(repo.root, "commit", "-qam", "broken")
    lock.write_text(good)
    repo.write("inputs/base.in", "app\nhelper==2.0\n")
    assert repo.run("compile").exit_code == 0
    data = diff_json(repo)
    [(variant, reason)] = [(u["variant"], u["reason"]) for u in data["unreadable"]]
    assert variant == "py312-cpu" and "HEAD:" in reason
    assert data["changed"][0]["variants"] == ["py311-cpu", "py311-cu124", "py312-cu124"]
    assert "py312-cpu" not in data["variants"]["added"]
    text = repo.run("diff").output
    assert "unreadable at HEAD, not compared: py312-cpu: " in text
    assert "helper 1.0 → 2.0 in all py311 variants, py312-cu124" in text, text  # not "all variants"


def test_the_export_carries_the_markers_its_pylock_keeps(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """uv writes ``python_full_version < '3.11.5'`` into a py3.11 pylock and nothing into
    the requirements form: pip installed oldpy from the export on a 3.11.7 the pylock
    (and sync) leave it out of. An export written before markers were carried is stale."""
    from wheelmaker import make_index, make_wheel

    files = tmp_path / "files"
    index = make_index(tmp_path / "simple", [
        make_wheel(files, "app", "1.0", [f"oldpy; python_full_version < '{MINOR}.5'"]), make_wheel(files, "oldpy", "1.0"),
    ])  # fmt: skip
    p = Project(tmp_path / "proj", indexes)
    p.write("lockgen.toml", f'inputs = ["in.in"]\npython = ["{MINOR}"]\nindex-url = "{index}"\n'
                            'formats = ["pylock", "requirements"]\n[accelerators.cpu]\n')  # fmt: skip
    p.write("in.in", "app\n")
    assert p.run("compile").exit_code == 0
    variant = f"py{MINOR.replace('.', '')}-cpu"
    marker = f'python_full_version < "{MINOR}.5"'
    assert pylock.read(p.lock(variant)).markers.get("oldpy") == marker  # type: ignore[union-attr]
    export = p.locks / f"requirements.{variant}.txt"
    assert f"oldpy==1.0 ; {marker} \\\n" in export.read_text()
    assert p.run("check").exit_code == 0
    export.write_text(_resealed(export.read_text().replace(f" ; {marker}", "")))  # as lockgen 0.4.0 wrote it
    check = p.run("check")
    assert check.exit_code == 1 and "oldpy's marker is not its pylock's" in check.output, check.output
    assert p.run("compile").exit_code == 0
    assert f"oldpy==1.0 ; {marker} \\\n" in export.read_text() and p.run("check").exit_code == 0


def test_an_export_from_another_compile_is_written_anew_by_compile(project: Project) -> None:
    """An export restored from git (or left by a compile killed between its two renames,
    or taken from the other side of a merge) has a valid seal and another pylock's pins.
    check said "run: lockgen compile", and compile called the variant up to date."""
    project.config.write_text('formats = ["pylock", "requirements"]\n' + project.config.read_text())
    project.write("inputs/base.in", "helper==1.0\n")
    assert project.run("compile").exit_code == 0
    export = project.locks / "requirements.py312-cpu.txt"
    older = export.read_text()
    project.write("inputs/base.in", "helper==2.0\n")
    assert project.run("compile").exit_code == 0
    newer = export.read_text()
    export.write_text(older)
    check = project.run("check")
    assert check.exit_code == 1
    assert "locks/requirements.py312-cpu.txt: does not match its pylock (run: lockgen compile py312-cpu)" in (
        check.output
    )
    result = project.run("compile", "py312-cpu")
    assert result.exit_code == 0, result.output
    assert export.read_text() == newer and project.run("check").exit_code == 0


def test_an_unreadable_lock_at_the_base_that_is_gone_now_is_a_removed_variant(repo: Project) -> None:
    lock = repo.lock("py312-cpu")
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text())
    git(repo.root, "commit", "-qam", "broken")
    repo.config.write_text(repo.config.read_text().replace('python = ["3.11", "3.12"]', 'python = ["3.11"]'))
    assert repo.run("compile", "--prune").exit_code == 0
    data = diff_json(repo)
    assert "py312-cpu" in data["variants"]["removed"] and data["unreadable"] == []


def test_why_says_there_are_more_chains_past_a_cycle_it_cannot_count() -> None:
    """Layers of three, each package needing the layer below it and the one above:
    hundreds of thousands of simple chains, counted one by one until the count gives up.
    why listed ten and said nothing of the rest."""
    from lockgen.locks import graph
    from lockgen.review import why

    layers = [[f"l{i}{c}" for c in "abc"] for i in range(8)]
    g: dict[str, tuple[str, ...]] = {}
    for i, layer in enumerate(layers):
        below = layers[i + 1] if i + 1 < len(layers) else []
        above = layers[i - 1] if i else ["in.in"]
        for name in layer:
            g[name] = tuple(sorted({*above, *below}))
    assert graph.count_chains(g, "l4b")[1] is False
    lines = why.chain_lines(g, "l4b")
    assert len(lines) == 11 and lines[-1] == "  … and perhaps more chains: through a cycle, too many ways to count"
    assert why.chain_lines(g, "l0a")[:1] == ["  l0a <- in.in"]
    # among chains of one length, those through names earlier in the alphabet first
    s = {"s": ("a", "b"), "a": ("c",), "b": ("c", "x.in"), "c": ("x.in",)}
    assert graph.chains(s, "s", limit=3) == [["s", "b", "x.in"], ["s", "a", "c", "x.in"], ["s", "b", "c", "x.in"]]


def test_a_lock_written_by_another_lockgen_version_alone_is_no_change(repo: Project) -> None:
    from lockgen.locks import writer

    lock = repo.lock("py312-cpu")
    text = re.sub(r"^(# Generated by lockgen )\S+", r"\g<1>9.9.9", lock.read_text(), flags=re.M)
    lock.write_text(writer.sealed(re.sub(r'^lockgen-version = ".*"$', 'lockgen-version = "9.9.9"', text, flags=re.M)))
    assert repo.run("diff").output.strip() == "no lock changes since HEAD"


def test_a_wheel_written_by_path_alone_has_its_hashes_under_its_own_name() -> None:
    """Pooled under no name, a hash swapped between two such wheels passed check."""
    from lockgen.locks import graph

    a, b = "a" * 64, "b" * 64
    export = (f"-e ./libs/x\n    # via -r in.in\n../../vendor/vend2-1.0-py3-none-any.whl \\\n    --hash=sha256:{a}\n"
              f"../../vendor/vend3-1.0.tar.gz \\\n    --hash=sha256:{b}\n")  # fmt: skip
    assert graph.hashes(export) == {"vend2": {a}, "vend3": {b}}

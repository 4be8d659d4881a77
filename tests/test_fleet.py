"""Fleets and base images: a wheelhouse that installs with no network, and an
overlay that leaves a preinstalled environment's packages untouched."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MINOR, Project
from httpindex import Files, serve, write_page
from wheelmaker import make_wheel

from lockgen import uv
from lockgen.install import dists
from lockgen.locks import pylock, writer

TAG = "py" + MINOR.replace(".", "")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, type[Files], http.server.ThreadingHTTPServer]]:
    """An HTTP index of fixture wheels: app→helper, tool→helper, big (2 MB), localv 1.0+cu128."""
    root = tmp_path / "www"
    wheels = root / "files"
    built = [
        make_wheel(wheels, "app", "1.0", ["helper"]),
        make_wheel(wheels, "tool", "1.0", ["helper"]),
        make_wheel(wheels, "helper", "1.0"),
        make_wheel(wheels, "big", "1.0", payload="x = '" + "0123456789abcdef" * 131072 + "'\n"),
        make_wheel(wheels, "localv", "1.0+cu128"),  # a local version: %2B in its URL
    ]
    for w in built:
        project = w.name.split("-")[0].replace("_", "-")
        write_page(root, project, [w])
    with serve(root) as (url, handler, server):
        yield f"{url}/simple", handler, server


@pytest.fixture
def fleet(tmp_path: Path, indexes, served) -> Project:  # type: ignore[no-untyped-def]
    """Two variants (cpu, gpu) that share helper; locks point at the HTTP index."""
    url, _, _ = served
    p = Project(tmp_path / "proj", indexes)
    p.write(
        "lockgen.toml",
        f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nindex-url = "{url}"\n'
        '[accelerators.cpu]\ninputs = ["inputs/cpu.in"]\n[accelerators.gpu]\ncuda = "12.8"\ninputs = ["inputs/gpu.in"]\n',
    )
    p.write("inputs/base.in", "app\n")
    p.write("inputs/cpu.in", "tool\n")
    p.write("inputs/gpu.in", "big\nlocalv\n")
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    return p


def test_a_wheelhouse_holds_each_file_once_checked_and_serves_uv_and_pip(fleet: Project, tmp_path: Path) -> None:
    house = tmp_path / "house"
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in house.iterdir() if p.suffix == ".whl")
    assert names == ["app-1.0-py3-none-any.whl", "big-1.0-py3-none-any.whl", "helper-1.0-py3-none-any.whl",
                     "localv-1.0+cu128-py3-none-any.whl", "tool-1.0-py3-none-any.whl"]  # fmt: skip
    assert "5 files" in result.output and f"{TAG}-cpu" in result.output and f"{TAG}-gpu" in result.output
    assert (house / "simple" / "helper" / "index.html").read_text().count("helper-1.0") == 2  # href and text
    # Plain uv, and a recent pip, install from it with no index at all.
    venv = tmp_path / "plain"
    subprocess.run([uv.binary(), "venv", "-q", "--seed", str(venv), "--python", sys.executable], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", py, "--no-index", "--find-links", str(house),
                    "app==1.0"], check=True)  # fmt: skip
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(house), "tool==1.0"],
                   check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})  # fmt: skip
    subprocess.run([py, "-m", "pip", "install", "-q", "--index-url", (house / "simple").as_uri(),
                    "big==1.0"], check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})  # fmt: skip
    got = dists.versions(dists.scan(sorted((venv / "lib").glob("python*/site-packages"))))
    assert {got[n] for n in ("app", "helper", "tool", "big")} == {"1.0"}


def test_a_wheelhouse_serves_the_requirements_export_with_its_hashes(fleet: Project, tmp_path: Path) -> None:
    """What the README offers for installing a whole lock without lockgen: the export."""
    fleet.config.write_text('formats = ["pylock", "requirements"]\n' + fleet.config.read_text())
    assert fleet.run("compile").exit_code == 0
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    venv = tmp_path / "plain"
    subprocess.run([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable], check=True)
    export = fleet.locks / f"requirements.{TAG}-cpu.txt"
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(house), "--require-hashes", "-r", str(export)], check=True)  # fmt: skip
    got = dists.versions(dists.scan(sorted((venv / "lib").glob("python*/site-packages"))))
    assert got == {"app": "1.0", "helper": "1.0", "tool": "1.0"}


def test_a_second_run_fetches_nothing_and_a_corrupt_file_is_fetched_again(
    fleet: Project, tmp_path: Path, served
) -> None:  # type: ignore[no-untyped-def]
    _, handler, _ = served
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    handler.requests.clear()
    again = fleet.run("wheelhouse", str(house))
    assert again.exit_code == 0 and "0 fetched" in again.output and "5 already there" in again.output
    assert handler.requests == []
    helper = house / "helper-1.0-py3-none-any.whl"
    good = helper.read_bytes()
    helper.write_bytes(good[:-10] + b"corrupted!")  # same size, other bytes
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 0 and "1 fetched" in result.output
    assert helper.read_bytes() == good


def test_an_interrupted_download_resumes_where_it_stopped(fleet: Project, tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    _, handler, _ = served
    house = tmp_path / "house"
    handler.cut["big-1.0-py3-none-any.whl"] = 500_000
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 1 and "big-1.0-py3-none-any.whl" in result.output and "resumes" in result.output
    assert not (house / "big-1.0-py3-none-any.whl").exists(), "a file in the folder is always whole"
    assert (house / "big-1.0-py3-none-any.whl.lockgen-part").stat().st_size == 500_000
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 0, result.output
    assert ("big-1.0-py3-none-any.whl", "bytes=500000-") in handler.requests
    lock = pylock.read(fleet.lock(f"{TAG}-gpu"))
    assert lock is not None
    big = next(a for a in lock.artifacts() if a.package == "big")
    assert hashlib.sha256((house / big.filename).read_bytes()).hexdigest() == big.sha256


def test_a_missing_lock_is_bad_input_for_wheelhouse_and_a_warning_for_select(fleet: Project, tmp_path: Path) -> None:
    fleet.lock(f"{TAG}-gpu").unlink()
    result = fleet.run("wheelhouse", str(tmp_path / "house"))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: locks/pylock.{TAG}-gpu.toml: no lock for {TAG}-gpu"), result.output
    assert not (tmp_path / "house").exists()
    result = fleet.run("select", env={"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "8.0"})
    assert result.exit_code == 0
    assert f"warning: locks/pylock.{TAG}-gpu.toml does not exist yet (run: lockgen compile {TAG}-gpu)" in result.output
    as_json = fleet.run("select", "--json", env={"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "8.0"})
    assert as_json.exit_code == 0 and f"warning: locks/pylock.{TAG}-gpu.toml does not exist yet" in as_json.stderr
    assert json.loads(as_json.stdout)["variant"] == f"{TAG}-gpu"  # the JSON itself untouched


def test_sync_from_a_wheelhouse_needs_no_network(fleet: Project, tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    _, _, server = served
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    server.shutdown()
    server.server_close()  # the index is gone: its port is closed
    env = {"UV_CACHE_DIR": str(tmp_path / "empty-cache")}  # and nothing is cached
    result = fleet.run("sync", "--wheelhouse", str(house), env=env)
    assert result.exit_code == 0, result.output
    site = sorted((fleet.root / ".venv" / "lib").glob("python*/site-packages"))
    assert dists.versions(dists.scan(site)) == {"app": "1.0", "helper": "1.0", "tool": "1.0"}
    assert fleet.run("verify").exit_code == 0


def test_a_local_version_quoted_in_its_url_is_kept_under_its_real_file_name(  # type: ignore[no-untyped-def]
    fleet: Project, tmp_path: Path, served
) -> None:
    """PyTorch's index links torch-2.8.0%2Bcu128-….whl: the wheelhouse file must be named
    torch-2.8.0+cu128-….whl, or no installer takes it (an invalid version)."""
    url = pylock.read(fleet.lock(f"{TAG}-gpu")).text  # type: ignore[union-attr]
    assert "localv-1.0%2Bcu128-py3-none-any.whl" in url
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    assert (house / "localv-1.0+cu128-py3-none-any.whl").is_file()
    assert not list(house.glob("*%2B*"))
    _, _, server = served
    server.shutdown()
    server.server_close()
    target = tmp_path / "env"
    subprocess.run([uv.binary(), "venv", "-q", str(target), "--python", sys.executable], check=True)
    for source in (["--find-links", str(house)], ["--index-url", (house / "simple").as_uri()]):
        subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(target / "bin/python"), "--no-index"
                        if source[0] == "--find-links" else "--offline", *source, "--reinstall", "localv==1.0+cu128"],
                       check=True, env={**os.environ, "UV_CACHE_DIR": str(tmp_path / f"cache{len(source[1])}")})  # fmt: skip
    env = {"UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    result = fleet.run("sync", "--variant", f"{TAG}-gpu", "--wheelhouse", str(house), env=env)
    assert result.exit_code == 0, result.output
    site = sorted((fleet.root / ".venv" / "lib").glob("python*/site-packages"))
    assert dists.versions(dists.scan(site))["localv"] == "1.0+cu128"


@pytest.mark.parametrize(
    "quoted", ["..%2F..%2Fescaped.tar.gz", "..%2Fescaped.tar.gz", "..", "x%00.tar.gz", "a%5Cb.tar.gz"]
)
def test_a_url_whose_unquoted_name_is_no_plain_file_name_is_refused(
    fleet: Project, tmp_path: Path, quoted: str
) -> None:
    """A file's name comes from its URL, unquoted: one that unquotes to a path would make
    the wheelhouse write outside its folder. packaging checks a wheel's or sdist's name,
    not an archive's. The lock is bad input, and nothing is written."""
    path = fleet.lock(f"{TAG}-cpu")
    text = path.read_text()
    wheels = re.search(
        r'^wheels = \[\{ url = "(?P<url>[^"]*/)tool-1.0-py3-none-any.whl", (?P<hashes>.*) \}\]$', text, re.M
    )
    assert wheels is not None
    archive = f'archive = {{ url = "{wheels["url"]}{quoted}", {wheels["hashes"]} }}'
    path.write_text(writer.sealed(text[: wheels.start()] + archive + text[wheels.end() :]))
    house = tmp_path / "deep" / "house"
    for argv in (["wheelhouse", str(house)], ["check"]):
        result = fleet.run(*argv)
        assert result.exit_code == (2 if argv[0] == "wheelhouse" else 1), result.output
        assert f"pylock.{TAG}-cpu.toml: packages: tool: archive" in result.output, result.output
        assert "does not name a file" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "escaped.tar.gz").exists() and not (tmp_path / "deep" / "escaped.tar.gz").exists()
    assert not house.exists() or not any(p for p in house.rglob("*") if p.is_file() and "tar" in p.name)


def test_a_wheelhouse_for_a_local_project_says_its_build_backend_is_not_in_it(fleet: Project, tmp_path: Path) -> None:
    from wheelmaker import make_local_project

    make_local_project(fleet.root / "mylib", "mylib", "0.1", ["helper"])
    fleet.write("inputs/cpu.in", "tool\n-e ./mylib\n")
    assert fleet.run("compile").exit_code == 0
    result = fleet.run("wheelhouse", str(tmp_path / "house"))
    assert result.exit_code == 0, result.output
    assert "warning: the locks install local projects (mylib)" in result.stderr
    assert "in the wheelhouse only where the inputs name them" in result.stderr


def test_a_wheelhouse_never_replaces_index_pages_it_did_not_write(fleet: Project, tmp_path: Path) -> None:
    """A mirror folder already serving other projects under DIR/simple/ lost them all to
    the index wheelhouse rewrites whole; a link there failed with no path named."""
    house = tmp_path / "mirror"
    theirs = house / "simple" / "otherpkg" / "index.html"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("<a href='../../otherpkg-1.0.tar.gz'>otherpkg-1.0.tar.gz</a>\n")
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 2, result.output
    assert f"error: {house / 'simple'}: holds what this wheelhouse did not write (otherpkg)" in result.output
    assert theirs.is_file() and not list(house.glob("*.whl"))  # nothing fetched, nothing lost
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "simple").symlink_to(house / "simple")
    result = fleet.run("wheelhouse", str(linked))
    assert result.exit_code == 2 and f"error: {linked / 'simple'}: is not a folder" in result.output, result.output
    theirs.parent.parent.joinpath("index.html").write_text("")  # its root page alone is lockgen's to rewrite
    theirs.parent.rename(tmp_path / "moved")
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    (house / "simple" / ".DS_Store").write_bytes(b"\0")  # Finder's: no page, nobody's to refuse
    (house / "simple" / ".well-known").mkdir()  # a web server's: no page, nor lockgen's to remove
    page = next(p for p in (house / "simple").iterdir() if p.is_dir() and p.name[0] != ".")
    (page / ".lockgen-index.html.1234.tmp").write_text("<a")  # what a write killed midway leaves
    assert fleet.run("wheelhouse", str(house)).exit_code == 0, "a second run rewrites its own pages"
    pages = sorted(p.name for p in (house / "simple").iterdir() if p.is_dir() and p.name[0] != ".")
    root = (house / "simple" / "index.html").read_text()
    assert pages and all(f'<a href="{name}/">' in root for name in pages), (pages, root)
    assert [p.name for p in page.iterdir()] == ["index.html"]
    assert (house / "simple" / ".well-known").is_dir()


def test_a_missing_or_corrupt_wheelhouse_file_is_named_and_nothing_changes(fleet: Project, tmp_path: Path) -> None:
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    (house / "tool-1.0-py3-none-any.whl").unlink()
    result = fleet.run("sync", "--wheelhouse", str(house))
    assert result.exit_code == 1
    assert "missing: tool-1.0-py3-none-any.whl" in result.output and "Nothing was changed" in result.output
    assert not (fleet.root / ".venv").exists()
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    helper = house / "helper-1.0-py3-none-any.whl"
    helper.write_bytes(helper.read_bytes()[:-1])
    result = fleet.run("sync", "--wheelhouse", str(house))
    assert result.exit_code == 1 and "corrupt: helper-1.0-py3-none-any.whl" in result.output
    assert not (fleet.root / ".venv").exists()


# --- base environments ----------------------------------------------------------


@pytest.fixture
def image(tmp_path: Path, indexes) -> tuple[Project, Path]:  # type: ignore[no-untyped-def]
    """A "base image" venv with basepkg 2.3.4 and a stray package, and a project on it."""
    links = tmp_path / "proj" / "wheels"
    make_wheel(links, "basepkg", "2.3.4", payload="VERSION = '2.3.4'\n")
    make_wheel(links, "basepkg", "2.4.0")
    make_wheel(links, "needs-any", "1.0", ["basepkg>=2.3"])
    make_wheel(links, "needs-new", "1.0", ["basepkg>=2.4"])
    make_wheel(links, "stray", "1.0")
    venv = tmp_path / "image"
    subprocess.run([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable], check=True)
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(links), "basepkg==2.3.4", "stray==1.0"], check=True)  # fmt: skip
    p = Project(tmp_path / "proj", indexes)
    p.write("bases/image.txt", "basepkg==2.3.4\nstray==1.0\n")
    p.write(
        "lockgen.toml",
        f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nindex-url = "{indexes.pypi}"\nfind-links = ["wheels"]\n'
        '[accelerators.cpu]\nbase = "bases/image.txt"\n',
    )
    p.write("inputs/base.in", "needs-any\n")
    return p, venv


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def test_an_overlay_installs_what_the_base_lacks_and_touches_nothing_else(image: tuple[Project, Path]) -> None:
    p, venv = image
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    lock = pylock.read(p.lock(f"{TAG}-cpu"))
    assert lock is not None and lock.versions["basepkg"] == "2.3.4"
    assert lock.meta["base"] == "bases/image.txt" and lock.meta["base-packages"] == ["basepkg"]
    site = _site(venv)
    before = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in site.rglob("*") if f.is_file() and "basepkg" in str(f)}
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    changes = [line for line in result.output.splitlines() if line[:2] in ("+ ", "~ ", "! ", "- ")]
    assert changes == ["+ needs-any==1.0"]
    assert "kept (the base environment's, as it has them): basepkg" in result.output
    after = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in site.rglob("*") if f.is_file() and "basepkg" in str(f)}
    assert after == before, "the base's files are byte-identical and untouched"
    assert dists.versions(dists.scan([site])) == {"basepkg": "2.3.4", "stray": "1.0", "needs-any": "1.0"}
    assert p.run("verify", "--python", str(venv)).exit_code == 0


def test_a_lock_that_needs_another_base_version_fails_naming_it_and_its_requirer(image: tuple[Project, Path]) -> None:
    p, _ = image
    p.write("inputs/base.in", "needs-new\n")
    result = p.run("compile")
    assert result.exit_code == 1
    assert "basepkg 2.3.4 (the base) would have to be 2.4.0: basepkg 2.4.0 <- needs-new 1.0 <- inputs/base.in" in (
        result.output
    )
    assert not p.lock(f"{TAG}-cpu").exists()


def test_a_target_whose_base_drifted_is_refused_and_unchanged(image: tuple[Project, Path]) -> None:
    p, venv = image
    assert p.run("compile").exit_code == 0
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(p.root / "wheels"), "basepkg==2.4.0"], check=True)  # fmt: skip
    before = dists.versions(dists.scan([_site(venv)]))
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 1
    assert "basepkg is 2.4.0 (the base file says 2.3.4)" in result.output and "Nothing was changed" in result.output
    assert dists.versions(dists.scan([_site(venv)])) == before


def test_a_base_package_the_lock_does_not_use_counts_too(image: tuple[Project, Path]) -> None:
    """The lock was resolved with every pin of the base file as a constraint: a target
    missing one the lock does not hold (stray) is not the base environment either."""
    p, venv = image
    assert p.run("compile").exit_code == 0
    assert p.run("sync", "--python", str(venv)).exit_code == 0
    subprocess.run([uv.binary(), "pip", "uninstall", "-q", "--python", str(venv / "bin/python"), "stray"], check=True)
    before = dists.versions(dists.scan([_site(venv)]))
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 1, result.output
    assert "stray is not installed (the base file says 1.0)" in result.output and "Nothing was changed" in result.output
    assert dists.versions(dists.scan([_site(venv)])) == before
    checked = p.run("verify", "--python", str(venv))
    assert checked.exit_code == 1
    assert "not the base environment: stray is not installed (the base file says 1.0)" in checked.output


@pytest.mark.parametrize("first", [True, False])
def test_an_image_package_the_lock_does_not_hold_is_the_images_whatever_its_files(
    image: tuple[Project, Path], first: bool
) -> None:
    """stray is the image's, not the lock's: neither verify nor sync judges its files (a
    Debian image's own packages fail RECORD as they come, a stripped .so among them), and
    the two agree. verify failed on it while sync said "already in sync"."""
    p, venv = image
    assert p.run("compile").exit_code == 0
    if not first:
        assert p.run("sync", "--python", str(venv)).exit_code == 0
    module = _site(venv) / "stray" / "__init__.py"
    module.write_text(module.read_text() + "# as the image's distribution ships it\n")
    for _ in range(2):
        result = p.run("sync", "--python", str(venv))
        assert result.exit_code == 0, result.output
        checked = p.run("verify", "--python", str(venv))
        assert checked.exit_code == 0 and "stray" not in checked.output, checked.output


def test_an_images_own_pip_whatever_its_files_fails_no_overlay_sync(
    image: tuple[Project, Path], tmp_path: Path
) -> None:
    """The image's pip, not the lock's: verify passed over its damage while sync failed
    ("packages sync keeps as they are are damaged"), on every sync."""
    p, _ = image
    venv = tmp_path / "image-with-pip"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # pip from ensurepip, offline
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--no-index",
                    "--find-links", str(p.root / "wheels"), "basepkg==2.3.4", "stray==1.0"], check=True)  # fmt: skip
    pip_init = _site(venv) / "pip" / "__init__.py"
    pip_init.write_text(pip_init.read_text() + "# as the image's distribution patched it\n")
    assert p.run("compile").exit_code == 0
    for _ in range(2):
        result = p.run("sync", "--python", str(venv))
        assert result.exit_code == 0, result.output
        assert p.run("verify", "--python", str(venv)).exit_code == 0


def test_base_packages_on_the_interpreters_path_beyond_its_site_packages_count(image: tuple[Project, Path]) -> None:
    """A system python's apt packages (/usr/lib/python3/dist-packages), the base of a
    ``--system-site-packages`` venv, a ``.pth`` entry: the interpreter imports them and
    a freeze lists them, though they are not in its own site-packages. And a freeze's
    ``1.0`` is the same version as METADATA's ``1.0.0``."""
    p, venv = image
    python = str(venv / "bin/python")
    subprocess.run([uv.binary(), "pip", "uninstall", "-q", "--python", python, "stray"], check=True)
    system = venv.parent / "dist-packages"
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", python, "--target", str(system), "--no-index",
                    "--find-links", str(p.root / "wheels"), "stray==1.0"], check=True)  # fmt: skip
    (_site(venv) / "system.pth").write_text(f"{system}\n")
    p.write("bases/image.txt", "basepkg==2.3.4\nstray==1.0.0\n")
    assert p.run("compile").exit_code == 0
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    checked = p.run("verify", "--python", str(venv))
    assert checked.exit_code == 0, checked.output
    shadowed = venv.parent / "later"  # another folder further along the path holds another stray: not imported
    make_wheel(p.root / "wheels", "stray", "2.0")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", python, "--target", str(shadowed), "--no-index",
                    "--find-links", str(p.root / "wheels"), "stray==2.0"], check=True)  # fmt: skip
    (_site(venv) / "system.pth").write_text(f"{system}\n{shadowed}\n")
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    (_site(venv) / "system.pth").unlink()  # gone from the interpreter's path: missing again
    result = p.run("sync", "--python", str(venv), env={"PYTHONPATH": str(system)})  # lockgen's shell does not count
    assert result.exit_code == 1 and "stray is not installed (the base file says 1.0.0)" in result.output


def test_verify_holds_an_overlay_to_the_base_versions_too(image: tuple[Project, Path]) -> None:
    """What the lock was resolved against must be there: a base package moved or gone
    is a difference (the lock's other packages may not work without it)."""
    p, venv = image
    assert p.run("compile").exit_code == 0
    assert p.run("sync", "--python", str(venv)).exit_code == 0
    assert p.run("verify", "--python", str(venv)).exit_code == 0
    python = str(venv / "bin/python")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", python, "--no-index",
                    "--find-links", str(p.root / "wheels"), "basepkg==2.4.0"], check=True)  # fmt: skip
    result = p.run("verify", "--python", str(venv))
    assert result.exit_code == 1 and "basepkg is 2.4.0, the lock (from the base environment) has 2.3.4" in result.output
    subprocess.run([uv.binary(), "pip", "uninstall", "-q", "--python", python, "basepkg"], check=True)
    result = p.run("verify", "--python", str(venv))
    assert result.exit_code == 1
    assert "basepkg 2.3.4 is not installed (the base environment provides it)" in result.output


def test_check_reports_a_base_file_edited_since_the_lock(image: tuple[Project, Path]) -> None:
    p, _ = image
    assert p.run("compile").exit_code == 0
    assert p.run("check").exit_code == 0
    p.write("bases/image.txt", "basepkg==2.3.4\nstray==1.0\nnew==0.1\n")
    result = p.run("check")
    assert result.exit_code == 1 and f"{TAG}-cpu: locks/pylock.{TAG}-cpu.toml is stale" in result.output


def test_system_is_only_for_an_overlay(synced_target_guard: None, image: tuple[Project, Path]) -> None:
    """An exact sync of an interpreter's own packages would remove what it holds."""
    from lockgen.exceptions import InputError
    from lockgen.install.environment import Target
    from lockgen.install.guards import refuse_target

    system = Target(prefix=Path("/usr"), python=MINOR, source="--python", exists=True, virtual=False)
    with pytest.raises(InputError, match="not a virtual environment; an exact sync"):
        refuse_target(system, overlay=False, system=True)
    with pytest.raises(InputError, match="pass --system to overlay it"):
        refuse_target(system, overlay=True, system=False)
    refuse_target(system, overlay=True, system=True)  # allowed


@pytest.fixture
def synced_target_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may change a real interpreter: the installer is fenced off."""
    from lockgen.install import installer

    real_install = installer.install

    def guarded(lock_file: Path, target, **kwargs):  # type: ignore[no-untyped-def]
        assert target.virtual, "a test tried to install into a non-virtual interpreter"
        return real_install(lock_file, target, **kwargs)

    monkeypatch.setattr(installer, "install", guarded)


def test_an_overlay_leaves_a_package_installed_twice_that_is_not_its_own(image: tuple[Project, Path]) -> None:
    """Two copies of a package the lock does not install are the image's business: an
    overlay installs what the base lacks and removes nothing, copies included."""
    p, venv = image
    site = _site(venv)
    extra = p.root / "extra"
    make_wheel(extra, "theirs", "1.0")
    make_wheel(extra, "theirs", "2.0")
    for version in ("1.0", "2.0"):
        into = p.root.parent / f"theirs{version}"
        subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--target",
                        str(into), "--no-deps", "--no-index", "--find-links", str(extra), f"theirs=={version}"],
                       check=True)  # fmt: skip
        shutil.copytree(into / f"theirs-{version}.dist-info", site / f"theirs-{version}.dist-info")
    assert p.run("compile").exit_code == 0
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    assert {d.name for d in site.glob("theirs-*.dist-info")} == {"theirs-1.0.dist-info", "theirs-2.0.dist-info"}
    assert {d.name for d in site.glob("stray-*.dist-info")} == {"stray-1.0.dist-info"}
    assert dists.versions(dists.scan([site]))["needs-any"] == "1.0"


def test_an_overlay_that_needs_none_of_the_base_still_removes_nothing(image: tuple[Project, Path]) -> None:
    """The lock holds no base package: sync is an overlay all the same, by its base file."""
    p, venv = image
    make_wheel(p.root / "wheels", "alone", "1.0")
    p.write("inputs/base.in", "alone\n")
    assert p.run("compile").exit_code == 0
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    assert "- " not in "".join(line[:2] for line in result.output.splitlines())
    assert dists.versions(dists.scan([_site(venv)])) == {"basepkg": "2.3.4", "stray": "1.0", "alone": "1.0"}
    assert p.run("verify", "--python", str(venv)).exit_code == 0


def test_an_overlay_mends_its_own_copies_and_leaves_the_images_and_verify_agrees(image: tuple[Project, Path]) -> None:
    """A package the lock installs, found twice, is mended; the image's own damage (a
    copy twice, a dist-info with no METADATA) is the image's: untouched, and not held
    against the overlay by verify."""
    p, venv = image
    site = _site(venv)
    assert p.run("compile").exit_code == 0
    assert p.run("sync", "--python", str(venv)).exit_code == 0
    (site / "imageonly-3.0.dist-info").mkdir()  # unreadable: no METADATA
    other = p.root.parent / "copy"
    make_wheel(p.root / "extra", "needs-any", "0.9")
    subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(venv / "bin/python"), "--target", str(other),
                    "--no-deps", "--no-index", "--find-links", str(p.root / "extra"), "needs-any==0.9"],
                   check=True)  # fmt: skip
    shutil.copytree(other / "needs_any-0.9.dist-info", site / "needs_any-0.9.dist-info")
    checked = p.run("verify", "--python", str(venv))
    assert checked.exit_code == 1 and "needs-any: installed more than once" in checked.output, checked.output
    assert "imageonly" not in checked.output, checked.output
    result = p.run("sync", "--python", str(venv))
    assert result.exit_code == 0, result.output
    assert sorted(d.name for d in site.glob("needs_any-*.dist-info")) == ["needs_any-1.0.dist-info"]
    assert (site / "imageonly-3.0.dist-info").is_dir()
    assert p.run("verify", "--python", str(venv)).exit_code == 0


def test_a_base_line_naming_a_wheel_pins_its_version_and_one_naming_no_version_cannot_be_needed(
    image: tuple[Project, Path],
) -> None:
    """``uv pip freeze`` writes ``name @ file:///…/name-1.0-….whl`` for a package installed
    from a file: that is version 1.0, not a package free to take another version and
    still be called the base's."""
    p, venv = image
    make_wheel(p.root / "wheels", "stray", "2.0")  # newer on the index than in the image
    make_wheel(p.root / "wheels", "needs-stray", "1.0", ["stray"])
    p.write("inputs/base.in", "needs-stray\n")
    wheel = (p.root / "wheels" / "stray-1.0-py3-none-any.whl").as_uri()
    p.write("bases/image.txt", f"basepkg==2.3.4\nstray @ {wheel}\n")
    result = p.run("compile")
    assert result.exit_code == 0, result.output
    lock = pylock.read(p.lock(f"{TAG}-cpu"))
    assert lock is not None and lock.versions["stray"] == "1.0" and lock.meta["base-packages"] == ["stray"]
    assert p.run("sync", "--python", str(venv)).exit_code == 0
    assert p.run("verify", "--python", str(venv)).exit_code == 0

    for line in ("stray @ git+https://example.invalid/stray@0123abc", "-e git+https://example.invalid/s@v1#egg=stray"):
        p.write("bases/image.txt", f"basepkg==2.3.4\n{line}\n")
        result = p.run("compile")
        assert result.exit_code == 1, (line, result.output)
        assert "needs stray, which bases/image.txt names by a URL with no version lockgen can read" in result.output


def _sdist_project(tmp_path: Path, indexes, inputs: str) -> Project:  # type: ignore[no-untyped-def]
    """A project whose find-links hold an sdist (built) and its build backend's wheel
    (tinybackend), compiled from ``inputs``."""
    from wheelmaker import make_backend, make_sdist

    p = Project(tmp_path / "proj", indexes)
    make_backend(p.root / "wheels")
    make_sdist(p.root / "wheels", "built", "1.0")
    p.write("lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nfind-links = ["wheels"]\n'
                            f'index-url = "{indexes.pypi}"\n[accelerators.cpu]\n')  # fmt: skip
    p.write("inputs/base.in", inputs)
    assert p.run("compile").exit_code == 0
    return p


def test_a_wheelhouse_builds_an_sdist_whose_build_backend_it_holds(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    """An sdist is built on the machine that syncs; offline, its build requirements come
    from the wheelhouse, where the lock put them as wheels."""
    p = _sdist_project(tmp_path, indexes, "built\ntinybackend\n")
    house = tmp_path / "house"
    assert p.run("wheelhouse", str(house)).exit_code == 0
    fresh = {"UV_CACHE_DIR": str(tmp_path / "empty-cache")}  # nothing built or fetched before
    result = p.run("sync", "--wheelhouse", str(house), env=fresh)
    assert result.exit_code == 0, result.output
    assert dists.versions(dists.scan([_site(p.root / ".venv")]))["built"] == "1.0"
    assert p.run("verify", env=fresh).exit_code == 0


def test_a_wheelhouse_says_which_build_requirements_of_its_sdists_it_lacks(tmp_path: Path, indexes) -> None:  # type: ignore[no-untyped-def]
    p = _sdist_project(tmp_path, indexes, "built\n")
    result = p.run("wheelhouse", str(tmp_path / "house"))
    assert result.exit_code == 0, result.output
    assert "sdists in the wheelhouse need build requirements it has no wheel of (built needs tinybackend)" in (
        result.stderr
    )
    p.write("inputs/base.in", "built\ntinybackend\n")
    assert p.run("compile").exit_code == 0
    result = p.run("wheelhouse", str(tmp_path / "house"))
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("member", "pyproject", "lacking"),
    [
        ("./odd-1.0/pyproject.toml", '[build-system]\nrequires = ["tinybackend"]\n', ["tinybackend"]),  # ./ names
        ("odd-1.0/pyproject.toml", "[build-system]\nrequires = [\"tinybackend; python_version < '3'\"]\n", None),
        ("odd-1.0/pyproject.toml", '[build-system]\nrequires = "tinybackend"\n', None),  # not a list: uv's to say
        ("odd-1.0/pyproject.toml", "[build-system]\nrequires = 123\n", None),
        ("odd-1.0/sub/pyproject.toml", "", ["setuptools"]),  # none at the top: the setuptools fallback
        (None, "", None),  # not an archive at all
    ],
)
def test_which_build_requirements_an_odd_sdist_lacks(tmp_path: Path, member: str | None, pyproject: str,
                                                     lacking: list[str] | None) -> None:  # fmt: skip
    import io
    import tarfile

    from lockgen.install import builds, wheelhouse

    sdist = tmp_path / "odd-1.0.tar.gz"
    if member is None:
        sdist.write_bytes(b"\x1f\x8b truncated")
    else:
        with tarfile.open(sdist, "w:gz") as tar:
            data = pyproject.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    item = wheelhouse.Wanted(filename=sdist.name, package="odd", sha256="0" * 64, size=None, source="", variants=("v",))
    assert builds.unbuildable(tmp_path, [item]) == ({"odd": lacking} if lacking else {})


def _lockgen(fleet: Project, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    """lockgen in a process of its own (a run lock, a signal), in the fleet project."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), **extra}
    return subprocess.Popen([sys.executable, "-m", "lockgen", *args, "--config", str(fleet.config)], cwd=fleet.root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_two_wheelhouse_runs_into_one_folder_wait_for_each_other(
    fleet: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs resumed one cut download into the same file, each checking what it had
    fetched rather than the file: one ended 0 beside a file twice its size. A second
    run now waits for the first, even with its run locks in another cache folder."""
    import time

    from lockgen import runs

    house = tmp_path / "house"
    house.mkdir()
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path / "cache-a"))
    with runs.run_lock("wheelhouse", house, say=lambda _: None):
        proc = _lockgen(fleet, "wheelhouse", str(house), LOCKGEN_CACHE_DIR=str(tmp_path / "cache-b"))
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        assert not any(house.glob("*.whl"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.decode().count("waiting for another lockgen run") == 1
    for lock in (pylock.read(fleet.lock(f"{TAG}-cpu")), pylock.read(fleet.lock(f"{TAG}-gpu"))):
        assert lock is not None
        for a in lock.artifacts():
            assert hashlib.sha256((house / a.filename).read_bytes()).hexdigest() == a.sha256


def test_ctrl_c_stops_a_wheelhouse_at_once_and_the_next_run_resumes(
    fleet: Project, tmp_path: Path, served: tuple[str, type[Files], http.server.ThreadingHTTPServer]
) -> None:
    """Ctrl-C (or SIGTERM) used to let every queued download finish first (14 s on a
    slow link). The run now stops within a moment, leaves its partial file, and the
    next run resumes it."""
    import signal
    import time

    _, handler, _ = served
    handler.slow["big-1.0-py3-none-any.whl"] = 0.15  # 2 MB in ~5 s
    house = tmp_path / "house"
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)):
        proc = _lockgen(fleet, "wheelhouse", str(house), "-j", "1")
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        start = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode in (code, 128 + signal.SIGTERM), (proc.returncode, err)
        assert time.monotonic() - start < 2.5, f"{sig.name}: took {time.monotonic() - start:.1f} s"
        assert b"interrupted" in err
        assert not (house / "big-1.0-py3-none-any.whl").exists()
    handler.slow.clear()
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 0, result.output
    ranges = [r for name, r in handler.requests if name == "big-1.0-py3-none-any.whl"]
    assert ranges[-1] is not None and ranges[-1].startswith("bytes="), ranges  # resumed, not fetched again


def test_a_wheelhouse_filled_variant_by_variant_serves_them_all_and_sheds_what_no_lock_wants(
    fleet: Project, tmp_path: Path
) -> None:
    """``wheelhouse DIR cpu`` then ``wheelhouse DIR gpu`` rewrote ``DIR/simple`` for gpu
    alone: a static web server no longer served the cpu wheels lying beside it. A
    partial download of a file no lock wants any more is removed."""
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house), f"{TAG}-cpu").exit_code == 0
    (house / "gone-1.0-py3-none-any.whl.lockgen-part").write_bytes(b"half")
    big = (tmp_path / "www" / "files" / "big-1.0-py3-none-any.whl").read_bytes()
    (house / "big-1.0-py3-none-any.whl.lockgen-part").write_bytes(big[:1000])  # the gpu lock's: kept for it
    assert fleet.run("wheelhouse", str(house), f"{TAG}-cpu").exit_code == 0
    assert (house / "big-1.0-py3-none-any.whl.lockgen-part").exists()
    assert not (house / "gone-1.0-py3-none-any.whl.lockgen-part").exists()
    (house / "tool-1.0-py3-none-any.whl").chmod(0o600)  # as a copy with other modes: its change time moves
    assert fleet.run("wheelhouse", str(house), f"{TAG}-gpu").exit_code == 0
    projects = {p.name for p in (house / "simple").iterdir() if p.is_dir()}
    assert {"app", "tool", "helper", "big", "localv"} <= projects, projects


def test_a_file_rewritten_with_its_time_set_back_is_fetched_again(fleet: Project, tmp_path: Path) -> None:
    """A bad copy with its size and modification time kept (``rsync -a``) passed the
    manifest, and ``sync --wheelhouse``'s remedy, running wheelhouse again, kept it:
    the change time, which no program sets, now tells."""
    house = tmp_path / "house"
    assert fleet.run("wheelhouse", str(house)).exit_code == 0
    wheel = house / "tool-1.0-py3-none-any.whl"
    st = wheel.stat()
    data = bytearray(wheel.read_bytes())
    data[50] ^= 1
    wheel.write_bytes(bytes(data))
    os.utime(wheel, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 0, result.output
    lock = pylock.read(fleet.lock(f"{TAG}-cpu"))
    assert lock is not None
    tool = next(a for a in lock.artifacts() if a.package == "tool")
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == tool.sha256


def test_a_stale_or_edited_lock_is_refused_by_wheelhouse_as_by_sync(fleet: Project, tmp_path: Path) -> None:
    """The offline machine's sync refuses a stale or hand-edited lock: a wheelhouse made
    from one exited 0 and failed only there. It is refused here now (--allow-stale, as
    for sync, takes a stale one with a warning)."""
    house = tmp_path / "house"
    fleet.write("inputs/cpu.in", "tool\nhelper\n")
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code == 1 and "stale" in result.output and "--allow-stale" in result.output, result.output
    result = fleet.run("wheelhouse", str(house), "--allow-stale")
    assert result.exit_code == 0 and "warning:" in result.output and "stale" in result.output, result.output
    fleet.write("inputs/cpu.in", "tool\n")
    lock = fleet.lock(f"{TAG}-cpu")
    lock.write_text(lock.read_text().replace('name = "tool"', 'name = "tool"\n# edited', 1))
    result = fleet.run("wheelhouse", str(house))
    assert result.exit_code != 0 and "edited" in result.output, result.output


def test_a_vcs_package_cannot_be_put_in_a_wheelhouse_nor_synced_from_one(tmp_path: Path) -> None:
    """A git dependency has no file a wheelhouse could hold: it was left out without a
    word, and sync --wheelhouse failed inside uv, wanting the network."""
    from lockgen.exceptions import LockgenError
    from lockgen.install import installer, wheelhouse

    text = (
        'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n\n'
        '[[packages]]\nname = "mine"\nversion = "0.1"\n'
        'vcs = { type = "git", url = "https://example.invalid/mine.git", commit-id = "' + "a" * 40 + '" }\n'
    )
    lock = pylock.parse(tmp_path / "pylock.py311-cpu.toml", text)
    assert lock.unfiled == ["mine"]
    with pytest.raises(LockgenError, match="mine installs from a VCS checkout"):
        wheelhouse.wanted({"py311-cpu": lock})
    with pytest.raises(LockgenError, match="mine installs from a VCS checkout, which needs the network"):
        installer.serving(lock, tmp_path)

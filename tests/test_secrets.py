"""Credentials never leak: not into a written file, not into any output.

A PEP 503 simple index on 127.0.0.1 that answers only with HTTP Basic auth
``user:s3cret`` stands in for a private index. The configuration names it with
the credentials in its URLs (``index-url``, ``extra-index-urls``), an intent file
adds a third with ``--extra-index-url``, and another project takes its index from
``UV_INDEX_URL``. Every lockgen command runs against it, ``-v`` included, and
succeeds — which proves the credentials reached uv — while the password appears in
no file under the project or the environment synced into and in no byte of
stdout or stderr, error messages included.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MINOR
from wheelmaker import make_index, make_wheel

from lockgen import uv
from lockgen.cli import main

SECRET = "s3cret"
PAIR = f"user:{SECRET}"
LEAKS = (SECRET, base64.b64encode(PAIR.encode()).decode().rstrip("="), "//user:", "//user@")
AUTH = "Basic " + base64.b64encode(PAIR.encode()).decode()
QUOTED = 's3"cret'  # a password holding what ends a TOML string; the server takes it too
AUTH_QUOTED = "Basic " + base64.b64encode(f"user:{QUOTED}".encode()).decode()
VARIANT = "py" + MINOR.replace(".", "") + "-cpu"

# index → {project: [(name, version, requires)]}; files of /private/ need the credentials too.
SITE = {
    "simple": {"tool": [("tool", "1.0", ["helper"])], "helper": [("helper", "1.0", []), ("helper", "2.0", [])]},
    "extra": {"extra-pkg": [("extra-pkg", "1.0", [])]},
    "third": {"third-pkg": [("third-pkg", "1.0", [])]},
    "private": {"private-pkg": [("private-pkg", "1.0", [])]},
}
PROTECTED_FILES = {"private": "pfiles"}  # index → its files' folder, which asks for the credentials


# --- the index server -------------------------------------------------------------------


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT, no credentials
    requests: list[tuple[str, bool]] = field(default_factory=list)  # (path, sent the right credentials)
    root: Path = Path()  # the folder it serves

    def url(self, index: str) -> str:
        return self.base.replace("http://", f"http://{PAIR}@") + f"/{index}"

    def authorized(self, prefix: str) -> bool:
        return any(path.startswith(prefix) and ok for path, ok in self.requests)


def _build_site(root: Path) -> None:
    for index, projects in SITE.items():
        files = PROTECTED_FILES.get(index, "files")
        (root / index).mkdir(parents=True)
        for project, wheels in projects.items():
            links = []
            for name, version, requires in wheels:
                wheel = make_wheel(root / files, name, version, requires)
                digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                links.append(f'<a href="../../{files}/{wheel.name}#sha256={digest}">{wheel.name}</a><br/>')
            (root / index / project).mkdir()
            (root / index / project / "index.html").write_text(
                "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
            )
        (root / index / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n"
            + "\n".join(f'<a href="{p}/">{p}</a><br/>' for p in projects)
            + "\n</body></html>\n"
        )


class _Handler(http.server.SimpleHTTPRequestHandler):
    log: list[tuple[str, bool]]

    def _allowed(self) -> bool:
        ok = self.headers.get("Authorization") in (AUTH, AUTH_QUOTED)
        self.log.append((self.path, ok))
        if ok or self.path.startswith("/files/"):  # the open files folder, as a CDN would serve it
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private index"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        moved = {"/moved/": "/pfiles/", "/away/": f"http://localhost:{port}/open/"}  # the index's host, and another
        for prefix, target in moved.items():
            if self.path.startswith(prefix):
                self.log.append((self.path, self.headers.get("Authorization") == AUTH))
                self.send_response(302)
                self.send_header("Location", target + self.path.removeprefix(prefix))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if self.path.startswith("/open/"):  # a CDN that must never see the credentials
            self.log.append((self.path, self.headers.get("Authorization") is not None))
            self.path = "/pfiles/" + self.path.removeprefix("/open/")
            super().do_GET()
            return
        if self._allowed():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._allowed():
            super().do_HEAD()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("private-index")
    _build_site(root)
    log: list[tuple[str, bool]] = []
    handler = type("Handler", (_Handler,), {"log": log})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, name="private-index", daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", log, root)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# --- running lockgen and looking for the password ------------------------------------------


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    escaped: str | None

    def show(self) -> str:
        tb = f"--- escaped exception\n{self.escaped}" if self.escaped else ""
        return (
            f"$ lockgen {' '.join(self.argv)}\nexit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}{tb}"
        )


class Session:
    """Runs lockgen on one project and keeps every byte it printed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "lockgen.toml"
        self.runs: list[Run] = []

    def run(self, *args: str, verbose: bool = True, env: Mapping[str, str | None] | None = None) -> Run:
        command, *rest = args
        argv = (*(["-v"] if verbose else []), command, "--config", str(self.config), *rest)
        result = CliRunner().invoke(main, list(argv), env=dict(env or {}))
        escaped = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            escaped = "".join(traceback.format_exception(*result.exc_info))
        run = Run(argv, result.exit_code, result.stdout, result.stderr, escaped)
        self.runs.append(run)
        return run

    def ok(self, *args: str, **kwargs: object) -> Run:
        run = self.run(*args, **kwargs)  # type: ignore[arg-type]
        assert run.escaped is None and run.code == 0, run.show()
        return run


def leaks_in_output(runs: list[Run]) -> list[str]:
    return [
        f"{leak!r} in the output of:\n{run.show()}"
        for run in runs
        for leak in LEAKS
        if leak in run.stdout + run.stderr + (run.escaped or "")
    ]


# What the user wrote, credentials and all: the configuration and the intent files.
AUTHORED = ("lockgen.toml", "inputs")


def leaks_in_files(*folders: Path) -> list[str]:
    """Every file lockgen or uv wrote under ``folders`` that holds the password (what
    the user wrote, and git's own folder, aside)."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if parts[0] in (*AUTHORED, ".git") or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            for leak in LEAKS:
                if leak.encode() in data:
                    lines = [line for line in data.decode("utf-8", "replace").splitlines() if leak in line]
                    found.append(f"{path}: {leak!r} in {lines[:3]}")
    return found


def assert_no_leak(runs: list[Run], *folders: Path) -> None:
    found = leaks_in_output(runs) + leaks_in_files(*folders)
    assert not found, "credentials leaked:\n\n" + "\n\n".join(found)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def private_project(tmp_path: Path, server: Server) -> Session:
    """A git project whose three indexes all carry ``user:s3cret`` in their URLs."""
    root = tmp_path / "proj"
    write(
        root,
        "lockgen.toml",
        f"""inputs = ["inputs/base.in"]
python = ["{MINOR}"]
index-url = "{server.url("simple")}"
extra-index-urls = ["{server.url("extra")}"]
formats = ["pylock", "requirements"]

[accelerators.cpu]
inputs = ["inputs/cpu.in"]
""",
    )
    write(root, "inputs/base.in", "tool\nextra-pkg\n")
    write(root, "inputs/cpu.in", f"--extra-index-url {server.url('third')}\nthird-pkg\n")
    git(root, "init", "-q")
    return Session(root)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """The environment sync installs into: a fresh venv in tmp_path, never lockgen's own."""
    path = tmp_path / "venv"
    subprocess.run([uv.binary(), "venv", "-q", "--python", sys.executable, str(path)], check=True)
    assert path.resolve() != Path(sys.prefix).resolve()
    return path


# --- the tests ------------------------------------------------------------------------------


def test_no_command_leaks_the_credentials(private_project: Session, server: Server, venv: Path) -> None:
    p = private_project
    compiled = p.ok("compile")
    assert VARIANT in compiled.stdout, compiled.show()
    assert (p.root / "locks" / f"pylock.{VARIANT}.toml").is_file()
    assert (p.root / "locks" / f"requirements.{VARIANT}.txt").is_file()
    # The resolution read all three indexes, with the credentials: uv was given them.
    for index in ("simple", "extra", "third"):
        assert server.authorized(f"/{index}/"), f"uv never sent the credentials to /{index}/: {server.requests}"
    lock = (p.root / "locks" / f"pylock.{VARIANT}.toml").read_text()
    for name in ("tool", "helper", "extra-pkg", "third-pkg"):
        assert f'name = "{name}"' in lock, lock

    p.ok("compile")  # up to date
    p.ok("compile", "--dry-run", "-U")
    p.ok("check")
    p.ok("check", "--resolve")
    p.ok("select", "--explain", "--python", str(venv))
    p.ok("why", "helper")
    p.ok("sync", "--dry-run", "--python", str(venv))
    p.ok("sync", "--python", str(venv))
    p.ok("verify", "--python", str(venv))
    p.ok("verify", "--hashes", "--json", "--python", str(venv))
    p.ok("sync", "--python", str(venv))  # already in sync

    git(p.root, "add", "-A")
    git(p.root, "commit", "-qm", "locks")
    write(p.root, "inputs/base.in", "tool\nextra-pkg\nhelper==1.0\n")
    p.ok("compile")
    for fmt in ("text", "markdown", "json"):
        d = p.ok("diff", "--format", fmt)
        assert "helper" in d.stdout, d.show()
    p.ok("sync", "--allow-stale", "--python", str(venv))

    assert_no_leak(p.runs, p.root, venv)


def test_failures_do_not_leak_the_credentials(private_project: Session, server: Server) -> None:
    p = private_project
    p.ok("compile")
    before = {f.name: f.read_bytes() for f in (p.root / "locks").iterdir()}

    # Each failure's exit status is test_bad_inputs.py's concern; here: it fails, and says no secret.
    write(p.root, "inputs/base.in", "tool\nextra-pkg\nno-such-package-anywhere\n")
    missing = p.run("compile")
    assert "no-such-package-anywhere" in missing.stdout + missing.stderr, missing.show()

    write(p.root, "inputs/base.in", "tool\nextra-pkg\n")
    write(p.root, "inputs/cpu.in", f"--extra-index-url {server.url('third')}\nthird-pkg ; python_version >>> '3'\n")
    p.run("compile")  # a bad marker after a credentialed index line
    url = server.url("files") + "/helper-2.0-py3-none-any.whl"
    write(p.root, "inputs/cpu.in", f"helper @ {url} ; python_version >>> '3'\n")
    p.run("compile")  # a credentialed URL requirement with a bad marker
    write(p.root, "inputs/cpu.in", f"helper @ {server.url('files')}/helper-9.9-py3-none-any.whl\n")
    p.run("compile")  # a credentialed URL that is not there
    write(p.root, "inputs/cpu.in", f"--extra-indx-url {server.url('third')}\n")
    p.run("compile")  # a misspelled option
    write(p.root, "inputs/cpu.in", f"-r {server.url('third')}/x.in\n")
    p.run("compile")  # an include by URL
    write(p.root, "inputs/cpu.in", "third-pkg\n")
    p.run("compile", env={"UV_OFFLINE": "1"})  # the index page is not in uv's cache: uv's own error

    config = p.config.read_text()
    p.config.write_text(config.replace('formats = ["pylock", "requirements"]', f'bogus = "{server.url("x")}"'))
    p.run("check")  # an unknown key next to credentialed URLs
    p.config.write_text(config.replace(server.url("extra"), server.url("extra").replace("http://", "http//")))
    p.run("check")  # a credentialed URL without its scheme's "://"
    p.config.write_text(config)

    for run in p.runs[1:]:
        assert run.code != 0 and run.escaped is None, run.show()
    # Files are test_no_command_leaks_the_credentials's concern: here, what failures print.
    assert_no_leak(p.runs)
    after = {f.name: f.read_bytes() for f in (p.root / "locks").iterdir()}
    assert after == before, "a failed compile changed the locks"


def one_index_project(root: Path, index: str, requires: str, *, export: bool = True) -> None:
    """A project that resolves ``requires`` from ``index`` alone, with its requirements
    export if ``export``."""
    formats = 'formats = ["pylock", "requirements"]\n' if export else ""
    write(root, "lockgen.toml",
          f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nindex-url = "{index}"\n{formats}[accelerators.cpu]\n')  # fmt: skip
    write(root, "inputs/base.in", requires)


def with_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's credentials in a netrc file that NETRC names, as CI would give them."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login user password {SECRET}\n")
    monkeypatch.setenv("NETRC", str(netrc))


def test_index_credentials_from_a_netrc_file(tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The configuration names the private index without credentials and CI gives them in
    a netrc file (NETRC), as uv and pip read it: used, never written. UV_INDEX_URL is not
    the way (it would decide which index a machine resolves from): compile says it
    ignores it."""
    root = tmp_path / "proj"
    one_index_project(root, f"{server.base}/simple", "tool\n")
    with_netrc(tmp_path, monkeypatch)
    monkeypatch.setenv("UV_INDEX_URL", server.url("third"))
    p = Session(root)
    compiled = p.ok("compile")
    assert "warning: ignored UV_INDEX_URL" in compiled.stderr
    assert server.authorized("/simple/")
    assert 'name = "helper"' in (root / "locks" / f"pylock.{VARIANT}.toml").read_text()
    p.ok("check")
    again = p.ok("compile")  # nothing to resolve: still said, or the user would think it took effect
    assert "up to date" in again.stdout and "warning: ignored UV_INDEX_URL" in again.stderr
    p.ok("compile", "--dry-run", "-U")
    assert_no_leak(p.runs, root)


def test_sync_from_an_index_whose_files_need_the_credentials(
    tmp_path: Path, server: Server, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files of a private index ask for the credentials too: the lock carries none,
    so sync must get them to uv some other way — and still print and write none."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("private"), "private-pkg\n")
    p = Session(root)
    p.ok("compile")
    assert server.authorized("/private/")
    synced = p.run("sync", "--python", str(venv))
    p.run("verify", "--python", str(venv))
    assert_no_leak(p.runs, venv)  # the project's files: test_no_command_leaks_the_credentials
    assert synced.code == 0 and synced.escaped is None, synced.show()
    assert server.authorized("/pfiles/")
    p.ok("verify", "--python", str(venv))


def test_wheelhouse_keeps_credentials_within_the_index_host(tmp_path: Path, server: Server) -> None:
    """A download the index redirects within its own host still carries the credentials;
    one it redirects to another host (a CDN) carries none."""
    from lockgen.install import wheelhouse

    wheel = next((server.root / "pfiles").glob("private_pkg-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()

    def wanted(prefix: str) -> wheelhouse.Wanted:
        return wheelhouse.Wanted(filename=wheel.name, package="private-pkg", sha256=digest, size=None,
                                 source=f"{server.base}/{prefix}/{wheel.name}", variants=("x",))  # fmt: skip

    for prefix in ("moved", "away"):
        folder = tmp_path / prefix
        summary = wheelhouse.build(folder, [wanted(prefix)], credentials=[server.url("private")])
        assert summary.downloaded == [wheel.name] and (folder / wheel.name).read_bytes() == wheel.read_bytes()
    assert [ok for path, ok in server.requests if path.startswith("/open/")] == [False]


def test_wheelhouse_fetches_a_url_requirement_with_the_credentials_its_intent_file_gives(
    tmp_path: Path, server: Server
) -> None:
    """``private-pkg @ http://user:s3cret@host/…whl``: the lock keeps no user in its place,
    and the wheelhouse, whose configured index is elsewhere, finds the credentials where
    the intent file gives them, never writing them."""
    root = tmp_path / "proj"
    wheel = next((server.root / "pfiles").glob("private_pkg-*.whl"))
    elsewhere = make_index(tmp_path / "public", [make_wheel(tmp_path / "public-files", "other", "1.0")])
    one_index_project(root, elsewhere, f"private-pkg @ {server.url('pfiles')}/{wheel.name}\n", export=False)
    p = Session(root)
    p.ok("compile")
    lock = (root / "locks" / f"pylock.{VARIANT}.toml").read_text()
    assert f'url = "{server.base}/pfiles/{wheel.name}"' in lock and SECRET not in lock
    p.ok("wheelhouse", str(tmp_path / "wheels"))
    assert (tmp_path / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert_no_leak(p.runs, root, tmp_path / "wheels")


def test_wheelhouse_reads_the_netrc_file_uv_reads(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of a private index, credentials only in the netrc file NETRC names."""
    root = tmp_path / "proj"
    one_index_project(root, f"{server.base}/private", "private-pkg\n", export=False)
    with_netrc(tmp_path, monkeypatch)
    p = Session(root)
    p.ok("compile")
    p.ok("wheelhouse", str(tmp_path / "wheels"))
    assert list((tmp_path / "wheels").glob("private_pkg-*.whl"))  # the files' folder answers 401 to anyone else
    assert_no_leak(p.runs, root)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:p@ss@host/simple", "https://***@host/simple"),  # an @ in the password: uv reads it so
        ("--extra-index-url https://user:p@ss@host:8080/simple", "--extra-index-url https://***@host:8080/simple"),
        ("x @ git+https://tok@github.com/o/r@main#egg=x", "x @ git+https://***@github.com/o/r@main#egg=x"),
        ("git+ssh://git@github.com/org/repo@v1", "git+ssh://git@github.com/org/repo@v1"),  # no secret: kept
        ("https://host/simple?q=a@b", "https://host/simple?q=a@b"),  # a query is no user part
        ("https://a:b@h1/s https://c:d@e@h2/s", "https://***@h1/s https://***@h2/s"),
        ("--index-url https://user:pa'ss@host/simple", "--index-url https://***@host/simple"),  # RFC 3986 allows '
    ],
)
def test_every_part_of_a_user_and_password_is_hidden(text: str, shown: str) -> None:
    from lockgen.redact import redact, without_credentials

    assert redact(text) == shown
    written = without_credentials(text)  # what files get: no user at all, which netrc and keyrings answer
    assert written == shown.replace("***@", "") and SECRET not in written


# The private index and a wheel of its files, named in an intent file with ${PRIV_TOKEN}.
INTENT_FORMS = {
    "index": "--extra-index-url http://user:${{PRIV_TOKEN}}@{host}/private\nprivate-pkg\n",
    "url": "private-pkg @ http://user:${{PRIV_TOKEN}}@{host}/pfiles/private_pkg-1.0-py3-none-any.whl\n",
    "index-in-capitals": "--extra-index-url HTTP://user:${{PRIV_TOKEN}}@{host}/private\nprivate-pkg\n",  # uv reads it
}


@pytest.mark.parametrize("form", sorted(INTENT_FORMS))
def test_sync_on_a_fresh_machine_gets_the_credentials_an_intent_file_gives(
    tmp_path: Path, server: Server, venv: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """An intent file names the private index, or a wheel of it, with its token in
    ``${PRIV_TOKEN}``. sync on a machine whose uv cache never saw the files must hand
    uv those credentials, as compile did; and with the variable unset there, a netrc
    file must do, for sync and for pip's (here uv's) install of the requirements export."""
    root = tmp_path / "proj"
    wheel = next((server.root / "pfiles").glob("private_pkg-*.whl"))
    assert wheel.name == "private_pkg-1.0-py3-none-any.whl"
    one_index_project(
        root, f"{server.base}/simple", INTENT_FORMS[form].format(host=server.base.removeprefix("http://"))
    )
    monkeypatch.setenv("PRIV_TOKEN", SECRET)
    p = Session(root)
    p.ok("compile")
    locks = root / "locks"
    for written in locks.iterdir():
        text = written.read_text()
        assert f"{server.base}/p" in text.lower() and "@127.0.0.1" not in text, f"{written.name}:\n{text}"
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "fresh-cache"))
    synced = p.ok("sync", "--python", str(venv))
    # Lent to the URLs of the copy uv installs from, not given as an index: a file host
    # ranked before PyPI would answer for what an sdist's build requires.
    assert "--index 'http://***@" not in synced.stderr and "--index http://***@" not in synced.stderr
    p.ok("verify", "--python", str(venv), "--hashes")
    monkeypatch.delenv("PRIV_TOKEN")
    with_netrc(tmp_path, monkeypatch)
    for n, how in enumerate(("sync", "export")):
        monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / f"fresh-cache-{n}"))
        other = tmp_path / f"venv-{how}"
        subprocess.run([uv.binary(), "venv", "-q", "--python", sys.executable, str(other)], check=True)
        if how == "sync":
            p.ok("sync", "--python", str(other))
        else:
            export = locks / f"requirements.{VARIANT}.txt"
            subprocess.run([uv.binary(), "pip", "install", "-q", "--python", str(other), "-r", str(export)],
                           check=True, cwd=root)  # fmt: skip
        assert list(other.glob("lib/python*/site-packages/private_pkg-1.0.dist-info")), how
    assert_no_leak(p.runs, root, venv)


def test_a_lock_an_older_lockgen_wrote_with_a_hidden_user_still_syncs_and_compile_rewrites_it(
    tmp_path: Path, server: Server, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier releases wrote ``http://***@host/…``, which names a user ``***`` that no
    netrc answers: sync installs such a lock with the intent file's credentials all the
    same, and the next compile writes it without the user."""
    root = tmp_path / "proj"
    one_index_project(
        root, f"{server.base}/simple", INTENT_FORMS["url"].format(host=server.base.removeprefix("http://"))
    )
    monkeypatch.setenv("PRIV_TOKEN", SECRET)
    p = Session(root)
    p.ok("compile")
    lock = root / "locks" / f"pylock.{VARIANT}.toml"
    from lockgen.locks import writer

    hidden = lock.read_text().replace(f"{server.base}/pfiles", f"{server.base.replace('//', '//***@')}/pfiles")
    lock.write_text(writer.sealed(hidden))  # sealed as that lockgen sealed what it wrote
    p.ok("check")  # the old lock is what that lockgen wrote
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "fresh-cache"))
    p.ok("sync", "--python", str(venv))
    assert "***" in lock.read_text()  # sync changes no lock
    again = p.ok("compile")
    assert "updated" in again.stdout and "***" not in lock.read_text()
    assert_no_leak(p.runs, root, venv)


def test_a_configured_index_takes_its_token_from_a_variable_as_an_intent_file_does(
    tmp_path: Path, server: Server, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``index-url = "http://user:${PRIV_TOKEN}@host/simple"``: the token stays out of the
    configuration; compile and sync expand it (uv itself would send ``${PRIV_TOKEN}``
    literally, and fail with 401); a machine without it is told so in one line, while
    check, which reaches no index, needs none."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("private").replace(SECRET, "${PRIV_TOKEN}"), "private-pkg\n")
    p = Session(root)
    missing = p.run("compile")
    assert missing.code == 2 and ": index-url: " in missing.stderr, missing.show()
    assert "${PRIV_TOKEN} is not set here" in missing.stderr, missing.show()
    monkeypatch.setenv("PRIV_TOKEN", SECRET)
    p.ok("compile")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "fresh-cache"))
    p.ok("sync", "--python", str(venv))
    p.ok("wheelhouse", str(tmp_path / "wheels"))
    monkeypatch.delenv("PRIV_TOKEN")
    p.ok("check")
    offline = tmp_path / "offline-venv"  # an air-gapped machine has the wheelhouse, not the token
    subprocess.run([uv.binary(), "venv", "-q", "--python", sys.executable, str(offline)], check=True)
    p.ok("sync", "--python", str(offline), "--wheelhouse", str(tmp_path / "wheels"))
    assert_no_leak(p.runs, root, venv, tmp_path / "wheels")


def test_a_lock_whose_digest_counted_the_credentials_stays_current_after_the_upgrade(
    tmp_path: Path, server: Server, venv: Path
) -> None:
    """lockgen 0.3's input digest counted a configured index URL's credentials; 0.4's
    does not. A fleet upgrading lockgen must not find every such lock stale at once."""
    from lockgen.locks import writer
    from lockgen.project.config import load
    from lockgen.project.intents import Inputs

    root = tmp_path / "proj"
    one_index_project(root, server.url("simple"), "tool\n")
    p = Session(root)
    p.ok("compile")
    config = load(root, root / "lockgen.toml")
    (variant,) = config.variants
    inputs = Inputs.of(config)
    old, new = inputs.digest(variant, with_credentials=True), inputs.digest(variant)
    assert old != new
    lock = root / "locks" / f"pylock.{VARIANT}.toml"
    lock.write_text(writer.sealed(lock.read_text().replace(new, old)))  # as 0.3 wrote it
    assert "up to date" in p.ok("check").stdout + p.ok("compile").stdout
    assert old in lock.read_text()  # not resolved again: nothing changed
    p.ok("check", "--resolve")  # the resolution is compared, not the label
    p.ok("sync", "--python", str(venv))


def test_a_rotated_password_in_an_index_url_leaves_the_locks_current(tmp_path: Path, server: Server) -> None:
    """Credentials decide no resolution: a new token in the configuration's index URL
    must not make every lock stale (and every machine's sync refuse it)."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("simple"), "tool\n")
    p = Session(root)
    p.ok("compile")
    config = root / "lockgen.toml"
    config.write_text(config.read_text().replace(SECRET, "r0tated"))
    assert "up to date" in p.ok("check").stdout + p.ok("compile").stdout


@pytest.mark.parametrize("command", ["compile", "sync", "wheelhouse"])
def test_a_token_holding_a_slash_is_refused_by_its_name_and_never_shown(
    tmp_path: Path, server: Server, venv: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A base64 token ends a URL's user part at its '/': uv refused the URL, quoting it
    whole, token and all, in an error no pattern for URLs recognises."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("private").replace(SECRET, "${PRIV_TOKEN}"), "private-pkg\n")
    p = Session(root)
    monkeypatch.setenv("PRIV_TOKEN", SECRET)
    p.ok("compile")  # the token is no input: a new one leaves the lock current
    monkeypatch.setenv("PRIV_TOKEN", "ab/cdTOKENTAIL+ef==")
    args = {"compile": ("-U",), "sync": ("--python", str(venv)), "wheelhouse": (str(tmp_path / "wheels"),)}[command]
    for verbose in (False, True):
        run = p.run(command, *args, verbose=verbose)
        assert run.code == 2 and "index-url: " in run.stderr, run.show()
        assert "${PRIV_TOKEN} holds '/'" in run.stderr and "(%2F)" in run.stderr, run.show()
        assert "TOKENTAIL" not in run.stdout + run.stderr and "ab/cd" not in run.stderr, run.show()


def test_a_password_holding_a_quote_syncs_and_never_shows(tmp_path: Path, server: Server, venv: Path) -> None:
    """uv takes it; sync lent it into the lock's copy unescaped, and uv's TOML error then
    quoted the line, password and all."""
    root = tmp_path / "proj"
    index = server.url("private").replace(SECRET, QUOTED)
    write(root, "lockgen.toml",
          f"inputs = ['inputs/base.in']\npython = ['{MINOR}']\nindex-url = '{index}'\n[accelerators.cpu]\n")  # fmt: skip
    write(root, "inputs/base.in", "private-pkg\n")
    p = Session(root)
    p.ok("compile")
    p.ok("sync", "--python", str(venv))
    assert any(path.startswith("/pfiles/") and ok for path, ok in server.requests)
    said = "".join(r.stdout + r.stderr for r in p.runs)
    assert "cret" not in said and "s3" not in said, said
    assert leaks_in_files(root, venv) == []


def test_what_uv_writes_while_resolving_is_never_added_to_git(tmp_path: Path) -> None:
    """uv writes what it resolved, a URL's password among it, into a folder beside the
    locks; a uv that outlives a killed lockgen still does. ``git add -A`` must not take it."""
    from lockgen.compile.resolver import _workspace

    root = tmp_path / "proj"
    (root / "locks").mkdir(parents=True)
    git(root, "init", "-q")
    with _workspace(root / "locks") as folder:
        (folder / "pylock.x.toml").write_text('url = "https://user:s3cret@host/x.whl"\n')
        git(root, "add", "-A")
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
        assert listed == "", listed
        assert folder.stat().st_mode & 0o077 == 0  # nobody else reads it meanwhile


def test_a_known_password_is_hidden_where_it_stands_alone_not_inside_other_words() -> None:
    """Hidden by value wherever uv's own words quote it, but "test" as a password must not
    turn pytest into py*** in every message."""
    from lockgen import redact

    redact.conceal("test")
    redact.conceal("ab/cd+ef==")
    said = "pytest==8, a test, test-x, my_test, testing, http://u:test@h/x, ?tok=test&y, 'ab/cd+ef==@host'"
    assert redact.redact(said) == "pytest==8, a ***, ***-x, my_test, testing, http://***@h/x, ?tok=***&y, '***@host'"


def test_a_token_that_is_the_whole_user_part_is_hidden_wherever_it_shows(tmp_path: Path) -> None:
    """``https://${TOKEN}@host`` (GitHub's, Gemfury's, Azure's form): the token is the
    user part, and no user name; a '/' in it ended the URL patterns early, and uv's
    error quoted it whole."""
    root = tmp_path / "proj"
    write(root, "lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n[accelerators.cpu]\n')
    write(root, "inputs/base.in", "--extra-index-url https://${IDX_TOKEN}@127.0.0.1:9/simple\nnosuchpkg\n")
    run = Session(root).run("compile", env={"IDX_TOKEN": "ab/cdSECRETxyz"})  # port 9: refused at once
    assert run.code in (1, 2), run.show()
    assert "SECRET" not in run.stdout + run.stderr, run.show()


@pytest.mark.parametrize(
    "line",
    ["--extra-index-url https://${IDX_TOKEN}@127.0.0.1:9/simple", "tool @ https://${IDX_TOKEN}@127.0.0.1:9/t.whl"],
)
def test_a_token_that_would_end_the_user_part_is_refused_in_an_intent_file_too(tmp_path: Path, line: str) -> None:
    """The configuration refused it; an intent file handed it to uv, which read the first
    half of the token as the host, and printed the second half."""
    root = tmp_path / "proj"
    write(root, "lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n[accelerators.cpu]\n')
    write(root, "inputs/base.in", f"{line}\nhelper\n")
    for verbose in (False, True):
        run = Session(root).run("compile", verbose=verbose, env={"IDX_TOKEN": "Tok3nHead/SECRETtail"})
        assert run.code == 2, run.show()
        assert "inputs/base.in:1: " in run.stderr and "${IDX_TOKEN} holds '/'" in run.stderr, run.show()
        assert "SECRET" not in run.stdout + run.stderr and "Tok3n" not in run.stdout + run.stderr, run.show()


def test_an_intent_files_index_whose_variable_is_set_to_nothing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, "lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n[accelerators.cpu]\n')
    write(root, "inputs/base.in", "--index-url http://ci:${IDX_TOKEN}@127.0.0.1:9/simple\nhelper\n")
    run = Session(root).run("compile", env={"IDX_TOKEN": ""})
    assert run.code == 2 and "inputs/base.in:1: --index-url " in run.stderr, run.show()
    assert "${IDX_TOKEN} is set to nothing here" in run.stderr, run.show()


def test_a_password_from_a_variable_holding_a_quote_is_written_nowhere(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left out of what lockgen writes by the user part uv reads (to the authority's last
    '@'): a '"' ended the pattern early, and the export named the password whole."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("simple").replace(SECRET, "${IDX_TOKEN}"), "tool\n")
    monkeypatch.setenv("IDX_TOKEN", QUOTED)
    p = Session(root)
    p.ok("compile")
    export = (root / "locks" / f"requirements.{VARIANT}.txt").read_text()
    assert f"--index-url {server.base}/simple\n" in export, export
    said = "".join(r.stdout + r.stderr for r in p.runs)
    for where in (export, said, (root / "locks" / f"pylock.{VARIANT}.toml").read_text()):
        assert "cret" not in where and "user" not in where.replace("/user-", ""), where


def test_a_token_in_an_index_urls_query_is_written_as_its_variable(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export named the token; pip and uv expand ``${VAR}`` in a requirements file, so
    it goes there as the variable that gave it, and a new token leaves the export as it is."""
    root = tmp_path / "proj"
    one_index_project(root, server.url("simple") + "?token=${IDX_QUERY}", "tool\n")
    monkeypatch.setenv("IDX_QUERY", "QueryTok3nValue")
    p = Session(root)
    p.ok("compile")
    export = root / "locks" / f"requirements.{VARIANT}.txt"
    assert f"--index-url {server.base}/simple?token=${{IDX_QUERY}}\n" in export.read_text()
    assert leaks_in_files(root) == [] and "QueryTok3n" not in "".join(r.stdout + r.stderr for r in p.runs)
    before = export.read_bytes()
    monkeypatch.setenv("IDX_QUERY", "An0therToken")
    assert "up to date" in p.ok("check").stdout
    p.ok("compile", "-U")
    assert export.read_bytes() == before


@pytest.mark.parametrize("where", ["configuration", "intent file"])
def test_a_variable_uv_would_not_expand_is_refused(tmp_path: Path, where: str) -> None:
    """``${lc_tok}``: uv and pip expand only capitals, digits and _; lockgen expanded it
    all the same, checked a URL uv never read, and wrote ``?token=${lc_tok}`` into the
    export, which no installer expands."""
    root = tmp_path / "proj"
    url = "https://127.0.0.1:9/simple?token=${idx_token}"
    configured = f'index-url = "{url}"\n' if where == "configuration" else ""
    write(root, "lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n{configured}[accelerators.cpu]\n')
    write(root, "inputs/base.in", ("" if configured else f"--extra-index-url {url}\n") + "helper\n")
    run = Session(root).run("compile", env={"idx_token": "Tok3nValue"})
    assert run.code == 2, run.show()
    assert "${idx_token}: uv and pip expand only a name of capital letters, digits and _ (${IDX_TOKEN})" in (
        run.stderr
    ), run.show()


def test_a_secret_is_hidden_percent_encoded_too() -> None:
    """uv prints a URL's query percent-encoded: a token with a space showed as ``%20``."""
    from lockgen import redact

    redact.conceal('Tok3n Se"cr\u00e9t', "IDX_QUERY")
    said = "Failed to fetch: http://h/simple/tool/?token=Tok3n%20Se%22cr%C3%A9t"
    assert redact.redact(said) == "Failed to fetch: http://h/simple/tool/?token=***"
    assert redact.unexpanded(said) == "Failed to fetch: http://h/simple/tool/?token=${IDX_QUERY}"


def test_a_query_variables_value_is_written_back_as_the_variable_only_in_a_query() -> None:
    """``?channel=${CHANNEL}`` with CHANNEL=helper wrote the export's ``helper==1.0`` as
    ``${CHANNEL}==1.0``."""
    from lockgen import redact

    redact.conceal("helper", "CHANNEL")
    export = "--index-url https://h/simple?channel=helper&x=1\nhelper==1.0 \\\n    # via tool\n"
    assert redact.unexpanded(export) == (
        "--index-url https://h/simple?channel=${CHANNEL}&x=1\nhelper==1.0 \\\n    # via tool\n"
    )


def test_a_user_name_from_a_variable_is_no_secret_to_hide_everywhere(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``https://${IDX_USER}:${TOKEN}@host``: the user is often the login name, in every
    path lockgen prints; the token is hidden wherever it shows."""
    root = tmp_path / "user-projects" / "proj"
    one_index_project(root, server.url("private").replace(PAIR, "${IDX_USER}:${PRIV_TOKEN}"), "private-pkg\n")
    monkeypatch.setenv("IDX_USER", "user")
    monkeypatch.setenv("PRIV_TOKEN", SECRET)
    run = Session(root).ok("compile")
    assert "/user-projects/proj/" in run.stderr, run.show()
    assert SECRET not in run.stdout + run.stderr


@pytest.mark.parametrize("where", ["configuration", "intent file"])
def test_a_written_password_holding_a_slash_is_refused_unshown(tmp_path: Path, where: str) -> None:
    """A '/' ends the user part where URL patterns look for it: the URL that failed to
    parse was quoted whole, password and all, in the very error saying to write %2F."""
    root = tmp_path / "proj"
    index = "http://user:ab/cSECRETx@127.0.0.1:9/simple"
    configured = f'index-url = "{index}"\n' if where == "configuration" else ""
    write(root, "lockgen.toml", f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\n{configured}[accelerators.cpu]\n')
    write(root, "inputs/base.in", ("" if configured else f"--extra-index-url {index}\n") + "tool\n")
    run = Session(root).run("compile", "--offline")
    assert run.code == 2 and "%2F" in run.stderr, run.show()
    assert "SECRET" not in run.stdout + run.stderr and "ab/c" not in run.stderr, run.show()


def test_a_password_holding_an_at_sign_never_shows(tmp_path: Path) -> None:
    """Accepted as uv accepts it, so hidden whole wherever lockgen says it."""
    root = tmp_path / "proj"
    index = "https://user:s3@cret-tail@127.0.0.1:9/simple"
    write(
        root,
        "lockgen.toml",
        f'inputs = ["inputs/base.in"]\npython = ["{MINOR}"]\nindex-url = "{index}"\n[accelerators.cpu]\n',
    )
    write(root, "inputs/base.in", f"--extra-index-url {index}\ntool\n")
    session = Session(root)
    runs = [session.run("compile", "--offline", verbose=v) for v in (False, True)]
    said = "".join(r.stdout + r.stderr for r in runs)
    assert runs[0].code == 1 and "https://***@127.0.0.1:9/simple" in said, said
    assert "cret-tail" not in said and "s3@" not in said, said


@pytest.mark.parametrize(
    ("url", "given", "lent"),
    [
        # a default port written out, case, a trailing dot: one realm, as uv keys them
        ("http://127.0.0.1/pfiles/x.whl", ["http://u:p@127.0.0.1:80/private"], "http://u:p@127.0.0.1/pfiles/x.whl"),
        ("https://H.Example./f/x.whl", ["https://u:p@h.example:443/s"], "https://u:p@H.Example./f/x.whl"),
        # two indexes on one host: each file gets its own index's, by the path they share
        (
            "https://h/a/files/x.whl",
            ["https://a:A@h/a/simple", "https://b:B@h/b/simple"],
            "https://a:A@h/a/files/x.whl",
        ),
        (
            "https://h/b/files/x.whl",
            ["https://a:A@h/a/simple", "https://b:B@h/b/simple"],
            "https://b:B@h/b/files/x.whl",
        ),
        # another scheme or port is another realm; a URL with a user of its own keeps it
        ("https://h/x.whl", ["http://u:p@h/s"], "https://h/x.whl"),
        ("https://h:8443/x.whl", ["https://u:p@h/s"], "https://h:8443/x.whl"),
        ("https://me@h/x.whl", ["https://u:p@h/s"], "https://me@h/x.whl"),
        ("https://github.com/o/r", ["https://tok@github.com/o/r@main#egg=x"], "https://tok@github.com/o/r"),
        ("https://h/x.whl", ["https://u:p@[::1/broken", "https://a:b@h/y"], "https://a:b@h/x.whl"),  # no URL: passed
    ],
)
def test_credentials_are_lent_to_the_urls_of_their_realm_the_best_fitting_first(
    url: str, given: list[str], lent: str
) -> None:
    from lockgen import redact

    assert redact.lent(url, given) == lent


def test_a_token_in_a_comment_of_an_intent_file_is_never_lent(tmp_path: Path) -> None:
    """A commented-out old token beside the live one: only the live one counts."""
    from lockgen.project.config import load
    from lockgen.project.intents import Inputs

    root = tmp_path / "proj"
    one_index_project(root, "https://example.invalid/simple",
                      "# --extra-index-url https://user:OLD@h.example/simple\n"
                      "--extra-index-url https://user:NEW@h.example/simple  # the live one\nx\n")  # fmt: skip
    cfg = load(root, root / "lockgen.toml")
    assert Inputs.of(cfg, validate=False).credentialed_urls(cfg.variants[0]) == ["https://user:NEW@h.example/simple"]

"""Fault injection for ``lockgen sync`` and ``lockgen compile``: SIGKILL at many moments,
a tampered artifact, the installer's own packages, two runs at once, a full disk.

Every run here is a real ``python -m lockgen`` subprocess driving the real uv on
fixture wheels, offline, and every environment it touches lives in a pytest temp
folder, always named with ``--python``. What the environment holds is judged by this
file's own reading of ``*.dist-info/RECORD`` (:func:`examine`), not by lockgen's.

``LOCKGEN_SOAK=N`` runs the kill schedules N times over, at jittered moments.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import MINOR
from wheelmaker import make_index

from lockgen import uv
from lockgen.locks import pylock

REPO = Path(__file__).resolve().parent.parent
TAG = "py" + MINOR.replace(".", "")
CPU = f"{TAG}-cpu"
ALT = f"{TAG}-cu128"
SOAK = int(os.environ.get("LOCKGEN_SOAK", "0") or 0)
DATE = (2020, 1, 1, 0, 0, 0)  # every zip entry's timestamp: the same bytes every time

PACKAGES = 20  # p00 … p19, at 1.0 (v1) and 2.0 (v2)
FILES = 100  # files per package and version (v2 drops the first 10 and adds 10)

KILLS: Counter[str] = Counter()  # over the whole module: what each kill left behind


@pytest.fixture(scope="module", autouse=True)
def _kill_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: one line on the terminal saying how many kills and what they left."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if KILLS and reporter is not None and capture is not None:
        kills = sum(n for k, n in KILLS.items() if "ended before the kill" not in k and not k.startswith("note"))
        detail = "; ".join(f"{k}: {n}" for k, n in sorted(KILLS.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ntest_faults: {kills} kills. {detail}")


_STARTED: list[subprocess.Popen[bytes]] = []  # every lockgen run a test started in the background


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    """A test that fails midway leaves none of its background runs behind."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            kill_group(proc)


# --- wheels with many files ---------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(folder: Path, name: str, version: str, files: dict[str, bytes], requires: tuple[str, ...] = ()) -> Path:
    """``name-version-py3-none-any.whl`` holding ``files`` (paths in the wheel) and a
    proper METADATA, WHEEL and RECORD (sha256 and size of every file)."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_").lower()
    dist = f"{module}-{version}"
    meta = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    )
    entries = {
        **files,
        f"{dist}.dist-info/METADATA": (meta + "\n\n").encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: lockgen-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{arc},sha256={_b64(data)},{len(data)}" for arc, data in entries.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for arc, data in [*entries.items(), (f"{dist}.dist-info/RECORD", ("\n".join(record) + "\n").encode())]:
            z.writestr(zipfile.ZipInfo(arc, date_time=DATE), data)
    return path


def many_files(name: str, version: str, *, count: int = FILES, shift: int = 0, salt: str = "") -> dict[str, bytes]:
    """A package's files: ``__init__.py``, a few modules, and ``count`` data files
    ``data/fNNN.dat`` numbered from ``shift``, of sizes and bytes that depend on the
    version (deterministic: seeded by name, version and index)."""
    module = name.replace("-", "_").lower()
    out = {f"{module}/__init__.py": f"__version__ = {version!r}\n".encode()}
    for i in range(shift, shift + count):
        rng = random.Random(f"{name}-{version}-{i}-{salt}")
        if i % 20 == 0:
            out[f"{module}/m{i:03d}.py"] = f"VALUE = {rng.randrange(10**9)}  # {version}\n".encode()
        else:
            out[f"{module}/data/f{i:03d}.dat"] = rng.randbytes(rng.randrange(64, 2400))
    return out


def pname(i: int) -> str:
    return f"p{i:02d}"


@dataclass(frozen=True)
class State:
    """One state of the project's intent file, and the lock compiled from it."""

    intent: str
    lock: bytes
    versions: dict[str, str]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture wheel: p00…p19 at 1.0 and 2.0 (2.0: other bytes and sizes, the
    first files gone, new ones added), ``gone`` 1.0 (only in v1), ``fresh`` 1.0 (only in
    v2), and ``helper`` 1.0 / 2.0 for the compile tests."""
    folder = tmp_path_factory.mktemp("faults-wheels")
    for i in range(PACKAGES):
        write_wheel(folder, pname(i), "1.0", many_files(pname(i), "1.0"))
        write_wheel(folder, pname(i), "2.0", many_files(pname(i), "2.0", count=FILES + i % 3, shift=FILES // 10))
    write_wheel(folder, "gone", "1.0", many_files("gone", "1.0", count=40))
    write_wheel(folder, "fresh", "1.0", many_files("fresh", "1.0", count=40))
    for v in ("1.0", "2.0"):
        write_wheel(folder, "helper", v, many_files("helper", v, count=5))
    return folder


# --- running lockgen ----------------------------------------------------------------

_DROP = (
    "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "CUDA_VISIBLE_DEVICES",
    "LOCKGEN_CUDA", "LOCKGEN_GPU_ARCHS", "LOCKGEN_VARIANT",
)  # fmt: skip


def child_env(**extra: str) -> dict[str, str]:
    """os.environ for a lockgen subprocess: no active venv, no GPU overrides, none of the
    developer's uv settings; the tests' caches (set by conftest's ``_isolated``); this
    checkout importable."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP and not (k.startswith("UV_") and k != "UV_CACHE_DIR")}
    assert "UV_CACHE_DIR" in env, "the conftest's _isolated fixture sets the test uv cache"
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@dataclass
class Proj:
    root: Path
    venv: Path

    @property
    def site(self) -> Path:
        found = sorted((self.venv / "lib").glob("python*/site-packages"))
        assert len(found) == 1, found
        return found[0]

    @property
    def journal(self) -> Path:
        return self.site / ".lockgen" / "journal.json"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lockgen", *args]

    def env_args(self, variant: str = CPU) -> list[str]:
        _inside(self.venv, self.root.parent)
        return ["--python", str(self.venv), "--variant", variant]

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env=child_env(**extra),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def sync(self, variant: str = CPU, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("sync", *self.env_args(variant), UV_LINK_MODE="copy", **extra)

    def verify(self, variant: str = CPU, *flags: str) -> subprocess.CompletedProcess[str]:
        """``lockgen verify`` in this process (it only reads; a subprocess would cost a
        Python start per kill): exit status and output."""
        from click.testing import CliRunner

        from lockgen.cli import main

        args = ["verify", "--config", str(self.root / "lockgen.toml"), *self.env_args(variant), *flags]
        result = CliRunner().invoke(main, args)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    def start(self, *args: str, log: str, **extra: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
        """A lockgen subprocess in a process group of its own (so a kill reaches uv too)."""
        out, err = self.root / f"{log}.out", self.root / f"{log}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(
                self.argv(*args), cwd=self.root, env=child_env(**extra), stdout=o, stderr=e, start_new_session=True
            )
        _STARTED.append(proc)
        return proc, out, err

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def reindex(self) -> None:
        """(Re)write the project's simple index over ``wheels/`` (after a wheel changed)."""
        shutil.rmtree(self.root / "simple", ignore_errors=True)
        make_index(self.root / "simple", sorted((self.root / "wheels").glob("*.whl")))

    def lock_path(self, variant: str = CPU) -> Path:
        return self.root / "locks" / f"pylock.{variant}.toml"

    def use(self, state: State) -> None:
        """Put the project in ``state``: its intent file and the lock compiled from it."""
        self.write("inputs/base.in", state.intent)
        self.lock_path().write_bytes(state.lock)


def _inside(path: Path, folder: Path) -> None:
    """The safety net: lockgen is only ever pointed at environments in a temp folder."""
    assert path.resolve().is_relative_to(folder.resolve()), f"{path} is outside {folder}"
    assert path.resolve() != Path(sys.prefix).resolve()


def make_venv(path: Path) -> Path:
    """An empty venv of this interpreter's version, in a temp folder."""
    subprocess.run(
        [uv.binary(), "venv", str(path), "--python", sys.executable, "-q", "--no-config"], check=True, env=child_env()
    )
    return path


def kill_group(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL lockgen and every process it started; True when it was still running."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        alive = True
    except ProcessLookupError:
        alive = False
    proc.wait(timeout=60)
    return alive and proc.returncode == -signal.SIGKILL


CONFIG = """
inputs = ["inputs/base.in"]
python = [{python}]
index-url = "{index}"

[accelerators.cpu]
inputs = ["inputs/cpu.in"]

[accelerators.cu128]
cuda = "12.8"
inputs = ["inputs/alt.in"]
"""


def new_project(
    root: Path, wheels: Path | list[Path], intent: str, *, cpu: str = "", alt: str = "", pythons: tuple[str, ...] = ()
) -> Proj:
    """A project over the fixture wheels, served as a local simple index (uv never
    reaches the network), its venv to be at ``<root>/.venv``."""
    root.mkdir(parents=True)
    for folder in [wheels] if isinstance(wheels, Path) else wheels:
        shutil.copytree(folder, root / "wheels", dirs_exist_ok=True)
    p = Proj(root=root, venv=root / ".venv")
    p.reindex()
    python = ", ".join(f'"{v}"' for v in (MINOR, *pythons))
    p.write("lockgen.toml", CONFIG.format(python=python, index=(root / "simple").as_uri()))
    p.write("inputs/base.in", intent)
    p.write("inputs/cpu.in", cpu or "# nothing more\n")
    p.write("inputs/alt.in", alt or "# nothing more\n")
    return p


def compile_state(p: Proj, intent: str, *args: str) -> State:
    p.write("inputs/base.in", intent)
    done = p.run("compile", *args)
    assert done.returncode == 0, done.stderr + done.stdout
    lock = pylock.read(p.lock_path())
    assert lock is not None
    return State(intent=intent, lock=p.lock_path().read_bytes(), versions=dict(lock.versions))


def intent_v1() -> str:
    return "".join(f"{pname(i)}==1.0\n" for i in range(PACKAGES)) + "gone==1.0\n"


def intent_v2() -> str:
    return "".join(f"{pname(i)}==2.0\n" for i in range(PACKAGES)) + "fresh==1.0\n"


# --- an independent reading of the environment --------------------------------------


@dataclass
class Seen:
    versions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # RECORD rows that do not hold
    stray: list[str] = field(default_factory=list)  # files in site-packages that no RECORD lists

    def whole(self, expected: dict[str, str], *, allowed: frozenset[str] | set[str] = frozenset()) -> bool:
        """Exactly ``expected`` (plus any of ``allowed``), every RECORD row holding."""
        extra = {n for n in self.versions if n not in expected and n not in allowed}
        wanted = {n: v for n, v in self.versions.items() if n in expected}
        return not self.problems and not extra and wanted == expected


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def examine(venv: Path, *, hashes: bool = False) -> Seen:
    """Every distribution in the venv, and every RECORD row checked: the file exists,
    has the recorded size (and sha256 with ``hashes``). Also lists every file in
    site-packages that no RECORD claims (leftovers of another version, a torn copy),
    outside lockgen's own folder and the venv's ``_virtualenv`` hook."""
    sites = sorted((venv / "lib").glob("python*/site-packages"))
    assert len(sites) == 1, sites
    site = sites[0]
    seen = Seen()
    claimed: set[str] = set()
    for info in sorted(site.glob("*.dist-info")):
        meta = info / "METADATA"
        try:
            head = meta.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[0]
        except OSError:
            seen.problems.append(f"{info.name}: no METADATA")
            continue
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        name = _canonical(fields.get("Name", info.name.split("-")[0]))
        if name in seen.versions:
            seen.problems.append(f"{name}: two dist-info folders")
        seen.versions[name] = fields.get("Version", "?")
        try:
            rows = list(csv.reader((info / "RECORD").read_text(encoding="utf-8").splitlines()))
        except OSError:
            seen.problems.append(f"{info.name}: no RECORD")
            continue
        for row in rows:
            if not row:
                continue
            path = os.path.normpath(os.path.join(site, row[0]))
            claimed.add(path)
            try:
                size = os.stat(path).st_size
            except OSError:
                seen.problems.append(f"{info.name}: {row[0]} is missing")
                continue
            if len(row) > 2 and row[2] and size != int(row[2]):
                seen.problems.append(f"{info.name}: {row[0]} has {size} bytes, RECORD says {row[2]}")
            elif hashes and len(row) > 1 and row[1].startswith("sha256="):
                with open(path, "rb") as data:
                    if _b64(data.read()) != row[1][7:]:
                        seen.problems.append(f"{info.name}: {row[0]} does not match its sha256")
    for dirpath, dirnames, filenames in os.walk(site):
        rel = os.path.relpath(dirpath, site)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if not d.endswith(".dist-info") and d not in (".lockgen", "__pycache__")]
            filenames = [f for f in filenames if not f.startswith("_virtualenv.")]
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            path = os.path.join(dirpath, f)
            if os.path.normpath(path) not in claimed:
                seen.stray.append(os.path.relpath(path, site))
    return seen


def seeds_of(venv: Path) -> dict[str, str]:
    return {n: v for n, v in examine(venv).versions.items() if n in {"pip", "setuptools", "wheel", "packaging"}}


# --- 1. kill-safety -----------------------------------------------------------------


@pytest.fixture
def pingpong(wheelhouse: Path, tmp_path: Path) -> tuple[Proj, State, State]:
    """A project with both states compiled (v1: p00…p19 1.0 and gone; v2: p00…p19 2.0
    and fresh), and an empty venv."""
    p = new_project(tmp_path / "proj", wheelhouse, intent_v1())
    v1 = compile_state(p, intent_v1())
    v2 = compile_state(p, intent_v2())
    make_venv(p.venv)
    return p, v1, v2


Moment = tuple[str, float]  # (event, seconds): kill at that many seconds after the event


def dist_infos(site: Path) -> set[str]:
    try:
        return {n for n in os.listdir(site) if n.endswith(".dist-info")}
    except OSError:
        return set()


def _event(name: str, p: Proj, old: State, new: State) -> Callable[[], bool]:
    """A predicate over the environment that becomes true at a moment of the sync."""
    site = p.site
    coming = {f"{n}-{v}.dist-info" for n, v in new.versions.items() if old.versions.get(n) != v}
    going = {f"{n}-{v}.dist-info" for n, v in old.versions.items() if new.versions.get(n) != v}
    extra = {f"{n}-{v}.dist-info" for n, v in old.versions.items() if n not in new.versions}
    record = site / ".lockgen" / "record.json"
    stamp = record.stat().st_mtime_ns if record.exists() else 0

    def present(names: set[str]) -> int:
        return len(names & dist_infos(site))

    events: dict[str, Callable[[], bool]] = {
        "start": lambda: True,
        "journal": p.journal.exists,
        "first-new": lambda: present(coming) >= 1,
        "half-new": lambda: present(coming) >= len(coming) // 2,
        "all-new": lambda: present(coming) == len(coming),
        "first-old-gone": lambda: present(going) < len(going),
        "extra-gone": lambda: present(extra) < len(extra),
        "record": lambda: record.exists() and record.stat().st_mtime_ns != stamp,
    }
    return events[name]


def kill_at(proc: subprocess.Popen[bytes], when: Callable[[], bool], delay: float, limit: float = 60) -> bool:
    """Wait for ``when`` (polling every millisecond or two), then ``delay`` seconds, then
    SIGKILL the process group. False when the sync ended first."""
    deadline = time.monotonic() + limit
    while not when():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            pytest.fail("the sync neither finished nor reached the moment to kill it")
        time.sleep(0.0015)
    if delay:
        time.sleep(delay)
    return kill_group(proc)


def outcome_of(seen: Seen, journal: bool, old: State, new: State) -> str:
    if seen.whole(new.versions):
        return "new lock whole, journal left" if journal else "new lock whole"
    if seen.whole(old.versions):
        return "old lock whole, journal left" if journal else "old lock whole"
    return "broken (half-changed)"


TIMED: list[Moment] = [("start", t) for t in (0.05, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)]
EVENTS: list[Moment] = [
    ("journal", 0.0),
    ("first-old-gone", 0.0),
    ("first-new", 0.0),
    ("half-new", 0.0),
    ("all-new", 0.0),
    ("extra-gone", 0.0),
    ("journal", 0.05),
    ("record", 0.0),
]


def _schedule(base: list[Moment], seed: str) -> list[Moment]:
    """``base``, then with LOCKGEN_SOAK=N that many more rounds at jittered moments."""
    rng = random.Random(seed)
    out = list(base)
    for _ in range(SOAK):
        out += [(event, max(0.0, delay + rng.uniform(-0.04, 0.12))) for event, delay in base]
    return out


@pytest.mark.parametrize(
    "moments",
    [pytest.param(_schedule(TIMED, "timed"), id="timed"), pytest.param(_schedule(EVENTS, "events"), id="events")],
)
def test_a_killed_sync_is_detected_by_verify_and_repaired_by_the_next_sync(
    pingpong: tuple[Proj, State, State], moments: list[Moment]
) -> None:
    """SIGKILL ``lockgen sync`` (and its uv) at many moments while it moves an
    environment between two locks that differ in every package, in file contents,
    sizes and file lists (UV_LINK_MODE=copy, so files are really written). Whatever
    the kill left behind: ``lockgen verify`` fails unless the environment is exactly
    the new lock (by this test's own RECORD reading); one more ``lockgen sync`` exits 0
    and leaves exactly the new lock, every file matching RECORD, sha256 included; and
    it says "already in sync" only when that was already true."""
    p, v1, v2 = pingpong
    old = State(intent="", lock=b"", versions={})  # the first sync starts from an empty venv
    outcomes: Counter[str] = Counter()
    for i, (event, delay) in enumerate(moments):
        new = v2 if i % 2 == 0 else v1
        p.use(new)
        proc, _, err = p.start("sync", *p.env_args(), log=f"killed-{i}", UV_LINK_MODE="copy")
        killed = kill_at(proc, _event(event, p, old, new), delay)
        where = f"kill {i} at {event}+{delay:.2f}s"
        if not killed:
            assert proc.returncode == 0, f"{where}: the sync ended by itself and failed: {err.read_text()}"
        journal = p.journal.exists()
        seen = examine(p.venv)
        outcome = outcome_of(seen, journal, old, new) if killed else "ended before the kill"
        outcomes[outcome] += 1
        verify = p.verify()
        if not (seen.whole(new.versions) and not journal):
            assert verify.returncode == 1, f"{where}: {outcome}, yet verify passed:\n{verify.stdout}{seen.problems[:5]}"
        else:
            assert verify.returncode == 0, f"{where}: {outcome}, yet verify failed:\n{verify.stdout}"
        repair = p.sync()
        assert repair.returncode == 0, f"{where} ({outcome}): the repairing sync failed:\n{repair.stderr}"
        said = "already in sync" in repair.stdout
        assert said == (seen.whole(new.versions) and not journal), f"{where}: {outcome}, yet:\n{repair.stdout}"
        after = examine(p.venv, hashes=True)
        assert after.whole(new.versions), f"{where} ({outcome}): not repaired: {after.problems[:5]} {after.versions}"
        assert after.stray == [], f"{where} ({outcome}): the repair left files no RECORD lists: {after.stray[:5]}"
        hashed = p.verify(CPU, "--hashes")
        assert hashed.returncode == 0, f"{where} ({outcome}): {hashed.stdout}"
        old = new
    KILLS.update({f"sync: {k}": n for k, n in outcomes.items()})


def _group_programs(group: int) -> list[str]:
    """The programs (``comm``) of every live process in process group ``group``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(comm)
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("event", ["journal", "first-new", "half-new"])
def test_sigterm_to_lockgen_alone_stops_its_uv_and_the_next_sync_repairs(
    pingpong: tuple[Proj, State, State], event: str
) -> None:
    """``timeout``, ``kill`` and ``docker stop`` send SIGTERM to lockgen only, not to
    the uv it runs. lockgen stops that uv before it ends (by SIGTERM), so nothing goes
    on changing the environment behind a finished command; verify then tells the truth
    and the next sync repairs."""
    p, v1, v2 = pingpong
    p.use(v1)
    assert p.sync().returncode == 0
    p.use(v2)
    proc, _, err = p.start("sync", *p.env_args(), log=f"terminated-{event}", UV_LINK_MODE="copy")
    if not wait_until(proc, _event(event, p, v1, v2)):
        pytest.skip(f"the sync ended before {event}")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    left = _group_programs(proc.pid)
    assert "uv" not in left, f"uv runs on after lockgen ended: {left}"
    assert proc.returncode == -signal.SIGTERM, err.read_text()
    assert "error: interrupted" in err.read_text()
    seen = examine(p.venv)
    verify = p.verify()
    assert verify.returncode == (0 if seen.whole(v2.versions) and not p.journal.exists() else 1), verify.stdout
    assert p.sync().returncode == 0
    assert examine(p.venv, hashes=True).whole(v2.versions)
    assert p.verify(CPU, "--hashes").returncode == 0


def wait_until(proc: subprocess.Popen[bytes], when: Callable[[], bool], limit: float = 60) -> bool:
    """Poll ``when`` until it holds (True) or ``proc`` has ended (False)."""
    deadline = time.monotonic() + limit
    while not when():
        if proc.poll() is not None:
            return when()
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for a moment of a lockgen run")
        time.sleep(0.0015)
    return True


def test_a_sync_killed_while_uv_uninstalls_leaves_no_files_of_the_old_version(tmp_path: Path, wheelhouse: Path) -> None:
    """uv uninstalls a package in RECORD order, and its RECORD sorts the dist-info's own
    files (METADATA, RECORD) before the package's: a kill in that window leaves the old
    version's modules with no RECORD naming them. After the next sync, nothing of the
    old version may remain: a module the new version dropped must not stay importable,
    invisible to ``lockgen verify``."""
    wheels = tmp_path / "big-wheels"
    write_wheel(wheels, "big", "1.0", {**many_files("big", "1.0", count=1000), "big/only_v1.py": b"OLD = True\n"})
    write_wheel(wheels, "big", "2.0", many_files("big", "2.0", count=1000, shift=500))
    p = new_project(tmp_path / "proj", [wheelhouse, wheels], "big==1.0\n")
    v2 = compile_state(p, "big==2.0\n")
    v1 = compile_state(p, "big==1.0\n")
    make_venv(p.venv)
    assert p.sync().returncode == 0
    old_info = p.site / "big-1.0.dist-info"
    for attempt in range(6):
        p.use(v2)
        proc, _, _ = p.start("sync", *p.env_args(), log=f"uninstalling-{attempt}", UV_LINK_MODE="copy")
        hit = wait_until(proc, lambda: old_info.is_dir() and not (old_info / "RECORD").exists())
        kill_group(proc)
        if hit and (p.site / "big" / "only_v1.py").exists():
            break
        assert p.sync().returncode == 0  # missed the window: back to v1 and try again
        p.use(v1)
        assert p.sync().returncode == 0
    else:
        pytest.skip("never caught uv between removing big 1.0's RECORD and its modules")
    KILLS["sync: killed mid-uninstall, broken"] += 1
    assert p.verify().returncode == 1
    repair = p.sync()
    assert repair.returncode == 0, repair.stderr
    after = examine(p.venv, hashes=True)
    assert after.whole(v2.versions), after.problems[:5]
    assert p.verify(CPU, "--hashes").returncode == 0
    left = subprocess.run(
        [str(p.venv / "bin" / "python"), "-c", "import big.only_v1"], capture_output=True, check=False
    )
    assert after.stray == [] and left.returncode != 0, (
        f"{len(after.stray)} files of big 1.0 survived the repair, listed by no RECORD "
        f"(`import big.only_v1` {'works' if left.returncode == 0 else 'fails'}): {after.stray[:5]}"
    )


# --- 2. a rebuilt artifact ----------------------------------------------------------


def test_an_artifact_rebuilt_under_the_same_version_is_reinstalled(tmp_path: Path, wheelhouse: Path) -> None:
    """A wheel rebuilt with other contents under the same name and version: after
    ``compile -U`` the lock names a new sha256, and sync reinstalls that package (shown
    with ``!``) although its version did not move; the files on disk are the new ones."""
    p = new_project(tmp_path / "proj", wheelhouse, "helper==1.0\np00==1.0\n")
    before = compile_state(p, "helper==1.0\np00==1.0\n")
    make_venv(p.venv)
    assert p.sync().returncode == 0
    wheel = p.root / "wheels" / "helper-1.0-py3-none-any.whl"
    old_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    rebuilt = many_files("helper", "1.0", count=7, salt="rebuilt")
    write_wheel(p.root / "wheels", "helper", "1.0", rebuilt)
    new_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert new_sha != old_sha
    p.reindex()
    after = compile_state(p, "helper==1.0\np00==1.0\n", "-U")
    assert after.versions == before.versions
    assert new_sha in p.lock_path().read_text() and old_sha not in p.lock_path().read_text()
    dry = p.run("sync", *p.env_args(), "--dry-run")
    assert dry.returncode == 0 and "! helper reinstall" in dry.stdout, dry.stdout
    result = p.sync()
    assert result.returncode == 0, result.stderr
    changes = [line for line in result.stdout.splitlines() if line[:2] in ("+ ", "~ ", "! ", "- ")]
    assert changes == ["! helper reinstall: installed from other artifacts than the lock names (another hash)"], (
        result.stdout
    )
    seen = examine(p.venv, hashes=True)
    assert seen.whole(after.versions), seen.problems
    for arc, data in rebuilt.items():
        assert (p.site / arc).read_bytes() == data, f"{arc} is still the old build's"
    assert p.verify(CPU, "--hashes").returncode == 0
    again = p.sync()
    assert again.returncode == 0 and "already in sync" in again.stdout


# --- 3. the installer's own packages ------------------------------------------------


def seeded_venv(path: Path) -> Path:
    """A venv with the installer's own packages: ``uv venv --seed`` (pip, setuptools,
    wheel and what they need) from uv's cache, else from PyPI, else the stdlib's
    ``venv`` with its bundled pip (no network needed)."""
    args = [uv.binary(), "venv", str(path), "--python", sys.executable, "--seed", "-q", "--no-config"]
    for extra in (["--offline"], []):
        done = subprocess.run(
            [*args, *extra], env=child_env(UV_HTTP_TIMEOUT="15"), capture_output=True, check=False, timeout=120
        )
        if done.returncode == 0:
            return path
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=child_env())
    return path


def test_sync_keeps_pip_setuptools_and_wheel_whether_or_not_uv_runs(tmp_path: Path, wheelhouse: Path) -> None:
    """An exact lock without pip, setuptools or wheel, synced into a seeded venv: they
    (and what they need) stay installed and importable, and the summary says they were
    kept — on a first install, on a change that makes uv install and uninstall, and on a
    no-op."""
    p = new_project(tmp_path / "proj", wheelhouse, "helper==1.0\ngone==1.0\n")
    a = compile_state(p, "helper==1.0\ngone==1.0\n")
    b = compile_state(p, "helper==2.0\nfresh==1.0\n")
    seeded_venv(p.venv)
    seeds = seeds_of(p.venv)
    assert "pip" in seeds, seeds
    code = "import " + ", ".join(sorted(seeds, key=lambda n: n != "setuptools"))  # setuptools before distutils
    for state, why in ((a, "first install"), (b, "a change"), (b, "a no-op")):
        p.use(state)
        result = p.sync()
        assert result.returncode == 0, f"{why}: {result.stderr}"
        assert ("already in sync" in result.stdout) == (why == "a no-op"), result.stdout
        kept = next((line for line in result.stdout.splitlines() if line.startswith("kept")), "")
        assert all(name in kept for name in seeds), (
            f"{why}: the summary does not say {sorted(seeds)} were kept:\n{result.stdout}"
        )
        assert seeds_of(p.venv) == seeds, f"{why}: the installer's own packages changed"
        seen = examine(p.venv, hashes=True)
        assert seen.whole(state.versions, allowed=set(seeds)), f"{why}: {seen.problems[:5]} {seen.versions}"
        assert p.verify(CPU, "--hashes").returncode == 0
        works = subprocess.run(
            [str(p.venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False
        )
        assert works.returncode == 0, f"{why}: {code}: {works.stderr}"
        pip = subprocess.run(
            [str(p.venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True, check=False
        )
        assert pip.returncode == 0, f"{why}: pip does not run: {pip.stderr}"


# --- 4. two syncs of one environment ------------------------------------------------


def _lock_versions(path: Path) -> dict[str, str]:
    lock = pylock.read(path)
    assert lock is not None
    return dict(lock.versions)


def _finish_in_order(procs: dict[str, subprocess.Popen[bytes]], limit: float = 180) -> list[str]:
    """Wait for every process; their names in the order they ended."""
    order: list[str] = []
    deadline = time.monotonic() + limit
    while len(order) < len(procs):
        for name, proc in procs.items():
            if name not in order and proc.poll() is not None:
                order.append(name)
        if time.monotonic() > deadline:
            for proc in procs.values():
                kill_group(proc)
            pytest.fail("lockgen runs did not finish")
        time.sleep(0.01)
    return order


@pytest.fixture
def two_variants(tmp_path: Path, wheelhouse: Path) -> tuple[Proj, dict[str, dict[str, str]]]:
    """One python, two variants whose locks differ in every package: ``cpu`` (p*==1.0,
    gone) and ``cu128`` (p*==2.0, fresh); both with helper."""
    p = new_project(tmp_path / "proj", wheelhouse, "helper\n", cpu=intent_v1(), alt=intent_v2())
    done = p.run("compile")
    assert done.returncode == 0, done.stderr
    make_venv(p.venv)
    return p, {CPU: _lock_versions(p.lock_path(CPU)), ALT: _lock_versions(p.lock_path(ALT))}


def _final_is(p: Proj, locks: dict[str, dict[str, str]], last: str) -> None:
    """The environment is exactly ``last``'s lock, whole; verify agrees for both."""
    seen = examine(p.venv, hashes=True)
    assert seen.whole(locks[last]), f"not {last}'s lock: {seen.problems[:5]} {seen.versions}"
    assert not p.journal.exists()
    assert p.verify(last, "--hashes").returncode == 0
    other = ALT if last == CPU else CPU
    assert p.verify(other).returncode == 1


def test_a_second_sync_waits_for_the_first_and_says_so_once(
    two_variants: tuple[Proj, dict[str, dict[str, str]]],
) -> None:
    """A sync holding an environment is frozen (SIGSTOP) mid-install; two more syncs of
    that environment, for two different variants, start meanwhile. Each says once, on
    stderr, that it waits and for which process; then the holder is SIGKILLed. Both
    exit 0, one after the other, and the environment ends exactly the lock of the one
    that ran last, every file matching RECORD."""
    p, locks = two_variants
    holder, _, _ = p.start("sync", *p.env_args(CPU), log="holder", UV_LINK_MODE="copy")
    try:
        assert wait_until(holder, p.journal.exists), "the holder finished before it could be frozen"
        os.killpg(holder.pid, signal.SIGSTOP)
        runs = {v: p.start("sync", *p.env_args(v), log=f"waiter-{v}", UV_LINK_MODE="copy") for v in (CPU, ALT)}
        deadline = time.monotonic() + 60
        while not all(b"waiting for" in err.read_bytes() for _, _, err in runs.values()):
            assert time.monotonic() < deadline, "a second sync did not say that it waits"
            assert all(proc.poll() is None for proc, _, _ in runs.values()), "a sync ran while another held the env"
            time.sleep(0.02)
    finally:
        kill_group(holder)
    KILLS["sync: a frozen holder killed while two others waited"] += 1
    order = _finish_in_order({v: proc for v, (proc, _, _) in runs.items()})
    for v, (proc, _, err) in runs.items():
        text = err.read_text()
        assert proc.returncode == 0, f"{v}: {text}"
        assert text.count("waiting for") == 1, text
        assert f"process {holder.pid}" in text, f"{v} does not name the process it waits for: {text}"
    _final_is(p, locks, order[-1])


def test_two_syncs_started_together_leave_one_whole_lock(
    two_variants: tuple[Proj, dict[str, dict[str, str]]],
) -> None:
    """Two syncs of one environment for different variants, started 0–0.3 s apart, a
    few times: both exit 0, neither says it waits more than once, and the environment
    is exactly the lock of the one that ended last."""
    p, locks = two_variants
    rng = random.Random("two syncs")
    for round_ in range(2 + 3 * SOAK):
        first, second = (CPU, ALT) if round_ % 2 == 0 else (ALT, CPU)
        a = p.start("sync", *p.env_args(first), log=f"r{round_}-{first}", UV_LINK_MODE="copy")
        time.sleep(rng.uniform(0, 0.3))
        b = p.start("sync", *p.env_args(second), log=f"r{round_}-{second}", UV_LINK_MODE="copy")
        runs = {first: a, second: b}
        order = _finish_in_order({v: proc for v, (proc, _, _) in runs.items()})
        for v, (proc, _, err) in runs.items():
            text = err.read_text()
            assert proc.returncode == 0, f"round {round_}, {v}: {text}"
            assert text.count("waiting for") <= 1, text
        _final_is(p, locks, order[-1])


def test_two_first_syncs_with_different_caches_make_the_environment_once(
    two_variants: tuple[Proj, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    """Two first syncs into a project's ``.venv`` that does not exist yet, their run
    locks in different cache folders (``sudo`` beside the user, a CI job's own
    LOCKGEN_CACHE_DIR): the first is frozen (SIGSTOP) as soon as ``.venv`` appears, the
    second starts meanwhile. The second must not make (or remove) the environment the
    first is making: both exit 0, and the environment ends exactly the lock of the one
    that ran last. Without the folder locked from its first moment, the second removed
    the first's half-made ``.venv`` and made its own, and one of them failed."""
    p, locks = two_variants
    p.venv = p.root / ".venv"
    outcomes: Counter[str] = Counter()
    # A first sync can be over before it is frozen (a fast machine): rounds go on, up to
    # eight, until one froze it and the second waited.
    for round_, (first, second) in enumerate([(CPU, ALT), (ALT, CPU)] * (4 + SOAK)):
        if round_ >= 2 + 2 * SOAK and outcomes["waited"]:
            break
        shutil.rmtree(p.venv, ignore_errors=True)
        a = p.start("sync", "--variant", first, log=f"first-{round_}", LOCKGEN_CACHE_DIR=str(tmp_path / "cache-a"))
        frozen = wait_until(a[0], p.venv.exists) and a[0].poll() is None
        if frozen:
            os.killpg(a[0].pid, signal.SIGSTOP)
        try:
            b = p.start(
                "sync", "--variant", second, log=f"second-{round_}", LOCKGEN_CACHE_DIR=str(tmp_path / "cache-b")
            )
            deadline = time.monotonic() + 60
            while b[0].poll() is None and b"waiting for" not in b[2].read_bytes():
                assert time.monotonic() < deadline, "the second sync neither waited nor ended"
                time.sleep(0.01)
            outcomes["waited" if b[0].poll() is None else "ran first"] += 1
        finally:
            if frozen:
                os.killpg(a[0].pid, signal.SIGCONT)
        order = _finish_in_order({first: a[0], second: b[0]})
        for v, (proc, _, err) in ((first, a), (second, b)):
            assert proc.returncode == 0, f"round {round_}, {v}: {err.read_text()}"
        _final_is(p, locks, order[-1])
    assert outcomes["waited"], outcomes  # the case that broke: the second found the first's folder


# --- 5. compiles at once, and a killed compile --------------------------------------

OTHER = "3.12" if MINOR != "3.12" else "3.13"  # a second python: resolving for it needs no interpreter
HELPER = {"A": ("helper==1.0\n", "1.0"), "B": ("helper==2.0\n", "2.0")}  # state → (intent, helper's version)


def _digests(p: Proj) -> dict[str, str]:
    """Each variant's input-digest for the inputs as they are now (lockgen's own rule)."""
    from lockgen.project.config import load
    from lockgen.project.intents import Inputs

    config = load(p.root, p.root / "lockgen.toml")
    inputs = Inputs.of(config)
    return {v.name: inputs.digest(v) for v in config.variants}


@pytest.fixture
def two_states(tmp_path: Path, wheelhouse: Path) -> tuple[Proj, dict[str, dict[str, str]]]:
    """Four variants (two pythons × cpu, cu128) and two states of the intent file, A
    (helper==1.0) and B (helper==2.0), with every variant's input-digest in each;
    locks compiled for A."""
    p = new_project(tmp_path / "proj", wheelhouse, HELPER["A"][0], pythons=(OTHER,))
    digests = {}
    for state in ("B", "A"):
        p.write("inputs/base.in", HELPER[state][0])
        digests[state] = _digests(p)
    done = p.run("compile")
    assert done.returncode == 0, done.stderr
    return p, digests


def lock_set_state(p: Proj, digests: dict[str, dict[str, str]]) -> str:
    """The state the whole lock set was compiled from; fails on a mix, on a lock
    labelled with one state's digest but resolved from another's inputs, or on a lock
    that is not whole."""
    states = {}
    for variant in digests["A"]:
        lock = pylock.read(p.lock_path(variant))  # parses and validates: a torn lock fails here
        assert lock is not None, f"{variant}: no lock"
        state = next((s for s, d in digests.items() if d[variant] == lock.digest), None)
        assert state is not None, f"{variant}: its input-digest is neither state's"
        assert lock.versions.get("helper") == HELPER[state][1], (
            f"{variant}: labelled with state {state}'s input-digest, but it pins helper "
            f"{lock.versions.get('helper')}, which is what the other state's inputs ask for"
        )
        states[variant] = state
    assert len(set(states.values())) == 1, f"a mix of two runs: {states}"
    return next(iter(states.values()))


def leftovers(p: Proj) -> list[str]:
    return sorted(n for n in os.listdir(p.root / "locks") if n.startswith(".lockgen-"))


def test_two_compiles_at_once_leave_the_locks_of_the_newest_inputs(
    two_states: tuple[Proj, dict[str, dict[str, str]]],
) -> None:
    """Two ``lockgen compile`` runs on one project, the second started 0–0.3 s after
    the first and after the intent file changed: both exit 0, the lock set is never a
    mix, every lock pins what the inputs named by its input-digest ask for, and
    ``lockgen check`` passes against the inputs as they are at the end."""
    p, digests = two_states
    rng = random.Random("two compiles")
    for round_ in range(4 + 4 * SOAK):
        first, second = ("B", "A") if round_ % 2 == 0 else ("A", "B")
        p.write("inputs/base.in", HELPER[first][0])
        one = p.start("compile", log=f"c{round_}-1")
        time.sleep(rng.uniform(0, 0.3))
        p.write("inputs/base.in", HELPER[second][0])
        two = p.start("compile", log=f"c{round_}-2")
        _finish_in_order({"first": one[0], "second": two[0]})
        for proc, _, err in (one, two):
            assert proc.returncode == 0, err.read_text()
            assert err.read_text().count("waiting for") <= 1
        state = lock_set_state(p, digests)
        check = p.run("check")
        assert check.returncode == 0, (
            f"round {round_}: the locks are for {state}, the inputs are {second}: {check.stdout}"
        )
        assert leftovers(p) == []


@pytest.mark.parametrize("cache", ["same", "another"])
def test_a_compile_that_waited_resolves_the_inputs_its_digest_names(
    two_states: tuple[Proj, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    """A compile that had to wait for another one (here: the test holds the project's
    compile lock) must resolve the inputs it labels its locks with. The intent file
    changes from B back to A while it waits: whatever it writes, a lock that says
    "compiled from B" must pin B's helper, or ``lockgen check`` would pass a lock that
    does not satisfy its inputs once they are B again.

    With its run lock in ``another`` cache folder (``sudo lockgen compile`` beside the
    user's own, a CI job's own LOCKGEN_CACHE_DIR) it must wait all the same: the two
    once interleaved, one failing with ``cannot replace …: No such file or directory``."""
    from lockgen import runs

    p, digests = two_states
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path / "cache-a"))
    extra = {} if cache == "same" else {"LOCKGEN_CACHE_DIR": str(tmp_path / "cache-b")}
    said = b"waiting for process" if cache == "same" else b"waiting for another lockgen run"
    p.write("inputs/base.in", HELPER["B"][0])
    with runs.run_lock("compile", p.root / "locks", say=lambda _: None):
        proc, _, err = p.start("compile", log=f"waiter-{cache}", **extra)
        deadline = time.monotonic() + 60
        while said not in err.read_bytes():
            assert proc.poll() is None, f"the compile did not wait: {err.read_text()}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        p.write("inputs/base.in", HELPER["A"][0])
    assert proc.wait(timeout=120) == 0, err.read_text()
    assert err.read_text().count("waiting for") == 1
    lock_set_state(p, digests)


def test_an_edit_undone_while_uv_resolves_labels_no_lock_with_inputs_it_was_not_resolved_from(
    two_states: tuple[Proj, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv read the intent files itself, after lockgen had digested them. A file changed
    and changed back meanwhile (``git stash``, uv resolving, ``git stash pop``) gave a lock
    resolved from the other text under this text's digest, which check and compile then
    called current. Here the file is A when uv starts (a wrapper writes it just before),
    and B when lockgen read it and again afterwards: every lock must be B's."""
    from click.testing import CliRunner

    from lockgen.cli import main

    p, digests = two_states
    base = p.root / "inputs" / "base.in"
    p.write("inputs/base.in", HELPER["B"][0])
    wrapper = tmp_path / "uv-after-an-edit"
    wrapper.write_text(f'#!/bin/sh\ncp {tmp_path / "A.in"} {base}\nexec {uv.binary()} "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "A.in").write_text(HELPER["A"][0])
    monkeypatch.setattr(uv, "binary", lambda: str(wrapper))
    monkeypatch.chdir(p.root)
    result = CliRunner().invoke(main, ["compile"])
    assert result.exit_code == 0, result.output
    assert base.read_text() == HELPER["A"][0]  # uv did start after the edit
    p.write("inputs/base.in", HELPER["B"][0])  # the edit undone
    assert lock_set_state(p, digests) == "B"


def test_a_local_projects_file_rewritten_while_uv_resolves_fails_that_variant(
    tmp_path: Path,
    project,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """uv reads a local project's pyproject.toml where it is, after lockgen digested it.
    ``git stash`` and ``pop`` around uv (here a wrapper does both) gave a lock resolved
    from the stashed text under the digest of the other, which check then passed."""
    from click.testing import CliRunner
    from wheelmaker import make_local_project

    from lockgen.cli import main

    p = project
    p.write("inputs/base.in", "./libs/x\n")
    x = make_local_project(p.root / "libs/x", "xlocal", "1.0", ["helper==1.0"])
    stashed = tmp_path / "stashed"
    shutil.copytree(x, stashed)
    make_local_project(x, "xlocal", "1.0", ["helper==2.0"])  # the edit, as compile reads it
    edited = tmp_path / "edited"
    shutil.copytree(x, edited)
    wrapper = tmp_path / "uv-between-stash-and-pop"
    wrapper.write_text(f'#!/bin/sh\ncp {stashed}/* {x}/\n{uv.binary()} "$@"\ncode=$?\ncp {edited}/* {x}/\nexit $code\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(uv, "binary", lambda: str(wrapper))
    result = CliRunner().invoke(main, ["compile", "--config", str(p.config)])
    assert result.exit_code == 1, result.output
    assert "libs/x/pyproject.toml changed while uv resolved" in result.output
    assert not any(p.locks.glob("pylock.*.toml")) if p.locks.exists() else True
    monkeypatch.undo()
    assert p.run("compile").exit_code == 0
    assert p.run("check").exit_code == 0
    for lock in p.locks.glob("pylock.*.toml"):
        assert pylock.read(lock).versions["helper"] == "2.0", lock.name  # type: ignore[union-attr]


def test_a_run_that_waited_on_a_folder_since_replaced_waits_for_the_new_one(
    two_states: tuple[Proj, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compile waits on the locks folder held by a run with another cache folder; the
    folder is then replaced (a dry run that made it removes it when done, and a third
    run makes it again and locks it) before the first run lets go. The waiting compile
    must lock the folder that is there now, and keep waiting while the third run holds
    it, not go on holding a lock on a folder that no longer exists."""
    from lockgen import runs

    p, digests = two_states
    locks = p.root / "locks"
    p.write("inputs/base.in", HELPER["B"][0])
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path / "cache-a"))
    with contextlib.ExitStack() as third:
        with runs.run_lock("compile", locks, say=lambda _: None):
            proc, _, err = p.start("compile", log="waiter", LOCKGEN_CACHE_DIR=str(tmp_path / "cache-b"))
            deadline = time.monotonic() + 60
            while b"waiting for another lockgen run" not in err.read_bytes():
                assert proc.poll() is None, f"the compile did not wait: {err.read_text()}"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            shutil.copytree(locks, tmp_path / "locks-again")
            shutil.rmtree(locks)
            (tmp_path / "locks-again").rename(locks)
            monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path / "cache-c"))
            third.enter_context(runs.run_lock("compile", locks, say=lambda _: None))
        time.sleep(1.0)
        assert proc.poll() is None, f"the compile ran while another run held the locks folder: {err.read_text()}"
    assert proc.wait(timeout=120) == 0, err.read_text()
    assert err.read_text().count("waiting for") == 1, err.read_text()
    assert lock_set_state(p, digests) == "B"


CompileMoment = tuple[str, float]
COMPILE_KILLS: list[CompileMoment] = [
    ("start", 0.25),
    ("workspace", 0.0),
    ("staged", 0.0),
    ("commit", 0.0),
    ("start", 0.45),
]


def test_a_killed_compile_leaves_whole_locks_and_the_next_one_cleans_up(
    two_states: tuple[Proj, dict[str, dict[str, str]]],
) -> None:
    """SIGKILL ``lockgen compile`` while it resolves, after it staged new locks, while
    it commits them. Every lock is whole and the set is old or new (or ``lockgen check``
    says a compile was interrupted); the next compile removes every ``locks/.lockgen-*``
    leftover, writes the new set, and ``lockgen check`` passes."""
    p, digests = two_states
    locks = p.root / "locks"
    events: dict[str, Callable[[], bool]] = {
        "start": lambda: True,
        "workspace": lambda: any(n.startswith(".lockgen-tmp-") for n in os.listdir(locks)),
        "staged": lambda: any(n.startswith(".lockgen-pylock.") for n in os.listdir(locks)),
        "commit": lambda: (locks / ".lockgen-commit.json").exists(),
    }
    state = "A"
    outcomes: Counter[str] = Counter()
    moments = _schedule(COMPILE_KILLS, "compile kills")
    for i, (event, delay) in enumerate(moments):
        new = "B" if state == "A" else "A"
        p.write("inputs/base.in", HELPER[new][0])
        proc, _, err = p.start("compile", "-U", log=f"compile-killed-{i}")
        killed = kill_at(proc, events[event], delay)
        where = f"compile kill {i} at {event}+{delay:.2f}s"
        if not killed:
            assert proc.returncode == 0, f"{where}: {err.read_text()}"
        left = leftovers(p)
        check = p.run("check")
        if (locks / ".lockgen-commit.json").exists():
            outcomes["killed while committing"] += 1
            assert check.returncode == 1 and "interrupted" in check.stdout, f"{where}: {check.stdout}"
        else:
            found = lock_set_state(p, digests)
            ended = "killed" if killed else "ended before the kill"
            outcomes[f"{ended}, {'new' if found == new else 'old'} locks"] += 1
            assert (check.returncode == 0) == (found == new), f"{where}: {check.stdout}"
        if left:
            KILLS["note: a killed compile left .lockgen-* files"] += 1
        again = p.run("compile")
        assert again.returncode == 0, f"{where}: {again.stderr}"
        assert leftovers(p) == [], f"{where}: the next compile left {leftovers(p)} (the kill left {left})"
        assert lock_set_state(p, digests) == new
        check = p.run("check")
        assert check.returncode == 0, f"{where}: {check.stdout}"
        state = new
    KILLS.update({f"compile: {k}": n for k, n in outcomes.items()})


# --- 6. a full disk -----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A 2 MiB tmpfs inside tmp_path (root only; skipped where it cannot be mounted)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(disk)], check=False))
    return disk


def test_a_full_cache_is_named_before_any_resolution_and_changes_no_lock(
    tmp_path: Path, wheelhouse: Path, small_disk: Path
) -> None:
    """lockgen's cache on a full disk, the locks folder's with room: the commit could not
    keep its token there, found after every resolution and blamed on the locks folder."""
    p = new_project(tmp_path / "proj", wheelhouse, "helper==1.0\n")
    small_disk.chmod(0o700)  # a tmpfs is mounted writable by all, which no cache of lockgen's may be
    cache = small_disk / "lockgen"
    assert p.run("compile", LOCKGEN_CACHE_DIR=str(cache)).returncode == 0
    old = {f.name: f.read_bytes() for f in (p.root / "locks").iterdir()}
    with open(small_disk / "filler", "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    p.write("inputs/base.in", "helper==2.0\n")
    full = p.run("compile", LOCKGEN_CACHE_DIR=str(cache))
    (error,) = _errors(full)
    assert f"cannot write lockgen's cache file {cache}/" in error and "no space left" in error, full.stderr
    assert "failed" not in full.stdout, "no variant was resolved, so none failed"
    assert {f.name: f.read_bytes() for f in (p.root / "locks").iterdir()} == old


def test_a_locks_folder_filling_up_while_uv_resolves_is_named(
    tmp_path: Path, wheelhouse: Path, small_disk: Path
) -> None:
    """uv writes its lock and its log beside the locks; with no room for them it aborts,
    and each variant failed with "uv failed to resolve: ended by SIGABRT", naming
    neither the disk nor the folder. The locks stay as they were."""
    p = new_project(tmp_path / "proj", wheelhouse, "helper==1.0\n")
    config = p.root / "lockgen.toml"
    config.write_text(f'locks-dir = "{small_disk}/locks"\n' + config.read_text())
    boundary = small_disk.parent  # a locks folder must lie in the project's repository
    assert boundary == tmp_path and p.root.parent == tmp_path
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert p.run("compile").returncode == 0, "the first compile has room"
    old = {f.name: f.read_bytes() for f in (small_disk / "locks").iterdir()}
    with open(small_disk / "filler", "wb") as f, contextlib.suppress(OSError):
        for size in (65536, 4096):  # to within a page: room for the probe, none for uv
            with contextlib.suppress(OSError):
                while shutil.disk_usage(small_disk).free > 3 * size:
                    f.write(b"\0" * size)
                    f.flush()
    p.write("inputs/base.in", "helper==2.0\n")
    full = p.run("compile")
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    said = [line for line in (full.stdout + full.stderr).splitlines() if "failed:" in line]
    assert said and all(re.search(r"(?i)no space left|KiB left on the device", line) for line in said), said
    assert {f.name: f.read_bytes() for f in (small_disk / "locks").iterdir()} == old


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``error:`` lines of a failed run (and a traceback is never one of them)."""
    assert result.returncode == 1, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_full_disk_fails_with_one_error_and_the_next_sync_repairs(
    tmp_path: Path, wheelhouse: Path, small_disk: Path
) -> None:
    """The environment lives on a 2 MiB filesystem. Filled up before the sync: one
    ``error:`` line, exit 1, and the environment as it was. Filled up by the sync
    itself (a 3 MiB file): one ``error:`` line, exit 1, and ``verify`` fails. With
    room made, the next sync exits 0 and the environment verifies, sha256 included."""
    wheels = tmp_path / "huge-wheels"
    write_wheel(wheels, "huge", "1.0", {"huge/__init__.py": b"", "huge/blob.bin": random.Random(7).randbytes(3 << 20)})
    p = new_project(tmp_path / "proj", [wheelhouse, wheels], "helper==1.0\n")
    p.venv = small_disk / "venv"
    small = compile_state(p, "helper==1.0\n")
    big = compile_state(p, "helper==2.0\nhuge==1.0\n")
    p.use(small)
    make_venv(p.venv)
    assert p.sync().returncode == 0
    filler = small_disk / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    p.use(big)
    full = p.sync()
    assert len(_errors(full)) == 1, f"a disk full before the sync:\n{full.stderr}"
    assert "space" in full.stderr.lower(), full.stderr
    seen = examine(p.venv, hashes=True)
    assert seen.whole(small.versions) and not p.journal.exists(), "a failed sync changed the environment"
    filler.unlink()
    filled = p.sync()
    errors = _errors(filled)  # judged last: the repair below matters more
    assert "space" in filled.stderr.lower(), filled.stderr
    assert p.verify().returncode == 1
    done = subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    repair = p.sync()
    assert repair.returncode == 0, repair.stderr
    assert "already in sync" not in repair.stdout
    seen = examine(p.venv, hashes=True)
    assert seen.whole(big.versions) and not seen.stray, (seen.problems[:5], seen.stray[:5])
    assert p.verify(CPU, "--hashes").returncode == 0
    assert len(errors) == 1, f"a disk filled by the sync: {len(errors)} error: lines:\n{filled.stderr}"

"""``nox -s bench``: lockgen timed beside plain uv (and pip) doing the same work, in one run.

Every baseline is given the flags lockgen itself gives uv (``--python <this
interpreter> --no-python-downloads``, hashes, ``--exclude-newer``), and the exact
command is printed, so a reader can rerun it. lockgen and its baselines are timed
in turns, run after run, so that both meet the same moments of a shared machine's
load. Figures are medians; online ones use PyPI as this machine reaches it. Sections (``nox -s bench -- SECTION...``):

* ``compile``: the embedded default's six Linux CUDA variants, online and offline,
  fresh and after an input edit; no-op compile and check; what reading a lock's
  truth costs.
* ``scale``: 6 and 48 variants (3 pythons × 2 platforms × 8 accelerators) offline
  over a local fixture index: time and peak RSS of the lockgen process.
* ``sync``: 20 small packages, a no-op sync, verify (sizes and sha256).
* ``wheelhouse``: a small real project's wheelhouse beside ``pip download``, and a
  sync from it beside ``uv pip sync --no-index --find-links``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from wheelmaker import make_index, make_wheel

from lockgen import uv
from lockgen.compile import exchange
from lockgen.project import config

REPO = Path(__file__).parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
OFFLINE_RUNS = int(os.environ.get("BENCH_OFFLINE_RUNS", "9"))  # sub-second rows: more turns, steadier medians
ONLINE_RUNS = int(os.environ.get("BENCH_ONLINE_RUNS", "3"))
# The console script pip installs, as users run it (``python -m lockgen`` would add runpy's start-up).
_SCRIPT = Path(sys.executable).with_name("lockgen")
LOCKGEN = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "lockgen"]
# nox's uv backend sets UV_PYTHON for the session; lockgen ignores it (with a warning on every run).
ENV = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PYTHON")}
ROWS: list[tuple[str, float, float | None, str]] = []  # what, lockgen s, baseline s, target


def median(fn: Callable[[], object], runs: int = RUNS, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def side_by_side(
    fns: dict[str, Callable[[], object]], runs: int = RUNS, setup: Callable[[], object] | None = None
) -> dict[str, float]:
    """The median of each, timed in turns (the order rotating each round) so that every
    side meets the same moments of a shared machine's load; ``setup`` before each."""
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n in range(runs):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            if setup:
                setup()
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def sh(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env={**ENV, **(env or {})})


def row(what: str, ours: float, theirs: float | None = None, target: str = "") -> None:
    ROWS.append((what, ours, theirs, target))
    ratio = f"{ours / theirs:5.2f}x" if theirs else ""
    base = f"{theirs * 1000:8.0f} ms" if theirs else ""
    print(f"  {what:<66} {ours * 1000:8.0f} ms {base:>11} {ratio:>7}  {target}", flush=True)


def show(commands: list[list[str]], what: str) -> None:
    print(f"  baseline ({what}), {len(commands)} commands, the first:\n    {shlex.join(commands[0])}", flush=True)


# --- compile -------------------------------------------------------------------------


def compile_project(root: Path) -> Path:
    """The embedded default's Linux CUDA variants: py3.11/3.12 × cu126/cu128/cu130."""
    shutil.copytree(REPO / "inputs", root / "inputs")
    text = "[tool.lockgen]" + (REPO / "pyproject.toml").read_text().split("[tool.lockgen]", 1)[1]
    text = text.replace('platforms = ["x86_64-manylinux_2_28", "aarch64-apple-darwin"]', "")
    text = text.replace(
        '[tool.lockgen.accelerators.cpu]\nplatforms = ["aarch64-apple-darwin"]\ninputs = ["inputs/cpu.in"]\n', ""
    )
    text = text.replace('platforms = ["x86_64-manylinux_2_28"]\n', "")
    (root / "pyproject.toml").write_text(text)
    return root / "pyproject.toml"


# The kindest order for it: uv starts as soon as the command line's module is loaded, and the
# rest loads while uv resolves.
_FLOOR = """
import json, subprocess, sys
import lockgen.cli
procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in json.loads(sys.argv[1])]
import lockgen.report, lockgen.compile.compiler, lockgen.compile.strategy, lockgen.compile.rules
import lockgen.compile.consistency
sys.exit(max(p.wait() for p in procs))
"""


# Lower still: a Python process with click alone (no lockgen module, no packaging, no
# TOML reader), starting the six uv calls at once.
_CLICK_FLOOR = """
import json, subprocess, sys
import click
procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in json.loads(sys.argv[1])]
sys.exit(max(p.wait() for p in procs))
"""


def bench_compile() -> None:
    print("\ncompile: the embedded default's 6 Linux CUDA variants (~57 PyPI packages each)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = compile_project(Path(tmp) / "proj")
        root = cfg_path.parent
        cfg = config.load(root, cfg_path)
        assert len(cfg.variants) == 6, [v.name for v in cfg.variants]
        locks = root / "locks"
        out = Path(tmp) / "uv-out"
        out.mkdir()
        sh([*LOCKGEN, "compile", "--config", str(cfg_path)])  # warm uv's cache once
        from lockgen.compile.resolver import uv_args
        from lockgen.project.intents import Inputs

        inputs = Inputs.of(cfg)

        def calls(offline: bool) -> list[list[str]]:
            out_calls = []
            for v in cfg.variants:
                request = exchange.request_for(cfg, v, inputs)
                args = uv_args(request, out / f"pylock.{v.name}.toml", fmt="pylock.toml", offline=offline)
                out_calls.append([uv.binary(), *args])
            return out_calls

        def clear() -> None:
            shutil.rmtree(locks, ignore_errors=True)
            for f in out.glob("*"):
                f.unlink()

        def serial(cmds: list[list[str]]) -> Callable[[], None]:
            def run() -> None:
                for c in cmds:
                    sh(c, cwd=root)

            return run

        def parallel(cmds: list[list[str]]) -> Callable[[], None]:
            def run() -> None:
                procs = [subprocess.Popen(c, cwd=root, stdout=subprocess.DEVNULL, env=ENV) for c in cmds]
                assert all(p.wait() == 0 for p in procs)

            return run

        offline, online = calls(True), calls(False)
        show(offline, "offline; online is the same without --offline")
        lockgen_offline = [*LOCKGEN, "compile", "--offline", "--config", str(cfg_path)]
        lockgen_online = [*LOCKGEN, "compile", "--config", str(cfg_path)]
        # What a front end like lockgen pays at the least: a Python process that imports what
        # compile imports (click among them), starts the six uv calls at once and waits.
        floor = [sys.executable, "-c", _FLOOR, json.dumps(offline)]
        click_floor = [sys.executable, "-c", _CLICK_FLOOR, json.dumps(offline)]

        m = side_by_side({"ours": lambda: sh(lockgen_offline), "serial": serial(offline),
                          "parallel": parallel(offline), "floor": lambda: sh(floor, cwd=root),
                          "click": lambda: sh(click_floor, cwd=root)},
                         runs=OFFLINE_RUNS, setup=clear)  # fmt: skip
        row("offline, no locks yet, vs uv one variant after another", m["ours"], m["serial"], "<= 1.0x")
        row("offline, no locks yet, vs uv all six at once", m["ours"], m["parallel"], "stretch <= 2x")
        row("floor (python, the imports, uv all at once), vs uv one after another", m["floor"], m["serial"])
        row("floor (python and click alone, uv all at once), vs uv one after another", m["click"], m["serial"])
        m = side_by_side({"ours": lambda: sh(lockgen_online), "serial": serial(online),
                          "parallel": parallel(online)}, runs=ONLINE_RUNS, setup=clear)  # fmt: skip
        row("online, no locks yet, vs uv one after another", m["ours"], m["serial"], "<= 0.8x, stretch <= 0.5x")
        row("online, no locks yet, vs uv all six at once", m["ours"], m["parallel"])

        # The everyday case: an intent file changed; every lock is uv's preference.
        sh(lockgen_offline)
        base = root / "inputs" / "base.in"
        original = base.read_text()
        edits = iter(range(10**6))

        def edit() -> None:
            base.write_text(original + f"# edit {next(edits)}\n")
            for lock in locks.glob("pylock.*.toml"):
                shutil.copy(lock, out / lock.name)  # plain uv gets the same preferences

        m = side_by_side({"ours": lambda: sh(lockgen_online), "serial": serial(online)}, runs=ONLINE_RUNS, setup=edit)
        row("online, after an input edit (locks as preferences), vs uv one after another", m["ours"], m["serial"],
            "<= 0.8x")  # fmt: skip
        m = side_by_side(
            {"ours": lambda: sh(lockgen_offline), "serial": serial(offline)}, runs=OFFLINE_RUNS, setup=edit
        )
        row("offline, after an input edit, vs uv one after another", m["ours"], m["serial"])
        base.write_text(original)
        sh(lockgen_offline)
        row("no-op compile, 6 variants up to date", median(lambda: sh(lockgen_online), runs=OFFLINE_RUNS), None,
            "<= 150 ms")  # fmt: skip
        row("check, 6 variants", median(lambda: sh([*LOCKGEN, "check", "--config", str(cfg_path)]), runs=OFFLINE_RUNS), None,
            "<= 150 ms")  # fmt: skip
    truth_cost()


def truth_cost() -> None:
    """What reading the truth costs: every rule and integrity check over the 8 default locks."""
    from lockgen.compile import rules
    from lockgen.locks import pylock
    from lockgen.project.intents import Inputs

    cfg = config.load(REPO, REPO / "pyproject.toml")
    locks = {v: pylock.read(pylock.lock_file(cfg.locks_dir, v.name)) for v in cfg.variants}

    def judge_all() -> None:
        inputs = Inputs.of(cfg)
        for v, lock in locks.items():
            assert lock is not None
            rules.judge(cfg, v, lock)
            rules.integrity(v, lock, inputs, file_variant=v.name)

    per_run = median(judge_all, runs=20)
    row("CUDA inference + integrity of the 8 default locks (in-process)", per_run, None, "<= 20 ms")


# --- scale ---------------------------------------------------------------------------


def scale_project(root: Path, index: str, accelerators: int, pythons: list[str], platforms: list[str]) -> Path:
    (root / "inputs").mkdir(parents=True)
    (root / "inputs/base.in").write_text("app\nlib0\nlib1\n")
    text = f'inputs = ["inputs/base.in"]\npython = {json.dumps(pythons)}\nplatforms = {json.dumps(platforms)}\n'
    text += f'index-url = "{index}"\n'
    for i in range(accelerators):
        (root / f"inputs/acc{i}.in").write_text(f"lib{2 + i}\n")
        cuda = "" if i == 0 else f'cuda = "{("12.4", "12.6", "12.8", "12.9", "13.0", "13.1", "13.2")[i - 1]}"\n'
        text += f'\n[accelerators.acc{i}]\n{cuda}inputs = ["inputs/acc{i}.in"]\n'
    (root / "lockgen.toml").write_text(text)
    return root / "lockgen.toml"


def peak(args: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of the lockgen process itself."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, args
    return time.perf_counter() - start, usage.ru_maxrss


def bench_scale() -> None:
    print("\nscale: offline over a local index (20 packages; each accelerator adds one)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files"
        wheels = [make_wheel(files, "app", "1.0", [f"lib{i}" for i in range(10)])]
        wheels += [make_wheel(files, f"lib{i}", "1.0", [f"dep{i}"]) for i in range(12)]
        wheels += [make_wheel(files, f"dep{i}", "1.0") for i in range(12)]
        index = make_index(Path(tmp) / "simple", wheels)
        results = {}
        for label, accs, pys, plats in (
            ("6 variants", 3, ["3.11", "3.12"], ["x86_64-manylinux_2_28"]),
            ("48 variants", 8, ["3.10", "3.11", "3.12"], ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]),
        ):
            cfg = scale_project(Path(tmp) / label.replace(" ", "-"), index, accs, pys, plats)
            cmd = [*LOCKGEN, "compile", "--offline", "--config", str(cfg)]
            runs = []
            for _ in range(3):
                shutil.rmtree(cfg.parent / "locks", ignore_errors=True)
                runs.append(peak(cmd))
            seconds = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            results[label] = (seconds, rss)
            row(f"compile {label}, no locks yet (peak RSS {rss / 1024:.0f} MB)", seconds, None, "RSS <= 150 MB")
        (s6, r6), (s48, r48) = results["6 variants"], results["48 variants"]
        print(f"  from 6 to 48 variants: time x{s48 / s6:.1f}, peak RSS x{r48 / r6:.2f}", flush=True)


# --- sync and verify ---------------------------------------------------------------------


def bench_sync() -> None:
    print("\nsync and verify: a 20-package fixture project", flush=True)
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        files = Path(tmp) / "files"
        wheels = [make_wheel(files, f"pkg{i}", "1.0", [f"pkg{i + 1}"] if i < 19 else []) for i in range(20)]
        wheels.append(_wide_wheel(files / "wide-1.0-py3-none-any.whl", 10_000))
        wheels.append(_big_wheel(files / "big-1.0-py3-none-any.whl", 64 * 2**20))
        index = make_index(Path(tmp) / "simple", wheels)
        (root / "inputs").mkdir(parents=True)
        (root / "inputs/base.in").write_text("pkg0\n")
        (root / "inputs/extra.in").write_text("pkg0\nwide\nbig\n")
        (root / "lockgen.toml").write_text(
            f'inputs = ["inputs/base.in"]\npython = ["{minor}"]\nindex-url = "{index}"\n'
            '[accelerators.cpu]\n[accelerators.many]\ninputs = ["inputs/extra.in"]\n'
        )
        cfg = root / "lockgen.toml"
        sh([*LOCKGEN, "compile", "--config", str(cfg)])
        tag = f"py{minor.replace('.', '')}"
        lock = root / "locks" / f"pylock.{tag}-cpu.toml"
        venv = root / ".venv"
        uv_sync = [uv.binary(), "pip", "sync", str(lock), "--python", str(venv / "bin/python"),
                   "--preview-features", "pylock", "-q"]  # fmt: skip
        print(f"  baseline: {shlex.join(uv_sync)}", flush=True)

        def fresh() -> None:
            shutil.rmtree(venv, ignore_errors=True)
            sh([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable])

        sync = [*LOCKGEN, "sync", "--config", str(cfg), "--variant", f"{tag}-cpu"]
        m = side_by_side({"ours": lambda: sh(sync), "uv": lambda: sh(uv_sync)}, setup=fresh)
        row("sync 20 small packages into an empty venv", m["ours"], m["uv"])
        sh(sync)
        m = side_by_side({"ours": lambda: sh(sync), "uv": lambda: sh(uv_sync)}, runs=OFFLINE_RUNS)
        row("no-op sync", m["ours"], m["uv"], f"<= uv + 100 ms ({(m['ours'] - m['uv']) * 1000:+.0f} ms)")
        verify = [*LOCKGEN, "verify", "--config", str(cfg), "--variant", f"{tag}-cpu"]
        row("verify (sizes), 20 packages", median(lambda: sh(verify)), None, "<= 200 ms")

        sh([*LOCKGEN, "sync", "--config", str(cfg), "--variant", f"{tag}-many"])
        seconds, found = _verify_json(cfg, f"{tag}-many", hashes=False)
        print(f"  verify (sizes) read {found['files']} files in {seconds * 1000:.0f} ms: "
              f"{seconds / found['files'] * 10_000 * 1000:.0f} ms per 10,000 files", flush=True)  # fmt: skip
        seconds, found = _verify_json(cfg, f"{tag}-many", hashes=True)
        rate = found["bytes_hashed"] / seconds / 1e6
        print(f"  verify --hashes: {found['bytes_hashed'] / 1e6:.0f} MB in {seconds * 1000:.0f} ms: {rate:.0f} MB/s",
              flush=True)  # fmt: skip


def _verify_json(cfg: Path, variant: str, *, hashes: bool) -> tuple[float, dict[str, int]]:
    args = [*LOCKGEN, "verify", "--json", "--config", str(cfg), "--variant", variant, *(["--hashes"] if hashes else [])]
    found = []
    for _ in range(3):
        out = subprocess.run(args, check=True, capture_output=True, text=True, env=ENV).stdout
        found.append(json.loads(out))
    best = sorted(found, key=lambda f: f["seconds"])[1]
    return float(best["seconds"]), best


def _wide_wheel(path: Path, count: int) -> Path:
    """A wheel of ``count`` small files (a verify-per-10,000-files probe)."""
    import base64
    import hashlib
    import zipfile

    record = []
    with zipfile.ZipFile(path, "w") as z:
        entries = {f"wide/m{i}.py": f"x = {i}\n" for i in range(count)}
        entries["wide-1.0.dist-info/METADATA"] = "Metadata-Version: 2.1\nName: wide\nVersion: 1.0\n\n"
        entries["wide-1.0.dist-info/WHEEL"] = (
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        for name, text in entries.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(text.encode())}")
        record.append("wide-1.0.dist-info/RECORD,,")
        z.writestr(zipfile.ZipInfo("wide-1.0.dist-info/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record))
    return path


def _big_wheel(path: Path, size: int) -> Path:
    """A wheel holding one file of ``size`` random bytes (a --hashes throughput probe)."""
    import base64
    import hashlib
    import zipfile

    data = os.urandom(size)
    meta = "Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n"
    wheel = "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        record = []
        for name, blob in (("big/data.bin", data), ("big-1.0.dist-info/METADATA", meta.encode()),
                           ("big-1.0.dist-info/WHEEL", wheel.encode())):  # fmt: skip
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), blob)
            digest = base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(blob)}")
        record.append("big-1.0.dist-info/RECORD,,")
        z.writestr(zipfile.ZipInfo("big-1.0.dist-info/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record))
    return path


# --- wheelhouse ----------------------------------------------------------------------


def bench_wheelhouse() -> None:
    print("\nwheelhouse: requests, numpy and friends from PyPI (wheels), py3.11 + py3.12 on Linux x86_64", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "inputs").mkdir(parents=True)
        (root / "inputs/base.in").write_text("--only-binary :all:\nrequests\nnumpy<2.5\nclick\npackaging\nrich\n")
        (root / "lockgen.toml").write_text(
            'inputs = ["inputs/base.in"]\npython = ["3.11", "3.12"]\nexclude-newer = "2026-11-20T00:00:00Z"\n'
            "[accelerators.cpu]\n"
        )
        cfg = root / "lockgen.toml"
        sh([*LOCKGEN, "compile", "--config", str(cfg)])
        from lockgen.locks import pylock

        locks = {p.name: pylock.read(p) or _no() for p in sorted((root / "locks").glob("pylock.*.toml"))}
        house = Path(tmp) / "house"
        pipdir = Path(tmp) / "pip"
        # pip takes one wheel per package and target, from name==version pins: one call per variant.
        pip_calls = []
        for name, lock in locks.items():
            pins = root / f"pins-{name}.txt"
            pins.write_text("".join(f"{n}=={v}\n" for n, v in lock.versions.items()))
            python = str(lock.meta["python"])
            pip_calls.append([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q", "-d",
                              str(pipdir), "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
                              "--platform", "manylinux_2_28_x86_64", "-r", str(pins)])  # fmt: skip
        print(f"  baseline, one call per variant: {shlex.join(pip_calls[0])}", flush=True)

        def pip() -> None:
            for call in pip_calls:
                sh(call, env={"PIP_CONFIG_FILE": os.devnull})

        def empty() -> None:
            shutil.rmtree(house, ignore_errors=True)
            shutil.rmtree(pipdir, ignore_errors=True)

        m = side_by_side({"ours": lambda: sh([*LOCKGEN, "wheelhouse", str(house), "--config", str(cfg)]),
                          "pip": pip}, runs=3, setup=empty)  # fmt: skip
        ours, theirs = m["ours"], m["pip"]
        for fill, folder in (
            (lambda: sh([*LOCKGEN, "wheelhouse", str(house), "--config", str(cfg)]), house),
            (pip, pipdir),
        ):
            if not any(folder.glob("*.whl")):  # emptied for the other side's last turn: filled again, untimed
                fill()
        count = len(list(house.glob("*.whl")))
        size = sum(f.stat().st_size for f in house.glob("*.whl")) / 1e6
        row(f"wheelhouse, {count} files ({size:.0f} MB; pip: {len(list(pipdir.glob('*.whl')))}), vs pip download",
            ours, theirs, "<= 0.5x")  # fmt: skip
        row("wheelhouse again, everything present", median(
            lambda: sh([*LOCKGEN, "wheelhouse", str(house), "--config", str(cfg)])), None, "<= 300 ms")  # fmt: skip
        minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
        lock = locks[f"pylock.py{minor.replace('.', '')}-cpu.toml"]
        pins = root / "pins.txt"  # with hashes: uv checks every file, as lockgen has it do
        hashes: dict[str, list[str]] = {}
        for a in lock.artifacts():
            hashes.setdefault(a.package, []).append(f"--hash=sha256:{a.sha256}")
        pins.write_text("".join(f"{n}=={v} {' '.join(hashes[n])}\n" for n, v in lock.versions.items()))
        venv = root / ".venv"

        def fresh() -> None:
            shutil.rmtree(venv, ignore_errors=True)
            sh([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable])

        theirs_cmd = [uv.binary(), "pip", "sync", str(pins), "--python", str(venv / "bin/python"), "--no-index",
                      "--find-links", str(house), "-q"]  # fmt: skip
        print(f"  baseline: {shlex.join(theirs_cmd)}", flush=True)
        ours_cmd = [*LOCKGEN, "sync", "--config", str(cfg), "--wheelhouse", str(house)]
        m = side_by_side({"ours": lambda: sh(ours_cmd), "uv": lambda: sh(theirs_cmd)}, setup=fresh)
        row("sync from the wheelhouse into an empty venv", m["ours"], m["uv"], "<= 1.2x")


def _no() -> object:
    raise SystemExit("bench: a lock is missing")


# --- main ------------------------------------------------------------------------------


def precompile() -> None:
    """Bytecode for lockgen and its dependencies, as an installed lockgen has."""
    import sysconfig

    for folder in {REPO / "lockgen", Path(sysconfig.get_paths()["purelib"])}:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(folder)], check=False,
                       stdout=subprocess.DEVNULL)  # fmt: skip


SECTIONS = {"compile": bench_compile, "scale": bench_scale, "sync": bench_sync, "wheelhouse": bench_wheelhouse}


def main() -> None:
    precompile()
    chosen = sys.argv[1:] or list(SECTIONS)
    version = subprocess.run([uv.binary(), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"lockgen beside {version} and pip, {os.cpu_count()} CPUs, medians of {OFFLINE_RUNS} runs offline "
          f"({ONLINE_RUNS} online, {RUNS} for syncs into an empty venv), lockgen and baseline in turns")  # fmt: skip
    print(f"  {'what':<66} {'lockgen':>11} {'baseline':>11} {'ratio':>7}  target")
    for name in chosen:
        SECTIONS[name]()


if __name__ == "__main__":
    main()

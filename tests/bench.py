"""``nox -s bench``: lockgen timed beside plain uv doing the same work, in one run.

Compile part: a 6-variant project (the embedded default's Linux CUDA variants:
py3.11/3.12 × cu126/cu128/cu130, ~55 real PyPI packages each), uv cache warmed
once online, then everything ``--offline``. Sync part: a small fixture project.
Each figure is the median of several runs; ratios are lockgen / uv. Plain uv
makes only the pylocks (one call per variant); lockgen also asks uv, at the same
time, for the dependency graph it records in each lock.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from wheelmaker import make_index, make_wheel

from lockgen import uv
from lockgen.project import config

REPO = Path(__file__).parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LOCKGEN = [sys.executable, "-m", "lockgen"]


def median(fn, runs: int = RUNS, setup=None) -> float:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sh(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def compile_project(root: Path) -> Path:
    shutil.copytree(REPO / "inputs", root / "inputs")
    text = (REPO / "pyproject.toml").read_text().split("[tool.lockgen]", 1)[1]
    text = "[tool.lockgen]" + text
    text = text.replace(
        'platforms = ["x86_64-manylinux_2_28", "aarch64-apple-darwin"]', 'platforms = ["x86_64-manylinux_2_28"]'
    )
    text = text.replace(
        '[tool.lockgen.accelerators.cpu]\nplatforms = ["aarch64-apple-darwin"]\ninputs = ["inputs/cpu.in"]\n', ""
    )
    text = text.replace('platforms = ["x86_64-manylinux_2_28"]\ninputs', "inputs")
    (root / "pyproject.toml").write_text(text)
    return root / "pyproject.toml"


def bench_compile(rows: list[tuple[str, float, float | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = compile_project(Path(tmp) / "proj")
        root = cfg_path.parent
        cfg = config.load(root, cfg_path)
        assert len(cfg.variants) == 6, [v.name for v in cfg.variants]
        sh([*LOCKGEN, "compile", "--config", str(cfg_path)])  # warm the cache online, once
        locks = root / "locks"
        out = Path(tmp) / "uv-out"
        out.mkdir()
        calls = [[uv.binary(), *uv.compile_args(v, output=out / v.lock_name, offline=True)] for v in cfg.variants]

        def clear() -> None:
            shutil.rmtree(locks, ignore_errors=True)
            for f in out.glob("*"):
                f.unlink()

        def uv_serial() -> None:
            for c in calls:
                sh(c, cwd=root)

        def uv_parallel() -> None:
            procs = [subprocess.Popen(c, cwd=root, stdout=subprocess.DEVNULL) for c in calls]
            assert all(p.wait() == 0 for p in procs)

        compile_cmd = [*LOCKGEN, "compile", "--offline", "--config", str(cfg_path)]
        ours = median(lambda: sh(compile_cmd), setup=clear)
        rows.append(("compile 6 variants, no locks yet vs uv one by one", ours, median(uv_serial, setup=clear)))
        rows.append(("compile 6 variants, no locks yet vs uv all at once", ours, median(uv_parallel, setup=clear)))

        # The everyday case: an intent file changed, and every lock is uv's preference.
        sh(compile_cmd)
        base = root / "inputs" / "base.in"
        original = base.read_text()
        edits = iter(range(10**6))

        def edit_inputs() -> None:
            base.write_text(original + f"# edit {next(edits)}\n")
            for lock in locks.glob("pylock.*.toml"):
                shutil.copy(lock, out / lock.name)  # plain uv gets the same preferences

        ours = median(lambda: sh(compile_cmd), setup=edit_inputs)
        rows.append(
            ("recompile 6 variants, locks as preferences vs uv one by one", ours, median(uv_serial, setup=edit_inputs))
        )
        rows.append(
            (
                "recompile 6 variants, locks as preferences vs uv all at once",
                ours,
                median(uv_parallel, setup=edit_inputs),
            )
        )
        base.write_text(original)
        sh([*LOCKGEN, "compile", "--offline", "--config", str(cfg_path)])
        rows.append(
            (
                "no-op compile, 6 variants up to date",
                median(lambda: sh([*LOCKGEN, "compile", "--config", str(cfg_path)])),
                None,
            )
        )
        rows.append(("check, 6 variants", median(lambda: sh([*LOCKGEN, "check", "--config", str(cfg_path)])), None))
        env = {"LOCKGEN_CUDA": "12.8", "LOCKGEN_GPU_ARCHS": "8.0"}
        rows.append(("detect (no GPU)", median(lambda: sh([*LOCKGEN, "detect"])), None))
        sel = [*LOCKGEN, "select", "--config", str(cfg_path), "--python", sys.executable]
        rows.append(("select (overrides)", median(lambda: sh(sel, env={**env, "VIRTUAL_ENV": ""})), None))


def bench_sync(rows: list[tuple[str, float, float | None]]) -> None:
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        files = Path(tmp) / "files"
        wheels = [make_wheel(files, f"pkg{i}", "1.0", [f"pkg{i + 1}"] if i < 19 else []) for i in range(20)]
        index = make_index(Path(tmp) / "simple", wheels)
        (root / "inputs").mkdir(parents=True)
        (root / "inputs/base.in").write_text("pkg0\n")
        (root / "lockgen.toml").write_text(
            f'inputs = ["inputs/base.in"]\npython = ["{minor}"]\nindex-url = "{index}"\n[accelerators.cpu]\n'
        )
        cfg = root / "lockgen.toml"
        sh([*LOCKGEN, "compile", "--config", str(cfg)])
        lock = next((root / "locks").glob("pylock.*.toml"))
        venv = root / ".venv"
        uv_sync = [
            uv.binary(),
            "pip",
            "sync",
            str(lock),
            "--python",
            str(venv / "bin/python"),
            "--preview-features",
            "pylock",
            "-q",
        ]

        def fresh() -> None:
            shutil.rmtree(venv, ignore_errors=True)
            sh([uv.binary(), "venv", "-q", str(venv), "--python", sys.executable])

        env = {"VIRTUAL_ENV": ""}
        ours = median(lambda: sh([*LOCKGEN, "sync", "--config", str(cfg)], env=env), setup=fresh)
        theirs = median(lambda: sh(uv_sync), setup=fresh)
        rows.append(("sync 20 small packages into an empty venv", ours, theirs))
        ours = median(lambda: sh([*LOCKGEN, "sync", "--config", str(cfg)], env=env))
        theirs = median(lambda: sh(uv_sync))
        rows.append(("no-op sync", ours, theirs))


def precompile() -> None:
    """Bytecode for lockgen and its dependencies, as a normal install has: without it
    (editable installs, PYTHONDONTWRITEBYTECODE) every run would compile from source."""
    import sysconfig

    for folder in {Path(__file__).parents[1] / "lockgen", Path(sysconfig.get_paths()["purelib"])}:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", str(folder)], check=False, stdout=subprocess.DEVNULL
        )


def main() -> None:
    precompile()
    rows: list[tuple[str, float, float | None]] = []
    bench_compile(rows)
    bench_sync(rows)
    print(f"\nlockgen beside uv {subprocess.run([uv.binary(), '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"{os.cpu_count()} CPUs, median of {RUNS}")  # fmt: skip
    print(f"{'what':<62} {'lockgen':>9} {'uv':>9} {'ratio':>7} {'diff':>8}")
    for what, ours, theirs in rows:
        if theirs is None:
            print(f"{what:<62} {ours * 1000:>7.0f}ms {'':>9} {'':>7} {'':>8}")
        else:
            print(
                f"{what:<62} {ours * 1000:>7.0f}ms {theirs * 1000:>7.0f}ms {ours / theirs:>6.2f}x {(ours - theirs) * 1000:>+6.0f}ms"
            )


if __name__ == "__main__":
    main()

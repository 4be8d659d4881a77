"""The one module that runs programs: what it captures, piped or spooled to files."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lockgen import command
from lockgen.exceptions import CommandError

CHATTY = [sys.executable, "-c", "import sys\nfor i in range(500): print(f'DEBUG line {i}', file=sys.stderr, flush=True)\nprint('out\\r\\nput')"]  # fmt: skip
FAILING = [sys.executable, "-c", "import sys\nprint('DEBUG noise', file=sys.stderr)\nsys.exit('uv says no')"]


@pytest.mark.parametrize("spooled", [False, True])
def test_output_is_the_same_piped_or_spooled(tmp_path: Path, spooled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    spools: list[Path] = []
    real = command._spooled
    monkeypatch.setattr(command, "_spooled", lambda folder: spools.append(folder) or real(folder))
    fds = set(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else set()
    got = command.run_full(CHATTY, spool=tmp_path if spooled else None)
    assert got.stdout == "out\nput\n"
    assert got.stderr.splitlines() == [f"DEBUG line {i}" for i in range(500)]
    assert spools == ([tmp_path, tmp_path] if spooled else [])  # stdout and stderr went to files there
    assert list(tmp_path.iterdir()) == []
    if fds:
        assert set(os.listdir("/proc/self/fd")) == fds  # nothing left open


@pytest.mark.parametrize("spooled", [False, True])
def test_a_failure_carries_the_programs_own_message_without_debug_lines(tmp_path: Path, spooled: bool) -> None:
    with pytest.raises(CommandError) as failed:
        command.run_full(FAILING, message="DEBUG ", spool=tmp_path if spooled else None)
    assert str(failed.value) == "uv says no"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_program_ended_by_a_signal_without_a_word_is_named_so() -> None:
    silent_abort = [sys.executable, "-c", "import os, signal\nos.kill(os.getpid(), signal.SIGABRT)"]
    with pytest.raises(CommandError) as failed:
        command.run_full(silent_abort)
    assert str(failed.value) == "ended by SIGABRT"
    with pytest.raises(CommandError) as failed:
        command.run_full([sys.executable, "-c", "import sys\nsys.exit(3)"])
    assert str(failed.value) == "exit status 3"


def test_a_spool_folder_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot keep a program's output there"):
        command.run_full(CHATTY, spool=tmp_path / "missing")


def _lockgen(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("LOCKGEN_")}
    return subprocess.run([sys.executable, "-m", "lockgen", *argv], capture_output=True, text=True, cwd=cwd, env=env)


def test_the_entry_point_delivers_every_byte_and_the_commands_own_status(tmp_path: Path) -> None:
    """``run`` (the console script, ``python -m lockgen``) leaves without tearing the
    interpreter down: what was printed still arrives whole, and each exit status is
    the command's own."""
    detected = _lockgen("detect", "--json", cwd=tmp_path)
    assert detected.returncode == 0, detected.stderr
    assert json.loads(detected.stdout)["python"]  # the whole JSON document arrived
    missing = _lockgen("check", cwd=tmp_path)  # no configuration here
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and missing.stdout == ""
    usage = _lockgen("compile", "--no-such-flag", cwd=tmp_path)
    assert usage.returncode == 2 and "error:" in usage.stderr


def test_a_reader_that_stops_early_gets_one_line_at_most(tmp_path: Path) -> None:
    """``lockgen detect --json | head -c 0``: exit 1 and at most ``error: Broken pipe``;
    never Python's "Exception ignored" report of a flush at exit."""
    proc = subprocess.Popen([sys.executable, "-m", "lockgen", "detect", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err in ("", "error: Broken pipe\n"), err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_program_ended_by_ctrl_c_is_lockgen_interrupted_in_any_thread() -> None:
    """Ctrl-C reaches every process of the terminal's group; a worker thread learns of
    it only from its program's end, and must stop as the main thread does."""
    from lockgen.compile.strategy import _as_done
    from lockgen.exceptions import LockgenError

    begun: list[int] = []

    def fn(i: int) -> object:
        begun.append(i)
        try:
            return command.run(
                [
                    sys.executable,
                    "-c",
                    "import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\nos.kill(os.getpid(), signal.SIGINT)\nimport time\ntime.sleep(9)",
                ]
            )
        except LockgenError as exc:
            return exc

    with pytest.raises(KeyboardInterrupt):
        list(_as_done(1, fn, [0, 1, 2]))  # type: ignore[arg-type]
    assert begun == [0]  # the other two never began


def _sleeping_in_a_thread(ready: Path) -> tuple[threading.Thread, list[BaseException]]:
    """A thread whose program touches ``ready``, then sleeps a minute; and how it ended."""
    ended: list[BaseException] = []

    def worker() -> None:
        try:
            command.run(
                [sys.executable, "-c", f"import pathlib, time\npathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)"]
            )
        except BaseException as exc:
            ended.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, ended


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_halted_stops_programs_running_in_other_threads_and_any_begun_meanwhile(tmp_path: Path) -> None:
    thread, ended = _sleeping_in_a_thread(tmp_path / "ready")
    start = time.monotonic()
    with command.halted():
        thread.join(timeout=20)
        with pytest.raises(
            (KeyboardInterrupt, CommandError)
        ):  # begun now, it ends at once (a python still starting says so)
            command.run([sys.executable, "-c", "import time\ntime.sleep(60)"])
    assert time.monotonic() - start < 10
    assert [type(e) for e in ended] == [KeyboardInterrupt], ended
    assert command.run([sys.executable, "-c", "print('after')"]) == "after\n"  # the halt ends with the block


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_halted_stops_programs_that_inherited_ctrl_c_ignored(tmp_path: Path) -> None:
    """Started in the background of a script, lockgen and its programs ignore SIGINT: a
    halt must end them all the same, not wait for each to finish."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        thread, ended = _sleeping_in_a_thread(tmp_path / "ready")
        start = time.monotonic()
        with command.halted():
            thread.join(timeout=20)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 10
    assert [type(e) for e in ended] == [KeyboardInterrupt], ended


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_a_timed_out_program_whose_child_holds_its_output_open_ends_all_the_same(tmp_path: Path) -> None:
    """A probe that hangs is killed at its timeout; a child it started (a ``.pth`` file's,
    a wrapper's) that keeps the pipe open must not keep lockgen waiting, nor go on
    running after it."""
    import time

    pid = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    hold = [sys.executable, "-c", f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\ntime.sleep(30)"]  # fmt: skip
    start = time.monotonic()
    with pytest.raises(CommandError, match="no answer in 1 s"):
        command.run(hold, timeout=1)
    assert time.monotonic() - start < 10
    deadline = time.monotonic() + 5
    while True:
        try:
            os.kill(int(pid.read_text()), 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the probe's child still runs"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_stop_signal_while_the_main_thread_starts_a_program_stops_that_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C or SIGTERM landing after the program began but before ``Popen`` returned
    (it waits for the exec) must not leave that program running unseen: lockgen
    stops it, then is interrupted."""
    monkeypatch.setattr(command, "_deferred", False)
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def signalled_meanwhile(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        command.interrupt()  # what lockgen's handler does when the signal lands here
        return proc  # type: ignore[no-any-return]

    monkeypatch.setattr(command.subprocess, "Popen", signalled_meanwhile)
    with pytest.raises(KeyboardInterrupt):
        command.run([sys.executable, "-c", "import time\ntime.sleep(60)"])
    assert started and started[0].poll() is not None  # stopped, not left sleeping
    monkeypatch.undo()
    assert command.run([sys.executable, "-c", "print('after')"]) == "after\n"  # nothing left pending


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_to_lockgen_alone_stops_the_program_it_runs_and_ends_lockgen_by_sigterm(tmp_path: Path) -> None:
    """``kill``, ``timeout`` and ``docker stop`` send SIGTERM to lockgen only. lockgen
    stops the program it runs (uv, changing an environment) rather than leaving it to
    run on, says it was interrupted, and ends by SIGTERM as other programs do."""
    import signal

    pidfile = tmp_path / "child"
    sleeper = f"import os, pathlib, time\npathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()))\ntime.sleep(60)"
    main = tmp_path / "main.py"  # the console script, with one command that runs a program for a minute
    main.write_text(
        "import sys\nfrom lockgen import cli, command, process\n\n"
        "@cli.main.command('sleepy')\n"
        f"def sleepy() -> None:\n    command.run([sys.executable, '-c', {sleeper!r}])\n\n"
        "process.run()\n"
    )
    proc = subprocess.Popen([sys.executable, str(main), "sleepy"], stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    child = int(pidfile.read_text())
    assert child in _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert not Path(f"/proc/{child}").exists()  # stopped (and reaped) before lockgen ended
    assert proc.returncode == -signal.SIGTERM
    assert "error: interrupted" in err.decode()


def test_ctrl_c_while_python_loads_lockgen_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A Ctrl-C in the first tens of milliseconds lands while Python imports lockgen's
    modules, before the command line can take it."""
    script = (
        "import sys\n"
        "class Interrupted:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'lockgen.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupted())\n"
        "from lockgen import process\n"
        "process.run()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, "check"], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (130, "error: interrupted\n")


def test_the_verbose_log_hides_a_password_whatever_quoting_the_command_line_needs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``shlex.join`` quotes a word holding a ``'`` as ``'…'"'"'…'``, splitting the URL: each
    word is hidden before it is quoted."""
    from lockgen import settings

    monkeypatch.setattr(settings, "verbose", True)
    command.run([sys.executable, "-c", "pass", "--index", "https://user:pa'ss@host/simple"])
    logged = capsys.readouterr().err
    assert "***@host/simple" in logged and "pa" not in logged.split("--index", 1)[1], logged


def test_a_stop_signal_python_dropped_is_acted_on_before_the_next_program_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler's KeyboardInterrupt raised inside a weakref callback of the import system
    is printed as "Exception ignored" and dropped: the run went on to the end, writing
    every lock after a SIGTERM. No further program may start."""
    monkeypatch.setattr(command, "_deferred", False)  # and so back to False after the test
    with contextlib.suppress(KeyboardInterrupt):  # what Python does to it there
        command.interrupt()
    with pytest.raises(KeyboardInterrupt):
        command.run([sys.executable, "-c", "print('never')"])
    assert command.run([sys.executable, "-c", "print('after')"]) == "after\n"


def test_a_program_that_cannot_start_leaves_stop_signals_acted_on_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NUL in an argument fails ``Popen`` with ValueError, not OSError: the main thread
    must not stay marked as starting a program, deferring every later Ctrl-C forever."""
    monkeypatch.setattr(command, "_deferred", False)
    monkeypatch.setattr(command, "_starting", False)
    with pytest.raises(ValueError):
        command.run([sys.executable, "-c", "pass", "a\0b"])
    with pytest.raises(KeyboardInterrupt):
        command.interrupt()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_stop_signal_acted_on_leaves_nothing_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that stopped a program and was caught must not stop the next one too."""
    import signal

    monkeypatch.setattr(command, "_deferred", False)
    previous = signal.signal(signal.SIGALRM, lambda *_: command.interrupt())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            command.run([sys.executable, "-c", "import time\ntime.sleep(30)"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    try:
        assert command.run([sys.executable, "-c", "print('next')"]) == "next\n"
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C already acted on stopped the next program too")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_program_ended_by_a_signal_raises_killed_not_a_plain_failure() -> None:
    """A program the OOM killer (or anyone) SIGKILLs may have done part of its work:
    sync must not take that for a clean failure that changed nothing."""
    from lockgen.exceptions import Killed

    with pytest.raises(Killed, match="ended by SIGKILL"):
        command.run(["sh", "-c", "kill -9 $$"])
    with pytest.raises(CommandError) as failed:
        command.run(["sh", "-c", "exit 3"])
    assert not isinstance(failed.value, Killed)


@pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="Linux: the start time tells a process from a reused number"
)
def test_a_run_killed_with_9_leaves_the_next_waiting_for_the_program_it_ran(tmp_path: Path) -> None:
    """A sync killed with -9 let go of its run lock at once while the uv it had started
    went on installing, and the next sync ran beside it. The lock lists the programs its
    holder runs; the next run waits for those. Here ``sleep`` stands in for that uv."""
    from lockgen import runs

    target = tmp_path / "env"
    target.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom pathlib import Path\nfrom lockgen import command, runs\n"
        "with runs.run_lock('sync', Path(sys.argv[1]), say=print):\n    command.run(['sleep', '60'])\n"
    ), str(target)])  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "sleep" not in subprocess.run(["ps", "-o", "comm=", "--ppid", str(holder.pid)], capture_output=True,
                                             text=True).stdout:  # fmt: skip
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.02)
        sleeper = int(subprocess.run(["pgrep", "-P", str(holder.pid), "sleep"], capture_output=True, text=True).stdout)
        holder.kill()
        holder.wait()
        said: list[str] = []
        got = threading.Event()

        def next_run() -> None:
            with runs.run_lock("sync", target, say=said.append):
                got.set()

        waiter = threading.Thread(target=next_run)
        waiter.start()
        deadline = time.monotonic() + 10
        while not said and not got.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert said and not got.is_set(), "the next run went ahead while the program still ran"
        assert f"waiting for process {sleeper}, which process {holder.pid} (lockgen sync" in said[0], said
        os.kill(sleeper, 9)
        waiter.join(timeout=10)
        assert got.is_set(), "the run lock was never given back once the program ended"
    finally:
        holder.kill()
        subprocess.run(["pkill", "-9", "-P", str(holder.pid)], check=False)


def test_what_a_program_leaves_running_does_not_hold_the_run_lock(tmp_path: Path) -> None:
    """A build backend that leaves a daemon behind (a credential cache, a build server)
    must not keep the next run waiting for as long as the daemon lives."""
    from lockgen import runs

    target = tmp_path / "env"
    target.mkdir()
    with runs.run_lock("sync", target, say=lambda _: None):
        daemon = int(command.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"]))
    said: list[str] = []
    try:
        with runs.run_lock("sync", target, say=said.append):
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, 9)
    assert said == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux: /proc tells a zombie")
def test_a_program_that_ended_unreaped_is_not_waited_for(tmp_path: Path) -> None:
    """In a container whose first process reaps nothing, the uv a killed run left ends as
    a zombie: signal 0 still reaches it, and every later run waited for it forever."""
    import hashlib

    from lockgen import runs

    target = tmp_path / "env"
    target.mkdir()
    zombie = subprocess.Popen(["true"])  # not waited for: a zombie once it ends
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        start = runs._start_time(zombie.pid)
        name = f"sync-{hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:20]}.lock"
        (runs._lock_folder() / name).write_text(
            f"process 1 (lockgen sync, since 12:00:00) running {zombie.pid}:{start}"
        )
        said: list[str] = []
        got = threading.Event()

        def next_run() -> None:
            with runs.run_lock("sync", target, say=said.append):
                got.set()

        threading.Thread(target=next_run, daemon=True).start()  # a run that waits for ever must not hang the tests
        assert got.wait(timeout=10), f"the next run waited for a zombie: {said}"
        assert said == []
    finally:
        zombie.wait()

"""The one place lockgen runs a subprocess.

Every command is logged (``lockgen -v`` shows it, credentials redacted), its
output captured, and a non-zero exit becomes a :class:`CommandError` carrying the
program's own message.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lockgen import runs, settings
from lockgen.exceptions import CommandError, Killed, TimedOut
from lockgen.redact import redact

# Programs running now, in any thread; after a Ctrl-C (``halted``), any program
# begun is stopped as soon as it starts.
_running: set[subprocess.Popen[bytes]] = set()
_guard = threading.Lock()
_halted = False
# The main thread is starting a program, not yet in ``_running``; a Ctrl-C or SIGTERM
# then waits (``interrupt``) until the program is there to be stopped with lockgen.
_starting = False
# A stop signal not yet seen to take effect: deferred, or raised where Python drops what
# is raised (a weakref callback of the import system): acted on at the next program start.
_deferred = False


def interrupt() -> None:
    """What a stop signal does in the main thread: raise KeyboardInterrupt, as Ctrl-C
    does. Raised while that thread starts a program (uv already running, the ``Popen``
    not yet returned), it would leave the program running on unseen: then it is raised
    as soon as the program can be stopped with the rest. Raised where Python drops it,
    it is raised again before lockgen starts another program."""
    global _deferred
    _deferred = True
    if _starting:
        return
    raise KeyboardInterrupt


def log(message: str) -> None:
    if settings.verbose:
        print(f"lockgen: {redact(message)}", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class Output:
    """What a program printed."""

    stdout: str
    stderr: str


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``argv``; return its stdout, or raise CommandError with its stderr."""
    return run_full(argv, cwd=cwd, env=env, timeout=timeout).stdout


def run_full(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float | None = None,
    message: str = "",
    spool: Path | None = None,
) -> Output:
    """Run ``argv``; return stdout and stderr, or raise CommandError.

    ``message`` filters the error text: lines of stderr starting with it are kept
    out of the error (uv's debug lines, when lockgen asked for them). ``spool``: a
    folder where the output is kept until the program ends, for a chatty one (a pipe
    wakes lockgen for every line uv's debug log writes, ~130 a resolution); without
    it, pipes, which need no disk space.
    """
    args = [os.fspath(a) for a in argv]
    log(f"$ {shlex.join(redact(a) for a in args)}")  # each word: a quote shlex adds must not hide one
    with contextlib.ExitStack() as stack:
        sinks: tuple[int | IO[bytes], int | IO[bytes]] = (subprocess.PIPE, subprocess.PIPE)
        if spool is not None:
            sinks = (stack.enter_context(_spooled(spool)), stack.enter_context(_spooled(spool)))
        # A program with a time limit (a hardware probe, perhaps a wrapper script) runs in a
        # group of its own, so that what it started ends with it.
        group = timeout is not None and os.name == "posix"
        proc = _start(args, cwd, env, sinks, group=group)
        try:
            _started()
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc, group)
            with contextlib.suppress(subprocess.TimeoutExpired):  # a child it left may hold the pipes open
                proc.communicate(timeout=1)
            proc.wait()
            raise TimedOut(f"{Path(args[0]).name}: no answer in {timeout:g} s") from None
        except BaseException as exc:  # KeyboardInterrupt, a signal: the child goes too
            _kill(proc, group)
            proc.wait()
            _seen(exc)
            raise
        finally:
            with _guard:
                _running.discard(proc)
                runs.ended(proc.pid)
        stdout, stderr = (_text(sink, data) for sink, data in zip(sinks, (out, err), strict=True))
    if proc.returncode == -signal.SIGINT or (_halted and proc.returncode < 0):  # Ctrl-C, or lockgen halting it
        raise KeyboardInterrupt
    if proc.returncode != 0:
        text = stderr
        if message:
            text = "\n".join(line for line in stderr.splitlines() if not line.startswith(message))
        error = (Killed if proc.returncode < 0 else CommandError)(
            redact(text.strip() or stdout.strip() or _status(proc.returncode))
        )
        error.status, error.output = proc.returncode, stdout
        raise error
    return Output(stdout, stderr)


def _kill(proc: subprocess.Popen[bytes], group: bool) -> None:
    if group:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()


def _start(
    args: list[str],
    cwd: Path | None,
    env: Mapping[str, str | None] | None,
    sinks: tuple[int | IO[bytes], ...],
    *,
    group: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a program and add it to ``_running``. In the main thread, a stop signal
    meanwhile waits for :func:`_started`, called where the caller stops the program on
    an exception."""
    global _starting, _deferred
    main = threading.current_thread() is threading.main_thread()
    if main and _deferred:  # a stop signal whose KeyboardInterrupt went nowhere
        _deferred = False
        raise KeyboardInterrupt
    if main:
        _starting = True
    try:
        proc = subprocess.Popen(
            args, cwd=cwd, env=None if env is None else _merged(env), stdin=subprocess.DEVNULL,
            stdout=sinks[0], stderr=sinks[1], start_new_session=group,
        )  # fmt: skip
    except BaseException as exc:  # nothing started: a signal that came meanwhile is acted on now
        if main:
            _started()
        if isinstance(exc, OSError):
            raise CommandError(f"{Path(args[0]).name}: {exc.strerror or exc}") from None
        raise
    with _guard:
        _running.add(proc)
        runs.started(proc.pid)  # so that a lockgen killed with -9 leaves the next run waiting for it
        if _halted:
            proc.send_signal(_stop_signal())
    return proc


def _seen(exc: BaseException) -> None:
    """A stop signal's KeyboardInterrupt is on its way up: nothing left to act on later."""
    global _deferred
    if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
        _deferred = False


def _started() -> None:
    """The main thread's program is started and can be stopped: act on a stop signal
    that came meanwhile."""
    global _starting, _deferred
    if threading.current_thread() is not threading.main_thread():
        return
    _starting = False  # from here a signal raises at once
    deferred, _deferred = _deferred, False
    if deferred:
        raise KeyboardInterrupt


@contextlib.contextmanager
def halted() -> Iterator[None]:
    """Stop every program running (SIGINT, as Ctrl-C would) and any begun in the
    block, in any thread. Only the main thread sees Ctrl-C: a worker thread whose
    program ended just before it would otherwise begin another, which the terminal's
    signal, already sent, never reaches."""
    global _halted, _deferred
    if threading.current_thread() is threading.main_thread():
        _deferred = False  # the stop is being acted on: nothing left for later
    with _guard:
        _halted = True
        for proc in _running:
            with contextlib.suppress(OSError):
                proc.send_signal(_stop_signal())
    try:
        yield
    finally:
        with _guard:
            _halted = False


def _stop_signal() -> signal.Signals:
    """SIGINT, as Ctrl-C would; SIGTERM where lockgen runs with SIGINT ignored (a
    background job of a script, started with ``&``): its programs inherit that, and
    would run on."""
    return signal.SIGTERM if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else signal.SIGINT


def _status(code: int) -> str:
    """How a command that said nothing ended: ``exit status 2``, or the signal that
    ended it (``ended by SIGABRT``: uv aborts so on some full disks)."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"ended by {signal.Signals(-code).name}"
    except ValueError:
        return f"ended by signal {-code}"


def _spooled(folder: Path) -> IO[bytes]:
    try:
        return tempfile.TemporaryFile(dir=folder, prefix=".lockgen-output-")
    except OSError as exc:
        raise CommandError(f"{folder}: cannot keep a program's output there: {exc.strerror or exc}") from None


def _text(sink: int | IO[bytes], piped: bytes | None) -> str:
    """What the program wrote, read as text mode reads a pipe."""
    data = piped or b""
    if not isinstance(sink, int):
        sink.seek(0)
        data = sink.read()
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _merged(env: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment with ``env`` applied; a None value unsets a variable."""
    out = {**os.environ}
    for key, value in env.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def probe(argv: Sequence[str], *, timeout: float = 15.0) -> str | None:
    """Run a hardware probe; ``None`` when the tool is missing or fails. One that gives
    no answer raises TimedOut: what it would have said is unknown, not "nothing"."""
    try:
        return run(argv, timeout=timeout)
    except TimedOut:
        raise
    except CommandError as exc:
        log(f"probe {argv[0]} failed: {exc}")
        return None

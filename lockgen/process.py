"""How the ``lockgen`` process ends: the console script around :func:`lockgen.cli.main`.

SIGTERM (``kill``, ``timeout``, ``docker stop``, a cancelled CI job) is met as Ctrl-C
is: the uv lockgen runs is stopped with it, a compile's new locks are discarded (or, if
it was renaming them into place, all put in place), a sync leaves its environment
marked for the next sync to repair; then lockgen ends by SIGTERM, as its caller asked. Left to the default action, SIGTERM sent to lockgen
alone ended it at once while the uv it had started went on changing the environment.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

_terminated = False


def _stop(signum: int, frame: FrameType | None) -> None:
    global _terminated
    _terminated = _terminated or signum == signal.SIGTERM
    command = sys.modules.get("lockgen.command")
    if command is None or not hasattr(command, "interrupt"):  # not loaded: no program runs
        raise KeyboardInterrupt
    command.interrupt()


def run() -> None:
    """The ``lockgen`` console script: :func:`lockgen.cli.main`, then an exit that skips
    tearing the interpreter down. Freeing every module and object one by one, just
    before the process hands its memory back anyway, is ~10 ms of a ~90 ms no-op
    command. Every file lockgen writes is closed (and synced) by then, and no
    dependency registers exit handlers; where anything is unusual (a thread still
    running, a non-integer exit, output that cannot be flushed) the interpreter exits as
    usual."""
    # Ctrl-C and SIGTERM alike, unless the caller has them ignored (a script's ``&`` job).
    taken = []
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        taken.append(signal.SIGINT)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        taken.append(signal.SIGTERM)
    for sig in taken:
        signal.signal(sig, _stop)
    code: str | int | None = 0
    try:
        from lockgen.cli import main

        main()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # before the command line could take it: while Python loads lockgen
        print("error: interrupted", file=sys.stderr)
        code = 130
    for sig in taken:  # the command is over: a signal now ends the process, as any program's
        signal.signal(sig, signal.SIG_DFL)
    if _terminated:  # ended by the signal, as its sender sees other programs end
        _flush()
        os.kill(os.getpid(), signal.SIGTERM)
    import threading  # loaded by every command that starts a program; not worth loading for --version

    if not isinstance(code, int | None) or threading.active_count() > 1:
        sys.exit(code)
    if not _flush():  # a closed pipe (lockgen select | head -1): Python's own handling
        sys.exit(code)
    os._exit(code or 0)


def _flush() -> bool:
    """Flush what lockgen printed; False where it could not be (a closed pipe). A stream
    that was closed before lockgen started (``lockgen sync >&-``) is None: nothing to flush."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except OSError:
        return False
    return True

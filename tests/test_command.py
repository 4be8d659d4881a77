"""The one module that runs programs: what it captures, piped or spooled to files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockgen import command
from lockgen.exceptions import CommandError

CHATTY = [sys.executable, "-c", "import sys\nfor i in range(500): print(f'DEBUG line {i}', file=sys.stderr, flush=True)\nprint('out\\r\\nput')"]  # fmt: skip
FAILING = [sys.executable, "-c", "import sys\nprint('DEBUG noise', file=sys.stderr)\nsys.exit('uv says no')"]


@pytest.mark.parametrize("spooled", [False, True])
def test_output_is_the_same_piped_or_spooled(tmp_path: Path, spooled: bool) -> None:
    got = command.run_full(CHATTY, spool=tmp_path if spooled else None)
    assert got.stdout == "out\nput\n"
    assert got.stderr.splitlines() == [f"DEBUG line {i}" for i in range(500)]
    assert list(tmp_path.iterdir()) == []  # the spool files are gone with the call


@pytest.mark.parametrize("spooled", [False, True])
def test_a_failure_carries_the_programs_own_message_without_debug_lines(tmp_path: Path, spooled: bool) -> None:
    with pytest.raises(CommandError) as failed:
        command.run_full(FAILING, message="DEBUG ", spool=tmp_path if spooled else None)
    assert str(failed.value) == "uv says no"


def test_a_spool_folder_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot keep a program's output there"):
        command.run_full(CHATTY, spool=tmp_path / "missing")


def _lockgen(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("LOCKGEN_")}
    return subprocess.run([sys.executable, "-m", "lockgen", *argv], capture_output=True, text=True, cwd=cwd, env=env)


def test_the_console_script_exits_fast_with_every_byte_and_the_right_status(tmp_path: Path) -> None:
    """``run`` leaves the interpreter without tearing it down: what was printed still
    arrives whole (stdout and stderr), and each exit status is the command's own."""
    detected = _lockgen("detect", "--json", cwd=tmp_path)
    assert detected.returncode == 0, detected.stderr
    assert json.loads(detected.stdout)["python"]  # the whole JSON document arrived
    missing = _lockgen("check", cwd=tmp_path)  # no configuration here
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and missing.stdout == ""
    usage = _lockgen("compile", "--no-such-flag", cwd=tmp_path)
    assert usage.returncode == 2 and "error:" in usage.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """``lockgen detect --json | head -c 1``: a closed pipe is Python's usual business."""
    proc = subprocess.Popen([sys.executable, "-m", "lockgen", "detect", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err

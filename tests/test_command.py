"""The one module that runs programs: what it captures, piped or spooled to files."""

from __future__ import annotations

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

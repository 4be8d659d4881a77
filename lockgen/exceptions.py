"""The errors lockgen raises; each knows the exit status it maps to."""


class LockgenError(Exception):
    """Base: a message for the user and an exit status (README: "Exit codes")."""

    exit_code = 1


class InputError(LockgenError):
    """Bad input: configuration, intent file, lock, flag or unknown variant."""

    exit_code = 2


class CommandError(LockgenError):
    """A subprocess (uv, nvidia-smi, python) failed; carries its own message, and its
    exit status where it ran to one."""

    status: int | None = None
    output: str = ""  # what it printed on stdout before failing


class TimedOut(CommandError):
    """A program (or a hardware probe) gave no answer in its time."""


class Killed(CommandError):
    """A program ended by a signal (SIGKILL, the OOM killer): what it did is unknown."""


class NoVariantError(LockgenError):
    """No lock matches this machine."""

    exit_code = 3

"""What the user sees: output through ``redact`` (no index credential reaches the
terminal or a log), and every failure as one ``error:`` line with its exit code —
0 success; 1 a resolution, install or check failed; 2 bad input; 3 no variant fits
this machine — never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from lockgen.exceptions import InputError, LockgenError
from lockgen.redact import redact

F = TypeVar("F", bound=Callable[..., Any])


def out(text: str) -> None:
    click.echo(redact(text))


def err(text: str) -> None:
    click.echo(redact(text), err=True)


def errors(f: F) -> F:
    """Turn every failure into one ``error:`` line and its exit code; never a traceback."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except LockgenError as exc:
            text = str(exc)
            if isinstance(exc, InputError):  # bad input is one line, whatever a parser put in its message
                text = " ".join(line.strip() for line in text.splitlines() if line.strip())
            err(_error_text(text))
            sys.exit(exc.exit_code)
        except OSError as exc:  # a filesystem failure no module expected: still one line
            where = f"{exc.filename}: " if exc.filename else ""
            err(f"error: {where}{exc.strerror or exc}")
            sys.exit(1)
        except (KeyboardInterrupt, SystemExit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("LOCKGEN_DEBUG"):
                raise
            err(f"error: internal error: {type(exc).__name__}: {exc} (LOCKGEN_DEBUG=1 shows where; please report it)")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _error_text(message: str) -> str:
    """One ``error:`` line; what follows it (uv's own explanation, reasons) indented."""
    first, *rest = message.removeprefix("error: ").splitlines() or [""]
    return "\n".join([f"error: {first}", *(f"  {line}" if line else line for line in rest)])


class Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Abort:
            err("error: interrupted")
            sys.exit(130)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "lockgen"
            err(f"error: {where}: {exc.format_message()}")
            sys.exit(2)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            err(f"error: {exc.format_message()}")
            sys.exit(2)

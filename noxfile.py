"""Developer tasks: ``nox -s tests`` (what CI runs), ``nox -s lint``, ``nox -s bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The offline test suite; ``nox -s tests -- -m network`` runs the PyPI tests."""
    session.install("-e", ".", "pytest", "hypothesis", "tomlkit")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".", "ruff", "mypy", "pytest", "nox")
    session.run("ruff", "check", "lockgen", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "lockgen", "tests", "noxfile.py")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Times lockgen beside plain uv and pip on the same work (``-- compile scale sync wheelhouse``)."""
    session.install(".", "pip")  # installed as users install it (no editable finder in every start-up); pip: a baseline
    session.run("python", "tests/bench.py", *session.posargs)

"""uv, the resolver and installer lockgen drives: its binary, and running it."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from lockgen import command

# The caller's UV_* variables that reach uv; every other one is withheld. uv reads many,
# and each release adds some (UV_EXCLUDE drops a package from every resolution,
# UV_NO_VERIFY_HASHES installs files no hash checked): a lock, and what sync installs
# from it, must not depend on them, and the configuration and lockgen's flags say what
# they would. Those kept say only where the cache is, how to reach the network, whose
# credentials to use and how files are placed: never which versions or files, nor
# whether they are checked. (A resolution withholds UV_OFFLINE too: see RESOLVING.)
KEPT = frozenset({
    "UV_CACHE_DIR", "UV_NO_CACHE", "UV_OFFLINE",
    "UV_HTTP_TIMEOUT", "UV_REQUEST_TIMEOUT", "UV_HTTP_RETRIES", "UV_CONCURRENT_DOWNLOADS", "UV_CONCURRENT_BUILDS",
    "UV_CONCURRENT_INSTALLS", "UV_NATIVE_TLS", "UV_SYSTEM_CERTS", "UV_INSECURE_HOST",
    "UV_KEYRING_PROVIDER", "UV_CREDENTIALS_DIR", "UV_NO_HF_TOKEN",
    "UV_S3_ENDPOINT_URL", "UV_GCS_ENDPOINT_URL", "UV_AZURE_ENDPOINT_URL", "UV_MALWARE_CHECK",
    "UV_LINK_MODE", "UV_COMPILE_BYTECODE", "UV_VENV_SEED", "UV_STACK_SIZE", "UV_NO_PROGRESS", "UV_NO_WRAP",
    "UV_LOG_CONTEXT", "UV_PYTHON_INSTALL_DIR", "UV_PYTHON_CACHE_DIR",
})  # fmt: skip
_KEPT_CREDENTIALS = re.compile(r"UV_INDEX_[A-Z0-9_]+_(?:USERNAME|PASSWORD)")  # a named index's credentials
# Withheld without a word: what uv's project, tool, Python-install and publish commands
# read, and what uv itself sets for what it runs (nox's, `uv run`'s), never `uv pip`'s.
_UNSAID = re.compile(
    r"UV_(?:PROJECT_ENVIRONMENT|RUN_RECURSION_DEPTH|FROZEN|LOCKED|NO_SYNC|(?:NO_)?DEV|NO_GROUP|ONLY_GROUP|"
    r"NO_DEFAULT_GROUPS|TOOL_DIR|TOOL_BIN_DIR|PYTHON_BIN_DIR|PYTHON_INSTALL_MIRROR|PYPY_INSTALL_MIRROR|"
    r"PYTHON_DOWNLOADS_JSON_URL|(?:NO_)?ENV_FILE|INIT_BUILD_BACKEND|VENV_CLEAR|GITHUB_TOKEN|PUBLISH_.*|INTERNAL__.*)"
)
# What a resolution withholds besides: offline, uv silently passes over every version
# whose metadata its cache lacks (lockgen's --offline says so; compile resolves online);
# the deployment targets uv reads for a macOS, iOS or Android --python-platform, which
# move the floor of the wheels it takes (MACOSX_DEPLOYMENT_TARGET=14.0 in one shell locked
# a macOS-14-only wheel under the same label and digest as another shell's macOS-11 one);
# and PROJECT_ROOT, which uv takes for ${PROJECT_ROOT} in a requirements file before its
# working folder (the project's, where lockgen runs it): lockgen reads the project's folder
# there, and so, without it, does uv. compile says where it ignores them (cli).
RESOLVING: dict[str, str | None] = dict.fromkeys(
    ("UV_OFFLINE", "MACOSX_DEPLOYMENT_TARGET", "IPHONEOS_DEPLOYMENT_TARGET", "ANDROID_API_LEVEL", "PROJECT_ROOT")
)


def withheld(env: Mapping[str, str] | None = None, *, resolving: bool = False, every: bool = False) -> list[str]:
    """The UV_* variables set in ``env`` (default: this process's) that uv does not get,
    as a warning names them; with ``every``, also those set to nothing and those no
    ``uv pip`` command reads (withheld all the same, never reported)."""
    env = os.environ if env is None else env
    return sorted(
        name
        for name, value in env.items()
        if name.startswith("UV_")
        and (every or (value and not _UNSAID.fullmatch(name)))
        and (name not in KEPT or (resolving and name in RESOLVING))
        and not _KEPT_CREDENTIALS.fullmatch(name)
    )


def withheld_settings(oses: set[str], root: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """What a resolution withholds besides UV_* variables, where it would have mattered:
    a macOS deployment target where a variant is for macOS (``oses``), a PROJECT_ROOT
    other than the project's folder (``root``)."""
    env = os.environ if env is None else env
    out = []
    if env.get("MACOSX_DEPLOYMENT_TARGET") and "macos" in oses:
        out.append("ignored MACOSX_DEPLOYMENT_TARGET: a macOS lock takes uv's own floor of macOS versions, alike on "
                   "every machine")  # fmt: skip
    project_root = env.get("PROJECT_ROOT")
    if project_root and Path(project_root).resolve() != root.resolve():
        out.append(f"ignored PROJECT_ROOT: ${{PROJECT_ROOT}} in an intent file is the project's folder, {root}")
    return out


@functools.cache
def binary() -> str:
    """The uv binary shipped by the ``uv`` package lockgen depends on."""
    from uv import find_uv_bin

    return find_uv_bin()


def run(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str | None] | None = None) -> str:
    return run_full(args, cwd=cwd, env=env).stdout


def run_full(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    message: str = "",
    spool: Path | None = None,
) -> command.Output:
    """Run uv, without the variables :data:`KEPT` does not name; CommandError carries
    uv's own message (lines starting with ``message`` left out). ``spool``: see
    :func:`lockgen.command.run_full`."""
    env = {**dict.fromkeys(withheld(every=True)), "UV_NO_PROGRESS": "1", **(env or {})}
    return command.run_full([binary(), *args], cwd=cwd, env=env, message=message, spool=spool)

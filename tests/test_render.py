"""lockgen writes its [tool.lockgen] table by hand, byte for byte as tomlkit would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgen._toml import loads
from lockgen.exceptions import InputError
from lockgen.locks import pylock, writer

REPO = Path(__file__).parents[1]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
scalar = st.one_of(text, st.integers(-(10**6), 10**6), st.booleans())
key = st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True), text.filter(bool))
table = st.dictionaries(
    key, st.one_of(scalar, st.lists(scalar, max_size=4)), min_size=1, max_size=6
)  # lockgen always has some


@settings(max_examples=300, deadline=None)
@given(table, st.dictionaries(key, st.lists(text, max_size=3), max_size=4))
def test_the_table_is_what_tomlkit_writes(plain: dict[str, object], roots: dict[str, list[str]]) -> None:
    data = {**plain, "roots": roots}
    ours = writer.toml_table("tool.lockgen", data)
    assert ours == tomlkit.dumps({"tool": {"lockgen": data}})
    assert loads(ours) == {"tool": {"lockgen": data}}


def test_the_committed_locks_render_unchanged() -> None:
    for path in sorted((REPO / "locks").glob("pylock.*.toml")):
        lock_text = path.read_text()
        meta = loads(lock_text)["tool"]["lockgen"]
        assert lock_text.endswith(writer.toml_table("tool.lockgen", meta)), path.name


def _counting(monkeypatch, tmp_path: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """Every text validated whole, with a cache of this test's own."""
    monkeypatch.setenv("LOCKGEN_CACHE_DIR", str(tmp_path / "cache"))
    validated: list[Path] = []
    real = pylock._validate

    def spy(path: Path, text: str) -> dict[str, object]:
        validated.append(path)
        return real(path, text)

    monkeypatch.setattr(pylock, "_validate", spy)
    return validated


def test_packages_validated_once_are_not_validated_again_for_a_new_tool_table(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A compile after an input edit rewrites [tool.lockgen] (its digest), mostly not the
    packages: those are read back from what validation found, the table is read anew."""
    validated = _counting(monkeypatch, tmp_path)
    text = (REPO / "locks" / "pylock.py312-cpu-macos-arm64.toml").read_text()
    first = pylock.parse(tmp_path / "a.toml", text)
    edited = text.replace(first.meta["input-digest"], "0" * 64)
    second = pylock.parse(tmp_path / "b.toml", edited)
    assert validated == [tmp_path / "a.toml"]
    assert second.meta["input-digest"] == "0" * 64 and second.versions == first.versions
    assert second.meta == loads(edited)["tool"]["lockgen"]


def test_an_edited_package_is_validated_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    validated = _counting(monkeypatch, tmp_path)
    text = (REPO / "locks" / "pylock.py312-cpu-macos-arm64.toml").read_text()
    pylock.parse(tmp_path / "a.toml", text)
    edited = re.sub(r"size = (\d+)", lambda m: f"size = {int(m[1]) + 1}", text, count=1)
    pylock.parse(tmp_path / "b.toml", edited)
    assert validated == [tmp_path / "a.toml", tmp_path / "b.toml"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t + "[tool.other]\nx = 1\n",  # another table after lockgen's
        lambda t: t.replace("\n[[packages]]\n", "\n[tool.other]\nx = 1\n\n[[packages]]\n", 1),  # one before it
    ],
)
def test_a_lock_laid_out_otherwise_is_always_validated_whole(tmp_path: Path, monkeypatch, edit) -> None:  # type: ignore[no-untyped-def]
    """Only where [tool.lockgen] is the last table and nothing before it has a ``tool``
    can the packages be known apart from it: otherwise every new text is validated."""
    validated = _counting(monkeypatch, tmp_path)
    text = edit((REPO / "locks" / "pylock.py312-cpu-macos-arm64.toml").read_text())
    digest = loads(text)["tool"]["lockgen"]["input-digest"]
    for n, name in enumerate(("a.toml", "b.toml")):
        changed = text.replace(digest, str(n) * 64)
        lock = pylock.parse(tmp_path / name, changed)
        assert lock.meta == loads(changed)["tool"]["lockgen"]
    assert validated == [tmp_path / "a.toml", tmp_path / "b.toml"]


@pytest.mark.parametrize(
    "table",
    [
        '[tool.lockgen]\nvariant = "py312-cpu-macos-arm64"\nvariant = "twice"\n',  # a duplicate key
        '[tool.lockgen]\nvariant = "py312-cpu-macos-arm64\n',  # a string left open
        '[tool.lockgen]\nvariant = "py312\\e"\n',  # TOML 1.1's escape: not what locks, or pip, read
        "[tool.lockgen]\nroots = { a = [],\n  b = [] }\n",  # TOML 1.1's newline in an inline table
    ],
)
def test_a_broken_tool_table_under_known_packages_is_still_an_error(tmp_path: Path, monkeypatch, table: str) -> None:  # type: ignore[no-untyped-def]
    validated = _counting(monkeypatch, tmp_path)
    text = (REPO / "locks" / "pylock.py312-cpu-macos-arm64.toml").read_text()
    pylock.parse(tmp_path / "a.toml", text)  # its packages are known now
    assert validated == [tmp_path / "a.toml"]
    head = text[: text.rfind("\n[tool.lockgen]\n") + 1]
    with pytest.raises(InputError, match=r"b\.toml: invalid TOML"):
        pylock.parse(tmp_path / "b.toml", head + table)


def test_a_text_is_never_taken_for_the_packages_of_another(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The two kinds of key hash different prefixes: a text spelled as another's
    packages-key input is validated as itself (and is no TOML at all)."""
    _counting(monkeypatch, tmp_path)
    text = (REPO / "locks" / "pylock.py312-cpu-macos-arm64.toml").read_text()
    pylock.parse(tmp_path / "a.toml", text)
    head = text[: text.rfind("\n[tool.lockgen]\n") + 1]
    with pytest.raises(InputError, match=r"b\.toml: invalid TOML"):
        pylock.parse(tmp_path / "b.toml", "packages\0" + head)

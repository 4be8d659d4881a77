"""lockgen writes its [tool.lockgen] table by hand, byte for byte as tomlkit would."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgen._toml import loads
from lockgen.locks import pylock

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
    ours = pylock.toml_table("tool.lockgen", data)
    assert ours == tomlkit.dumps({"tool": {"lockgen": data}})
    assert loads(ours) == {"tool": {"lockgen": data}}


def test_the_committed_locks_render_unchanged() -> None:
    for path in sorted((REPO / "locks").glob("pylock.*.toml")):
        lock_text = path.read_text()
        meta = loads(lock_text)["tool"]["lockgen"]
        assert lock_text.endswith(pylock.toml_table("tool.lockgen", meta)), path.name

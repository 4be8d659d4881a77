"""How a :class:`~lockgen.review.diff.Diff` reads: text for a terminal, markdown for a
pull-request comment, JSON (schema in the README). What a reviewer must not miss
comes first and loudly: other bytes or other files under an unchanged version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lockgen.review.diff import Change, Diff, FileChange


def _in(variants: Iterable[str], every: Iterable[str] = ()) -> str:
    """``all variants``, ``all py312 variants``, or the names; "all" only when it is
    all of ``every`` (a variant added or removed is not in any change)."""
    names = sorted(variants)
    every = sorted(every)
    if len(every) > 1 and names == every:
        return "all variants"
    groups: dict[str, list[str]] = {}
    for name in every:
        groups.setdefault(name.split("-", 1)[0], []).append(name)
    out, rest = [], set(names)
    for prefix, members in sorted(groups.items()):
        if len(members) > 1 and set(members) <= rest:
            out.append(f"all {prefix} variants")
            rest -= set(members)
    return ", ".join([*out, *sorted(rest)])


def text(d: Diff) -> str:
    lines = []
    if d.hash_changes:
        lines.append("!! ARTIFACTS CHANGED HASH WITHOUT A VERSION CHANGE: the same release now has other bytes !!")
        lines += [
            f"!! {h.package} {h.version}: {h.artifact} {' → '.join(shortened(h.old, h.new))} in "
            f"{_in(h.variants, d.every)}"
            for h in d.hash_changes
        ]
        lines.append("")
    if d.file_changes:
        lines.append(
            "!! FILES OF AN UNCHANGED VERSION CHANGED: the same release now comes from other files or elsewhere !!"
        )
        lines += [
            f"!! {f.package} {f.version}: {_file_change(f)} in {_in(f.variants, d.every)}" for f in d.file_changes
        ]
        lines.append("")
    lines += [f"unreadable at {d.base}, not compared: {v}: {why}" for v, why in d.unreadable]
    lines += [f"variant added: {v}" for v in d.variants_added]
    lines += [f"variant removed: {v}" for v in d.variants_removed]
    lines += [f"variant renamed: {a} → {b}" for a, b in d.variants_renamed]
    lines += [f"label {c.key}: {_label(c.old)} → {_label(c.new)} in {_in(c.variants, d.every)}" for c in d.labels]
    lines += [
        f"{c.package} {_shown(c.old)} → {_shown(c.new)}{_down(c)} in {_in(c.variants, d.every)}" for c in d.changed
    ]
    lines += [f"+ {c.package}{_after(c.new)} in {_in(c.variants, d.every)}" for c in d.added]
    lines += [f"- {c.package}{_after(c.old)} in {_in(c.variants, d.every)}" for c in d.removed]
    lines += [f"{v}: changed otherwise ({', '.join(what)}): see git diff" for v, what in d.otherwise]
    return "\n".join(lines) if lines else f"no lock changes since {d.base}"


def markdown(d: Diff) -> str:
    out = [f"### lockgen: lock changes since `{d.base}`", ""]
    if d.empty:
        return "\n".join([*out, "No lock changes."])
    if d.hash_changes:
        out += _caution("Artifacts changed hash while their version did not.", "The same release now has other bytes")
        out += _table(
            ("package", "version", "artifact", "old sha256", "new sha256", "variants"),
            [(h.package, h.version, f"`{h.artifact}`", f"`{h.old}`", f"`{h.new}`", _in(h.variants, d.every))
             for h in d.hash_changes],
        )  # fmt: skip
    if d.file_changes:
        out += _caution(
            "Files of an unchanged version changed.", "The same release now comes from other files or elsewhere"
        )
        out += _table(
            ("package", "version", "change", "variants"),
            [(f.package, f.version, _file_change(f, code=True), _md_variants(f.variants, d.every))
             for f in d.file_changes],
        )  # fmt: skip
    if d.unreadable:
        out += ["> [!WARNING]", f"> Unreadable at `{d.base}`, not compared:"]
        out += [f"> - `{v}`: {why}" for v, why in d.unreadable]
        out.append("")
    if d.variants_added or d.variants_removed or d.variants_renamed:
        out += [f"- variant added: `{v}`" for v in d.variants_added]
        out += [f"- variant removed: `{v}`" for v in d.variants_removed]
        out += [f"- variant renamed: `{a}` → `{b}`" for a, b in d.variants_renamed]
        out.append("")
    out += _table(
        ("label", "old", "new", "variants"),
        [(f"`{c.key}`", _label(c.old), _label(c.new), _md_variants(c.variants, d.every)) for c in d.labels],
    )
    rows = (
        [(c.package, _shown(c.old), _shown(c.new) + _down(c), c.variants) for c in d.changed]
        + [(c.package, "—", _shown(c.new), c.variants) for c in d.added]
        + [(c.package, _shown(c.old), "—", c.variants) for c in d.removed]
    )
    out += _table(("package", "old", "new", "variants"), [(p, o, n, _md_variants(vs, d.every)) for p, o, n, vs in rows])
    out += [f"- `{v}` changed otherwise ({', '.join(what)}): see the file's diff" for v, what in d.otherwise]
    return "\n".join(out).rstrip("\n")


def _caution(headline: str, said: str) -> list[str]:
    """A pull request's loud banner, before the table of what it says."""
    return [
        "> [!CAUTION]",
        f"> **{headline}** {said}:",
        "> verify the index before merging.",
        "",
    ]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A markdown table and the blank line after it; nothing without rows."""
    if not rows:
        return []
    lines = [f"| {' | '.join(header)} |", f"|{' --- |' * len(header)}"]
    return [*lines, *(f"| {' | '.join(row)} |" for row in rows), ""]


def shortened(old: str, new: str) -> tuple[str, str]:
    """Two hashes as short as a reader can still tell them apart: 12 characters, or up
    to 4 past the first that differs (``8abb2f1d8689…`` twice would read as no change)."""
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
    keep = max(12, at + 4)

    def cut(h: str) -> str:
        return h if len(h) <= keep else f"{h[:keep]}…"

    return cut(old), cut(new)


def _file_change(f: FileChange, *, code: bool = False) -> str:
    def q(s: str | None) -> str:
        return f"`{s}`" if code else str(s)

    if f.old is None:
        return f"+ {q(f.artifact)} from {q(f.new)}"
    if f.new is None:
        return f"- {q(f.artifact)}"
    return f"{q(f.artifact)} moved: {q(f.old)} → {q(f.new)}"


def _label(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) or "(none)"
    return str(value)


def _down(change: Change) -> str:
    return " (downgrade)" if change.downgrade else ""


def _shown(version: str | None) -> str:
    return version or "(no version)"


def _after(version: str | None) -> str:
    return f" {version}" if version else ""


def _md_variants(variants: tuple[str, ...], every: tuple[str, ...]) -> str:
    text = _in(variants, every)
    return ", ".join(part if part.startswith("all ") else f"`{part}`" for part in text.split(", "))


def to_json(d: Diff) -> dict[str, Any]:
    return {
        "base": d.base,
        "variants": {
            "added": list(d.variants_added),
            "removed": list(d.variants_removed),
            "renamed": [{"old": a, "new": b} for a, b in d.variants_renamed],
        },
        "hash_changes": [
            {
                "package": h.package,
                "version": h.version,
                "artifact": h.artifact,
                "old": h.old,
                "new": h.new,
                "variants": list(h.variants),
            }
            for h in d.hash_changes
        ],
        "file_changes": [
            {
                "package": f.package,
                "version": f.version,
                "artifact": f.artifact,
                "old": f.old,
                "new": f.new,
                "variants": list(f.variants),
            }
            for f in d.file_changes
        ],
        "labels": [{"key": c.key, "old": c.old, "new": c.new, "variants": list(c.variants)} for c in d.labels],
        "otherwise": [{"variant": v, "what": list(what)} for v, what in d.otherwise],
        "unreadable": [{"variant": v, "reason": why} for v, why in d.unreadable],
        "changed": [
            {
                "package": c.package,
                "old": c.old or None,
                "new": c.new or None,
                "downgrade": c.downgrade,
                "variants": list(c.variants),
            }
            for c in d.changed
        ],
        "added": [{"package": c.package, "version": c.new or None, "variants": list(c.variants)} for c in d.added],
        "removed": [{"package": c.package, "version": c.old or None, "variants": list(c.variants)} for c in d.removed],
    }

"""How compile shares network work between variants, and why it never costs the truth.

A variant resolved offline is kept only when every page its resolver took up was read
online in this run; a stale page in uv's cache must never change a result.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project
from httpindex import serve, write_page
from wheelmaker import make_index, make_wheel

from lockgen.compile import resolver, strategy, uvlog
from lockgen.compile.resolver import Request
from lockgen.locks import pylock


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every resolution the strategy asks for: (variant, online?)."""
    calls: list[tuple[str, bool]] = []
    real = resolver.resolve

    def spy(request: Request, *, offline: bool) -> resolver.Resolution:
        calls.append((request.name, not offline))
        return real(request, offline=offline)

    monkeypatch.setattr(strategy, "resolve", spy)
    return calls


def _served_project(tmp_path: Path, indexes, url: str, pythons: list[str], requirements: str) -> Project:  # type: ignore[no-untyped-def]
    """One CPU variant per python, resolving ``requirements`` from the served index."""
    p = Project(tmp_path / "proj", indexes)
    p.write("in.in", requirements)
    python = ", ".join(f'"{v}"' for v in pythons)
    p.write(
        "lockgen.toml", f'inputs = ["in.in"]\npython = [{python}]\nindex-url = "{url}/simple"\n[accelerators.cpu]\n'
    )
    return p


def test_a_stale_cached_page_never_changes_a_result(tmp_path: Path, indexes, online) -> None:  # type: ignore[no-untyped-def]
    """py311 leads online and refreshes x's page; py312 also needs y, whose cached page is
    from before y 2.0 was published: its offline result (y 1.0) must not be kept."""
    www = tmp_path / "www"
    x = make_wheel(www / "files", "x", "1.0")
    y1 = make_wheel(www / "files", "y", "1.0")
    write_page(www, "x", [x])
    write_page(www, "y", [y1])
    with serve(www) as (url, _, _):
        p = _served_project(tmp_path, indexes, url, ["3.11", "3.12"], 'x\ny; python_version >= "3.12"\n')
        assert p.run("compile").exit_code == 0  # uv's cache now holds y's page with 1.0 only
        assert pylock.read(p.lock("py312-cpu")).versions["y"] == "1.0"  # type: ignore[union-attr]
        y2 = make_wheel(www / "files", "y", "2.0")
        write_page(www, "y", [y1, y2])  # the index moves on
        online.clear()
        assert p.run("compile", "-U").exit_code == 0
        assert pylock.read(p.lock("py312-cpu")).versions["y"] == "2.0"  # type: ignore[union-attr]
        assert ("py312-cpu", True) in online, "the follower lacked a fresh page of y: it resolved online"
        assert online[0] == ("py311-cpu", True)


@pytest.mark.parametrize("option", ["--extra-index-url {url}/simple", "--find-links {url}/links/"])
def test_an_index_an_intent_file_names_is_one_the_leaders_must_have_read(  # type: ignore[no-untyped-def]
    tmp_path: Path, indexes, online, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """Both variants take y, from the configured index; gpu's intent file adds a served
    index that has y too (as a PyTorch-style index is added in ``cu128.in``). The leader
    reads y's page of the configured index only: gpu, following offline, took y 1.0
    from uv's cached page of the served index, where online gives y 2.0."""
    monkeypatch.setattr(strategy, "NETWORK_JOBS", 1)  # one leader: the other would follow
    configured = make_index(tmp_path / "configured", [make_wheel(tmp_path / "wheels", "y", "1.0")])
    www = tmp_path / "www"
    served = [make_wheel(www / "files", "y", "1.0", payload="served")]
    write_page(www, "y", served)
    links = www / "links" / "index.html"
    links.parent.mkdir()
    links.write_text(f'<a href="../files/{served[0].name}">{served[0].name}</a>\n')
    with serve(www) as (url, _, _):
        p = Project(tmp_path / "proj", indexes)
        p.write("cpu.in", "y\n")
        p.write("gpu.in", option.format(url=url) + "\ny\n")
        p.write(
            "lockgen.toml",
            f'inputs = []\npython = ["3.12"]\nindex-url = "{configured}"\n'
            '[accelerators.cpu]\ninputs = ["cpu.in"]\n[accelerators.gpu]\ninputs = ["gpu.in"]\n',
        )
        first = p.run("compile")
        assert first.exit_code == 0, first.output  # uv's cache now holds the served y page, 1.0 only
        served.append(make_wheel(www / "files", "y", "2.0", payload="served"))
        write_page(www, "y", served)
        links.write_text("".join(f'<a href="../files/{w.name}">{w.name}</a>\n' for w in served))
        online.clear()
        result = p.run("compile", "-U")
        assert result.exit_code == 0, result.output
        assert pylock.read(p.lock("py312-cpu")).versions["y"] == "1.0"  # type: ignore[union-attr]
        assert pylock.read(p.lock("py312-gpu")).versions["y"] == "2.0"  # type: ignore[union-attr]
        assert ("py312-gpu", True) in online


def test_a_follower_whose_pages_were_all_read_online_stays_offline(tmp_path: Path, indexes, online) -> None:  # type: ignore[no-untyped-def]
    www = tmp_path / "www"
    write_page(www, "x", [make_wheel(www / "files", "x", "1.0", ["z"])])
    write_page(www, "z", [make_wheel(www / "files", "z", "1.0")])
    with serve(www) as (url, handler, _):
        p = _served_project(tmp_path, indexes, url, ["3.10", "3.11", "3.12"], "x\n")
        assert p.run("compile").exit_code == 0
        assert [name for name, net in online if net] == ["py310-cpu"]  # one leader; two followers
        assert sorted(name for name, net in online if not net) == ["py311-cpu", "py312-cpu"]
        pages = [name for name, _ in handler.requests if name == "index.html"]
        assert len(pages) == 2, "each page fetched once, not once per variant"


def test_a_follower_never_takes_an_older_version_for_want_of_cached_metadata(  # type: ignore[no-untyped-def]
    tmp_path: Path, indexes, online, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The x86_64 leader caches the metadata of core 2.0's x86_64 wheel only. Offline, uv
    passes over a version whose metadata it lacks, without an error: the aarch64 follower
    took top 1.0 (whose aarch64 core an earlier compile had cached), where online gives 2.0."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))
    www = tmp_path / "www"
    files = www / "files"
    cores = [
        make_wheel(files, "core", version, tag=f"py3-none-manylinux_2_17_{arch}")
        for version in ("1.0", "2.0")
        for arch in ("x86_64", "aarch64")
    ]
    write_page(www, "core", cores)
    write_page(www, "top", [make_wheel(files, "top", v, [f"core=={v}"]) for v in ("1.0", "2.0")])
    with serve(www) as (url, _, _):
        p = Project(tmp_path / "proj", indexes)
        p.write("in.in", "top==1.0\n")
        p.write(
            "lockgen.toml",
            f'inputs = ["in.in"]\npython = ["3.12"]\nindex-url = "{url}/simple"\n'
            'platforms = ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"]\n[accelerators.cpu]\n',
        )
        assert p.run("compile").exit_code == 0  # the cache now holds core 1.0's metadata for both
        p.write("in.in", "top\n")
        for lock in p.locks.glob("*.toml"):
            lock.unlink()  # no preferences: a fresh compile
        online.clear()
        result = p.run("compile")
        assert result.exit_code == 0, result.output
        for variant in ("py312-cpu-linux-x86_64", "py312-cpu-linux-aarch64"):
            assert pylock.read(p.lock(variant)).versions == {"top": "2.0", "core": "2.0"}, variant  # type: ignore[union-attr]
        assert ("py312-cpu-linux-aarch64", True) in online
        # --offline: the cache decides, and compile says what it lacked
        for lock in p.locks.glob("*.toml"):
            lock.unlink()
        monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache2"))
        p.write("in.in", "top==1.0\n")
        assert p.run("compile").exit_code == 0
        p.write("in.in", "top\n")
        assert p.run("compile", "-U", "py312-cpu-linux-x86_64").exit_code == 0  # top 2.0, core 2.0 for x86_64
        p.lock("py312-cpu-linux-aarch64").unlink()  # it follows its sibling's versions, as far as the cache allows
        offline = p.run("compile", "--offline", "py312-cpu-linux-aarch64")
        assert offline.exit_code == 0, offline.output
        assert "resolved from uv's cache, which lacks the metadata of core 2.0" in offline.output


def test_offline_compiles_resolve_every_variant_from_the_cache(project: Project, online) -> None:  # type: ignore[no-untyped-def]
    assert project.run("compile", "--offline").exit_code in (0, 1)  # nothing cached yet may fail
    online.clear()
    assert project.run("compile").exit_code == 0
    online.clear()
    project.write("inputs/base.in", "app\n# edited\n")
    assert project.run("compile", "--offline").exit_code == 0
    assert online and not any(net for _, net in online)


def _request(name: str, inputs: tuple[str, ...], indexes: str = "i") -> Request:
    return Request(name=name, project=Path(), output_dir=Path(), inputs=inputs, python="3.12",
                   platform="linux", index_url=indexes)  # fmt: skip


def test_leaders_are_chosen_to_read_different_pages() -> None:
    reqs = [
        _request("py311-cu126", ("base.in", "cu126.in")),
        _request("py312-cu126", ("base.in", "cu126.in")),
        _request("py311-cu128", ("base.in", "cu128.in")),
        _request("py312-cu128", ("base.in", "cu128.in")),
        _request("py311-cu130", ("base.in", "cu130.in")),
    ]
    first = strategy._leaders(reqs, list(range(5)), {}, 3)
    assert first == [0, 2, 4]  # one per CUDA generation; the other pythons follow
    assert strategy._leaders(reqs, list(range(5)), {}, 1) == [0]
    # Later rounds: what the offline tries lacked decides.
    missing = {1: frozenset({"a"}), 3: frozenset({"b", "c"}), 4: frozenset({"b"})}
    assert strategy._leaders(reqs, [1, 3, 4], missing, 3) == [3, 1]  # 4 lacks only what 3 will read


def test_uv_is_never_run_concurrently_more_than_the_network_limit(project: Project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    active = 0
    peak = 0
    lock = threading.Lock()
    real = resolver.resolve

    def counting(request: Request, *, offline: bool) -> resolver.Resolution:
        nonlocal active, peak
        if offline:
            return real(request, offline=offline)
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.05)
            return real(request, offline=offline)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(strategy, "resolve", counting)
    monkeypatch.setattr(strategy, "NETWORK_JOBS", 2)
    for i in range(4):
        project.write(f"inputs/acc{i}.in", f"# accelerator {i}\n")
        project.config.write_text(
            project.config.read_text() + f'\n[accelerators.acc{i}]\ninputs = ["inputs/acc{i}.in"]\n'
        )
    assert project.run("compile", "-j", "8").exit_code == 0
    assert 1 <= peak <= 2


def test_each_result_is_judged_as_soon_as_it_is_ready_and_a_stop_begins_nothing_more(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A slow first variant does not hold back the judging of the others; the outcomes
    still come back in request order; at most ``jobs`` resolve at once. When the caller
    stops (a bug in a worker, an error judging a result, Ctrl-C), no resolution not yet
    begun is begun, and no worker is left running."""
    import threading
    import time

    active = peak = 0
    lock = threading.Lock()
    begun: list[str] = []

    def fake(request: Request, *, offline: bool) -> resolver.Resolution:
        nonlocal active, peak
        with lock:
            begun.append(request.name)
            active += 1
            peak = max(peak, active)
        time.sleep(0.3 if request.name == "slow" else 0.01)
        with lock:
            active -= 1
        if request.name == "bug":
            raise KeyError("a bug")
        return resolver.Resolution(pylock="", graph={}, versions={request.name: "1"}, read=frozenset())

    monkeypatch.setattr(strategy, "resolve", fake)
    judged: list[str] = []
    names = ["slow", "v0", "v1", "v2", "v3"]
    reqs = [_request(n, ("a.in",)) for n in names]
    outcomes = strategy.resolve_all(reqs, offline=True, jobs=2, network_jobs=1, done=lambda r, _: judged.append(r.name))
    assert judged[-1] == "slow" and sorted(judged) == sorted(names)
    assert [next(iter(o.versions)) for o in outcomes if isinstance(o, resolver.Resolution)] == names
    assert peak == 2

    begun.clear()
    with pytest.raises(KeyError, match="a bug"):
        strategy.resolve_all([_request(n, ("a.in",)) for n in ("bug", "a", "b")], offline=True, jobs=1, network_jobs=1)
    assert begun == ["bug"]

    begun.clear()

    def judge_fails(request: Request, outcome: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(
        strategy, "resolve", lambda request, *, offline: (time.sleep(0.2), fake(request, offline=offline))[1]
    )
    with pytest.raises(OSError, match="disk full"):
        reqs = [_request(n, ("a.in",)) for n in ("a", "b", "c")]
        strategy.resolve_all(reqs, offline=True, jobs=1, network_jobs=1, done=judge_fails)
    assert "c" not in begun  # at most the one the worker had already taken
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lockgen-resolve")]  # all joined


@pytest.mark.parametrize("offline", [True, False])
def test_meanwhile_work_runs_once_in_the_callers_thread_while_uv_resolves(monkeypatch, offline: bool) -> None:  # type: ignore[no-untyped-def]
    """What compile does while uv resolves (loading what judges a result) runs once,
    in the caller's thread, while the resolutions are under way, before any result is
    judged; also online, where variants resolve in rounds."""
    import threading

    started = threading.Event()
    release = threading.Event()
    events: list[str] = []

    def fake(request: Request, *, offline: bool) -> resolver.Resolution:
        started.set()
        release.wait(10)  # only ``meanwhile`` lets the first resolution end
        return resolver.Resolution(pylock="", graph={}, versions={request.name: "1"}, read=None)

    def meanwhile() -> None:
        assert threading.current_thread() is threading.main_thread()
        events.append("meanwhile, resolving" if started.wait(10) else "meanwhile, before any resolution")
        release.set()

    monkeypatch.setattr(strategy, "resolve", fake)
    reqs = [_request(n, (f"{n}.in",)) for n in ("a", "b", "c")]
    strategy.resolve_all(reqs, offline=offline, jobs=2, network_jobs=1, done=lambda r, _: events.append(r.name),
                         meanwhile=meanwhile)  # fmt: skip
    assert events[0] == "meanwhile, resolving"
    assert sorted(events[1:]) == ["a", "b", "c"]


def test_the_graph_read_from_uvs_log_keeps_edges_of_the_chosen_version_only() -> None:
    """Edges logged for the version uv chose count, however it is spelled (``1.0`` for
    ``1.0.0``, or a string PEP 440 cannot parse but uv resolved); edges of a version it
    tried and abandoned do not. What it took up is every package named in the log."""
    log = "\n".join([
        "DEBUG Adding transitive dependency for leaf==1: first-line",  # the log's first line counts too
        "DEBUG Adding direct dependency: app>=1",
        "note: DEBUG Adding transitive dependency for lib==2.0.0: mid-line",  # not a line of uv's: ignored
        "DEBUG Adding transitive dependency for app==1.0: lib>=1",
        "DEBUG Adding transitive dependency for app==0.9: old-dep>=1",
        "DEBUG Adding transitive dependency for lib==2.0.0: odd",
        "DEBUG Adding transitive dependency for odd==1.0-custom: leaf",
        "DEBUG Tried 4 versions: app 1, lib 1, odd 1, leaf 1",
    ])  # fmt: skip
    versions = {"app": "1.0.0", "lib": "2.0", "odd": "1.0-custom", "leaf": "1"}
    graph, read = uvlog.from_log(log, versions, {"in.txt": frozenset({"app"})})
    assert graph == {"app": ("in.txt",), "lib": ("app",), "odd": ("lib",), "leaf": ("odd",)}
    assert read == frozenset({"app", "lib", "odd", "leaf", "old-dep", "first-line"})


def test_a_requirement_written_by_its_path_alone_keeps_its_own_annotations() -> None:
    """uv writes a local project as ``./libs/x`` or ``-e ./libs/x``: its ``# via`` lines
    are its own, named through the lock, or dropped; never the package's above it."""
    from lockgen.locks import graph as graphs

    text = (
        "--index-url https://example.invalid/simple\n\n"
        "a==1.0\n    # via -r in.in\n-e ./libs/x\n    # via -r other.in\n"
        "./libs/y ; python_version >= '3'\n    # via\n    #   -r other.in\n    #   a\nb==2.0\n    # via x\n"
    )
    assert graphs.parse(text) == {"a": ("in.in",), "b": ("x",)}
    named = {"./libs/x": "x", "./libs/y": "y"}
    assert graphs.parse(text, named.get) == {"a": ("in.in",), "x": ("other.in",), "y": ("a", "other.in"), "b": ("x",)}
    assert graphs.pins(text) == ({"a": "1.0", "b": "2.0"}, 2)
    assert graphs.pins("a==\n") == ({"a": ""}, 0)  # edited by hand: a mismatch, not a crash


def test_versions_are_read_from_every_package_table_however_tables_are_spaced() -> None:
    from lockgen.locks import graph as graphs

    text = (
        '[[packages]]\nname = "A_b"\nversion = "1"\n[[packages]]\nname = "no-version"\n'
        '[[packages]]\nname = "c"\nversion = "2.0"\n\n  [[packages]]\nname = "indented"\nversion = "9"\n'
    )
    assert graphs.versions_of(text) == {"a-b": "1", "no-version": "", "c": "2.0"}

"""Resolving many variants while fetching each index page once.

Variants of one project read mostly the same index pages. Plain uv run once per
variant fetches them again each time (an index that sends no cache headers makes
uv revalidate every page on every run), and uv processes run side by side
contend for the same cache entries. lockgen therefore resolves in rounds:

1. *Leaders* resolve online (see 4).
2. After each round of leaders, every waiting variant with the same indexes (the
   configuration's and those its intent files name) is
   tried *offline*, all at once (``jobs`` caps it), against the cache
   the leaders just refreshed.
3. An offline result is kept only if every package the resolver took up is one
   whose index page a leader of this run read online, and uv passed over no
   version for want of its metadata in the cache. Otherwise the pages it lacked
   are noted, and it is tried again only once a later leader read them; a
   variant whose metadata was lacking resolves online itself.
4. Leaders run up to ``NETWORK_JOBS`` side by side, chosen to read different
   pages: at first, variants with different intent files (in an ML project, one
   per CUDA generation); later, those whose offline tries lacked pages no other
   chosen leader reads. Variants of other pythons with the same intent files
   mostly follow offline. Six uv processes revalidating the same pages wait on
   each other (2.2x slower than one after another, on an index that sends no
   cache headers); three leaders of different generations do not.

Why the kept results equal online ones: a resolution depends on the index pages
of the packages it takes up and on distribution metadata. Metadata belongs to an
immutable file, so a cached copy equals a fresh one; metadata missing from the
cache (another platform's wheel of a version a leader took) makes uv pass that
version over, offline, without an error, so uv's log line saying so sends the
variant online. The set of packages taken
up is read from uv's own account: its summary of every package it tried a
version of, and its ``Adding ... dependency`` lines. Without that summary line
(a uv that words its log otherwise) the set is unknown, nothing is kept offline
and every variant goes online: slower, never wrong.
Each page in that set was read by an online resolution of this run with the
same indexes, i.e. it is exactly what a fresh uv run would now see (uv's own
HTTP caching rules decided that, as they would for plain uv). Indexes served
from ``file://`` folders or local find-links are read afresh by every uv run, so
for them the rule holds trivially; remote find-links pages are not tracked, so
variants that use them (in the configuration or an intent file) always resolve online.

With ``--offline`` every variant resolves from the cache, all in parallel.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence

from lockgen import command, uv
from lockgen.compile.resolver import Request, Resolution, ResolveError, resolve
from lockgen.exceptions import LockgenError

Outcome = Resolution | LockgenError
# Leaders online at once. Measured on PyPI's proxy here (no cache headers), 6 variants
# of 3 CUDA generations: 1 at a time 3.3 s, 2 at once 2.4 s, 3 at once 1.4 s; six uv
# processes on the same pages, 2.2x slower than one after another.
NETWORK_JOBS = 3


def resolve_all(
    requests: Sequence[Request],
    *,
    offline: bool,
    jobs: int,
    network_jobs: int | None = None,
    done: Callable[[Request, Outcome], None] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[Outcome]:
    """One outcome per request, in order. ``meanwhile`` runs once in the caller's
    thread while the first resolutions run: work that needs no result."""
    network_jobs = network_jobs or NETWORK_JOBS
    uv.binary()  # find it once, before the threads: sysconfig, which finds it, is not thread-safe
    outcomes: dict[int, Outcome] = {}

    def finish(i: int, outcome: Outcome) -> None:
        outcomes[i] = outcome
        if done:
            done(requests[i], outcome)

    def attempt(i: int, online: bool) -> Outcome:
        try:
            return resolve(requests[i], offline=not online)
        except LockgenError as exc:
            return exc

    limit = max(1, jobs, network_jobs)
    if offline:
        for i, outcome in _as_done(limit, lambda i: attempt(i, False), range(len(requests)), meanwhile):
            finish(i, outcome)
        return [outcomes[i] for i in range(len(requests))]

    fresh: dict[tuple[object, ...], set[str]] = {}  # indexes → packages whose pages were read online
    missing: dict[int, frozenset[str]] = {}  # what a variant's last offline try read that was not fresh
    waiting = list(range(len(requests)))
    while waiting:
        leaders = _leaders(requests, waiting, missing, network_jobs)
        for i, outcome in _as_done(limit, lambda i: attempt(i, True), leaders, meanwhile):
            meanwhile = None
            waiting.remove(i)
            finish(i, outcome)
            if isinstance(outcome, Resolution) and _trackable(requests[i]) and outcome.read is not None:
                fresh.setdefault(requests[i].indexes, set()).update(outcome.read & outcome.versions.keys())
        followers = [
            i
            for i in waiting
            if _trackable(requests[i])
            and fresh.get(requests[i].indexes)
            and missing.get(i, frozenset()) <= fresh[requests[i].indexes]  # tried before: only if now covered
        ]
        for i, outcome in _as_done(limit, lambda i: attempt(i, False), followers):
            have = fresh[requests[i].indexes]
            read = outcome.read if isinstance(outcome, Resolution) else None
            if isinstance(outcome, Resolution) and outcome.uncached:  # only its own online run has that metadata
                missing[i] = frozenset({f"(metadata for {requests[i].name})"})
            elif read is not None and read <= have:
                waiting.remove(i)
                finish(i, outcome)
            elif read is not None:
                missing[i] = frozenset(read - have)
            else:  # the cache could not answer, or uv's account is unreadable: only a leader can
                missing[i] = frozenset({"(unknown)"})
    return [outcomes[i] for i in range(len(requests))]


def _as_done(
    limit: int, fn: Callable[[int], Outcome], items: Sequence[int], meanwhile: Callable[[], object] | None = None
) -> Iterator[tuple[int, Outcome]]:
    """``(i, fn(i))`` for each item as each finishes, at most ``limit`` at once: a
    result is judged while the others still resolve, not after the slowest one before
    it. ``meanwhile`` runs once the workers have started. When the caller stops
    (Ctrl-C, an error judging a result, a bug in a worker re-raised here), no item not
    yet begun is begun, every uv still running is stopped, and the workers are waited
    for. Plain threads: ``concurrent.futures`` would add ~8 ms (it loads ``logging``)
    to every compile."""
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in items:
        pending.put(i)
    done: queue.SimpleQueue[tuple[int, Outcome | BaseException]] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                i = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((i, fn(i)))
            except BaseException as exc:  # Ctrl-C seen in uv's end, or a bug: raised again in the caller's thread
                stop.set()
                done.put((i, exc))
                return

    workers = [threading.Thread(target=work, name=f"lockgen-resolve-{n}") for n in range(min(limit, len(items)))]
    for worker in workers:
        worker.start()
    try:
        if meanwhile:
            meanwhile()
        for _ in items:
            i, outcome = done.get()
            if isinstance(outcome, BaseException) and not isinstance(outcome, LockgenError):
                raise outcome
            yield i, outcome
    except BaseException:
        stop.set()
        with command.halted():
            for worker in workers:
                worker.join()
        raise
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def _leaders(
    requests: Sequence[Request], waiting: list[int], missing: dict[int, frozenset[str]], count: int
) -> list[int]:
    """The next variants to resolve online, up to ``count`` at once. One at first; then
    those whose offline tries showed pages no other chosen leader will read (another
    CUDA generation, say), so that leaders never fetch the same pages side by side."""
    if not missing:  # nothing tried yet: variants that read other intent files likely need other pages
        first: list[int] = []
        for i in waiting:
            if len(first) < count and all(requests[i].inputs != requests[c].inputs for c in first):
                first.append(i)
        return first
    chosen: list[int] = []
    covered: dict[tuple[object, ...], set[str]] = {}
    ranked = sorted(waiting, key=lambda i: (i not in missing, -len(missing.get(i, ())), i))
    for i in ranked:
        if len(chosen) == count:
            break
        group = covered.setdefault(requests[i].indexes, set())
        need = missing.get(i)
        if need is not None and need <= group:
            continue  # a chosen leader reads what this one lacks: it can follow
        if need is None and chosen and requests[i].indexes in {requests[c].indexes for c in chosen}:
            continue  # unknown needs, same indexes: wait and see
        chosen.append(i)
        group.update(need or ())
    return chosen or waiting[:1]


def _trackable(request: Request) -> bool:
    """Can this request's index pages be accounted for? Not with remote find-links, the
    configuration's or an intent file's."""
    links = (*request.find_links, *(value for option, value in request.intent_indexes if option == "--find-links"))
    return not any(link.lower().startswith(("http://", "https://")) for link in links)


__all__ = ["Outcome", "ResolveError", "resolve_all"]

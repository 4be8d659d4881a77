"""Resolving many variants while fetching each index page once.

Variants of one project read mostly the same index pages. Plain uv run once per
variant fetches them again each time (an index that sends no cache headers makes
uv revalidate every page on every run), and uv processes run side by side
contend for the same cache entries. lockgen therefore resolves in rounds:

1. *Leaders* resolve online, one at a time by default (``network_jobs``).
2. After each leader, every waiting variant with the same indexes is tried
   *offline*, in parallel (CPU-bound, ``jobs`` at once), against the cache the
   leaders just refreshed.
3. An offline result is kept only if every package the resolver took up is one
   whose index page a leader of this run read online. Otherwise (or if the
   offline attempt fails), the variant waits to become a leader itself.

Why the kept results equal online ones: a resolution depends on the index pages
of the packages it takes up and on distribution metadata. Metadata belongs to an
immutable file, so a cached copy equals a fresh one. The set of packages taken
up is read from uv's own account (``Adding ... dependency`` lines), and it must
include every package in the result: if uv stopped writing those lines, nothing
would be kept offline and every variant would go online, slower but never wrong.
Each page in that set was read by an online resolution of this run with the
same indexes, i.e. it is exactly what a fresh uv run would now see (uv's own
HTTP caching rules decided that, as they would for plain uv). Indexes served
from ``file://`` folders or local find-links are read afresh by every uv run, so
for them the rule holds trivially; remote find-links pages are not tracked, so
variants that use them always resolve online.

With ``--offline`` every variant resolves from the cache, all in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from lockgen import uv
from lockgen.compile.resolver import Request, Resolution, ResolveError, resolve
from lockgen.exceptions import LockgenError

Outcome = Resolution | LockgenError


def resolve_all(
    requests: Sequence[Request],
    *,
    offline: bool,
    jobs: int,
    network_jobs: int = 1,
    done: Callable[[Request, Outcome], None] | None = None,
) -> list[Outcome]:
    """One outcome per request, in order."""
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

    with ThreadPoolExecutor(max_workers=max(1, jobs, network_jobs)) as pool:
        if offline:
            for i, outcome in enumerate(pool.map(lambda i: attempt(i, False), range(len(requests)))):
                finish(i, outcome)
            return [outcomes[i] for i in range(len(requests))]

        fresh: dict[tuple[object, ...], set[str]] = {}  # indexes → packages whose pages were read online
        waiting = list(range(len(requests)))
        while waiting:
            leaders = _leaders(requests, waiting, network_jobs)
            for i, outcome in zip(leaders, pool.map(lambda i: attempt(i, True), leaders), strict=True):
                waiting.remove(i)
                finish(i, outcome)
                if isinstance(outcome, Resolution) and _trackable(requests[i]):
                    fresh.setdefault(requests[i].indexes, set()).update(outcome.read & outcome.versions.keys())
            followers = [i for i in waiting if _trackable(requests[i]) and fresh.get(requests[i].indexes)]
            for i, outcome in zip(followers, pool.map(lambda i: attempt(i, False), followers), strict=True):
                if isinstance(outcome, Resolution) and outcome.read <= fresh[requests[i].indexes]:
                    waiting.remove(i)
                    finish(i, outcome)
    return [outcomes[i] for i in range(len(requests))]


def _leaders(requests: Sequence[Request], waiting: list[int], count: int) -> list[int]:
    """The next variants to resolve online: up to ``count``, from different indexes
    where possible (variants with the same indexes are better left to follow)."""
    chosen: list[int] = []
    seen: set[tuple[object, ...]] = set()
    for i in waiting:
        if len(chosen) < count and requests[i].indexes not in seen:
            chosen.append(i)
            seen.add(requests[i].indexes)
    return chosen


def _trackable(request: Request) -> bool:
    """Can this request's index pages be accounted for? Not with remote find-links."""
    return not any(link.startswith(("http://", "https://")) for link in request.find_links)


__all__ = ["Outcome", "ResolveError", "resolve_all"]

"""Parse and classify fetched feeds off the event loop: in a thread, or across processes.

    analyzer = Analyzer(taxonomy)                  # a worker thread: small rounds, tests
    analyzer = Analyzer(taxonomy, processes=4)     # worker processes: rounds of many feeds,
                                                   # started at the first call, not before
    done = await analyzer.analyse_feed(body, feed=..., url=..., headers=..., fetched=now)
    done.parsed.articles, done.classes       # articles and their classification
    done = await analyzer.analyse_feed(..., classify=False)      # or parse only, then
    classes = await analyzer.classify(new_articles)             # classify the new ones
    analyzer.close()

feedparser and the classifier are pure Python: in one process they share one core however
many threads run them (7-12 ms of CPU per 30-item feed, with the machine's load), so a round
of a thousand feeds spreads them over worker processes, kept until close(). They start when
the first body is to be parsed, or when poll_round begins a round with feeds never fetched
before (those answer with bodies); a round that is all 304s starts none. Both steps are
pure (bytes in, dataclasses out); the store and the network stay in the parent. A feed seen
for the first time (every feed of a first round) is parsed and classified in one call; one
with stored articles is parsed first, and only the articles the store does not know yet are
classified. The event loop only awaits, never computes. A worker process that dies takes the
pool with it: the analyzer then says so and goes on in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, TypeVar

from bot import worker
from bot.models import Article, Classification
from bot.taxonomy import Taxonomy
from bot.worker import Analysed, Packed, analyse, analyse_all, analyse_feed, tune_gc

__all__ = ["Analysed", "Analyzer", "analyse", "analyse_all", "analyse_feed", "default_processes",
           "tune_gc"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def default_processes() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# feedparser reads the charset, base URL and language from these; the rest need not travel
_PARSER_HEADERS = ("content-type", "content-location", "content-language")
BATCH = 16  # calls per batch sent to a worker process (Analyzer._send)


class Analyzer:
    """Runs parse_feed and the classifier in a worker thread, or in `processes` processes."""

    def __init__(self, taxonomy: Taxonomy, *, processes: int = 0) -> None:
        self.taxonomy = taxonomy
        self.processes = processes if processes > 1 else 0
        self._pool: Executor | None = None
        self._started = False  # once started, broken or closed, the pool is not started again
        # Calls go to the pool in batches: at most 2 batches per process in flight, and
        # what waits meanwhile travels together (one pickle and one wake-up per batch).
        self._waiting: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._in_flight, self._limit = 0, 2 * processes

    @property
    def running(self) -> bool:
        """Whether worker processes are up (started, and neither broken nor closed)."""
        return self._pool is not None

    def start(self) -> None:
        """Start the worker processes, if this analyzer has any and they never ran: the
        first call that needs them does this, or poll_round at the start of a round with new
        feeds, so a round of 304s costs no process."""
        if self._started or not self.processes:
            return
        self._started = True
        # spawn: each worker is a fresh interpreter that imports only what parsing and
        # classifying need, not a copy of a parent with threads, sockets and a database
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.processes, mp_context=context,
                                         initializer=worker.start_worker,
                                         initargs=(self.taxonomy.rules,))
        for _ in range(self.processes):  # all of them now, while the other feeds load
            self._pool.submit(worker.ready)

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._started = True  # closed for good: later calls (none are expected) use a thread
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def analyse_feed(self, body: bytes, *, feed: str, url: str,
                           headers: Mapping[str, str], fetched: datetime,
                           language: str | None = None, classify: bool = True) -> Analysed:
        """analyse_feed off the loop; raises ParseError as parse_feed does."""
        wanted = {k: v for k, v in headers.items() if k.lower() in _PARSER_HEADERS}
        args: dict[str, Any] = dict(feed=feed, url=url, headers=wanted, fetched=fetched,
                                    language=language, classify=classify)
        done: Analysed | Packed = await self._run(
            functools.partial(worker.analyse_in_worker, body, **args),
            functools.partial(analyse_feed, body, **args, taxonomy=self.taxonomy))
        return done if isinstance(done, Analysed) else worker.unpack(done)

    async def classify(self, articles: Sequence[Article]) -> list[Classification]:
        if not articles:
            return []
        articles = list(articles)
        return await self._run(functools.partial(worker.classify_in_worker, articles),
                               functools.partial(analyse_all, articles, self.taxonomy))

    async def _run(self, in_pool: Callable[[], T], in_thread: Callable[[], T]) -> T:
        self.start()
        if self._pool is not None:
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            self._waiting.append((in_pool, future))
            self._send()
            # if the pool broke (_received said so), go on in a thread
            with contextlib.suppress(BrokenProcessPool):
                return await future
        return await asyncio.to_thread(in_thread)

    def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pool is not None and self._waiting and self._in_flight < self._limit:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            pool = self._pool
            try:
                sent = loop.run_in_executor(pool, worker.run_batch, [call for call, _ in batch])
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down, already
                self._waiting = batch + self._waiting
                self._broken(pool)
                return
            self._in_flight += 1
            sent.add_done_callback(functools.partial(
                self._received, pool, [future for _, future in batch]))

    def _received(self, pool: Executor, futures: list[asyncio.Future[Any]],
                  sent: asyncio.Future[list[tuple[bool, Any]]]) -> None:
        self._in_flight -= 1
        if sent.cancelled():  # the loop is shutting down
            for future in futures:
                future.cancel()
            return
        error = sent.exception()
        if isinstance(error, BrokenProcessPool):
            self._broken(pool, futures)
            return
        outcomes = sent.result() if error is None else [(False, error)] * len(futures)
        for future, (ok, value) in zip(futures, outcomes, strict=True):
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)
        self._send()

    def _broken(self, pool: Executor, lost: Sequence[asyncio.Future[Any]] = ()) -> None:
        """A worker died: every call sent or waiting goes on in a thread instead (_run)."""
        if self._pool is pool:
            log.error("a parsing worker process died; parsing in a thread from now on")
            self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
        waiting, self._waiting = self._waiting, []
        for future in [*lost, *(f for _, f in waiting)]:
            if not future.done():
                future.set_exception(BrokenProcessPool("a parsing worker process died"))



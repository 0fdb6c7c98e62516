"""Parse and classify fetched feeds off the event loop: in a thread, or across processes.

    analyzer = Analyzer(taxonomy)                  # a worker thread: small rounds, tests
    analyzer = Analyzer(taxonomy, processes=4)     # worker processes: rounds of many feeds
    done = await analyzer.analyse_feed(body, feed=..., url=..., headers=..., fetched=now)
    done.parsed.articles, done.classes       # articles and their classification
    done = await analyzer.analyse_feed(..., classify=False)      # or parse only, then
    classes = await analyzer.classify(new_articles)             # classify the new ones
    analyzer.close()

feedparser and the classifier are pure Python: in one process they share one core however
many threads run them (about 20 ms of CPU per 30-item feed), so a round of a thousand feeds
spreads them over worker processes. Both steps are pure (bytes in, dataclasses out); the
store and the network stay in the parent. A feed seen for the first time (every feed of a
first round) is parsed and classified in one call; one with stored articles is parsed first,
and only the articles the store does not know yet are classified. The event loop only awaits,
never computes. A worker process that dies takes the pool with it: the analyzer then says so
and goes on in a thread.

`StoreWriter` saves fetches from one worker thread, many feeds per transaction, so that a
round of a thousand feeds does not hop to a thread and commit a thousand times.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot import language
from bot.classify import classify
from bot.models import Article, Classification, FeedState
from bot.parse import ParsedFeed, parse_feed
from bot.store import Store
from bot.taxonomy import Taxonomy, TaxonomySpec, TopicOverride, TopicSpec, load_taxonomy

log = logging.getLogger(__name__)

T = TypeVar("T")


def analyse(article: Article, taxonomy: Taxonomy) -> Classification:
    """Language (declared or detected) and classification of one article."""
    lang = language.detect(f"{article.title}. {article.summary}",
                           declared_language=article.language)
    return classify(article.title, article.summary, taxonomy=taxonomy, language=lang,
                    published=article.published.date())


def analyse_all(articles: Sequence[Article], taxonomy: Taxonomy) -> list[Classification]:
    return [analyse(a, taxonomy) for a in articles]


@dataclass(frozen=True)
class Analysed:
    """A parsed feed and, when asked for, the classification of each of its articles."""

    parsed: ParsedFeed
    classes: list[Classification] | None = None


# feedparser reads the charset, base URL and language from these; the rest need not travel
_PARSER_HEADERS = ("content-type", "content-location", "content-language")


def analyse_feed(body: bytes, *, feed: str, url: str, headers: Mapping[str, str],
                 fetched: datetime, language: str | None, classify: bool,
                 taxonomy: Taxonomy) -> Analysed:
    """Parse; classify every article when `classify` (pure)."""
    parsed = parse_feed(body, feed=feed, url=url, headers=headers, fetched=fetched,
                        language=language)
    return Analysed(parsed, analyse_all(parsed.articles, taxonomy) if classify else None)


def default_processes() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Analyzer:
    """Runs parse_feed and the classifier in a worker thread, or in `processes` processes."""

    def __init__(self, taxonomy: Taxonomy, *, processes: int = 0) -> None:
        self.taxonomy = taxonomy
        self._pool: Executor | None = None
        if processes > 1:
            # forkserver: workers start from a clean process that has imported this module
            # once, not from a copy of a parent with threads and open sockets
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["bot.ingest"])
            self._pool = ProcessPoolExecutor(processes, mp_context=context,
                                             initializer=_start_worker,
                                             initargs=portable(taxonomy))

    @property
    def processes(self) -> int:
        return getattr(self._pool, "_max_workers", 0) if self._pool else 0

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
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
        return await self._run(functools.partial(_analyse_in_worker, body, **args),
                               functools.partial(analyse_feed, body, **args,
                                                 taxonomy=self.taxonomy))

    async def classify(self, articles: Sequence[Article]) -> list[Classification]:
        if not articles:
            return []
        articles = list(articles)
        return await self._run(functools.partial(_classify_in_worker, articles),
                               functools.partial(analyse_all, articles, self.taxonomy))

    async def _run(self, in_pool: Callable[[], T], in_thread: Callable[[], T]) -> T:
        pool = self._pool
        if pool is not None:
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, in_pool)
            except BrokenProcessPool:
                if self._pool is pool:
                    log.error("a parsing worker process died; parsing in a thread from now on")
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
        return await asyncio.to_thread(in_thread)


# ------------------------------------------------------------------ inside a worker process

_worker_taxonomy: Taxonomy | None = None


def portable(taxonomy: Taxonomy) -> tuple[TaxonomySpec, dict[str, TopicOverride]]:
    """What a worker needs to compile the same taxonomy (compiled matchers don't pickle):
    the packaged spec and every topic as it ended up after feeds.yaml's overrides."""
    return taxonomy.spec, {topic_id: _as_override(spec)
                           for topic_id, spec in taxonomy.topics.items()}


def _as_override(spec: TopicSpec) -> TopicOverride:
    return TopicOverride(label=spec.label, emoji=spec.emoji, terms=spec.terms, weak=spec.weak,
                         replace=True)


def _start_worker(spec: TaxonomySpec, topics: dict[str, TopicOverride]) -> None:
    global _worker_taxonomy
    _worker_taxonomy = load_taxonomy(topics, spec=spec)


def _analyse_in_worker(body: bytes, **args: Any) -> Analysed:
    assert _worker_taxonomy is not None, "worker started without a taxonomy"
    return analyse_feed(body, **args, taxonomy=_worker_taxonomy)


def _classify_in_worker(articles: list[Article]) -> list[Classification]:
    assert _worker_taxonomy is not None, "worker started without a taxonomy"
    return analyse_all(articles, _worker_taxonomy)


# ------------------------------------------------------------------ saving


Saved = list[int | None]


class StoreWriter:
    """Saves fetches (store.save_fetch) from one worker thread, up to `batch` feeds per
    transaction. A batch that fails is retried feed by feed, so one bad row fails one feed."""

    def __init__(self, store: Store, *, batch: int = 100) -> None:
        self.store, self.batch = store, batch
        self._queue: list[tuple[FeedState, list[tuple[Article, Classification]], datetime,
                                asyncio.Future[Saved]]] = []
        self._task: asyncio.Task[None] | None = None

    async def save(self, state: FeedState, items: list[tuple[Article, Classification]],
                   fetched: datetime) -> Saved:
        future: asyncio.Future[Saved] = asyncio.get_running_loop().create_future()
        self._queue.append((state, items, fetched, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self.batch], self._queue[self.batch:]
            try:
                saved = await asyncio.to_thread(self.store.save_fetches,
                                                [(s, i, f) for s, i, f, _ in batch])
            except Exception:
                for state, items, fetched, future in batch:
                    try:
                        one = await asyncio.to_thread(self.store.save_fetch, state, items,
                                                      fetched)
                    except Exception as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(one)
                continue
            for (*_, future), ids in zip(batch, saved, strict=True):
                future.set_result(ids)

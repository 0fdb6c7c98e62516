"""The imperative shell of polling: one round over the due feeds.

    poll_round   fetch due feeds concurrently (polite: bot/fetch.py) -> parse, detect
                 language, classify (off the event loop: bot/ingest.py) -> store (StoreWriter:
                 one thread, many feeds per transaction) -> next fetch time per feed
    Poller       the fetcher and analyzer that the service's rounds share, for its lifetime
    due_feeds, first_fetch_times   which feeds a round fetches; when new feeds start
    compose, queue_digest, queue_alerts   digests and alerts: in bot/delivery.py
(bot/outbox.py sends the outbox.)

One failing feed is recorded on that feed and reported; it never stops the others, and a
round always completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.config import Config, FeedConfig
from bot.errors import ParseError, redact
from bot.fetch import Fetcher, plan_next
from bot.ingest import Analyzer, default_processes
from bot.models import FAILING_AFTER, Article, Classification, FeedState, FetchResult
from bot.parse import ParsedFeed
from bot.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

POOL_MIN_FEEDS = 50               # rounds at least this big parse in worker processes
FIRST_FETCH_STEP = timedelta(seconds=2)  # new feeds start this far apart (run service)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- polling


@dataclass
class FeedOutcome:
    feed: str
    status: str
    new: int = 0
    relevant: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    bytes_received: int = 0


@dataclass
class RoundReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (feed, why)

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def relevant(self) -> int:
        return sum(o.relevant for o in self.outcomes)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def bytes_received(self) -> int:
        return sum(o.bytes_received for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(o.status == status and not o.error for o in self.outcomes)

    def summary(self) -> str:
        return (f"{len(self.outcomes)} feeds polled: {self.count('200')} fetched, "
                f"{self.count('304')} unchanged (304), {len(self.failed)} failed, "
                f"{len(self.skipped)} skipped; {self.new} new articles, "
                f"{self.relevant} relevant")


def due_feeds(config: Config, states: dict[str, FeedState], *, now: datetime,
              manual: bool) -> tuple[list[tuple[FeedConfig, FeedState]], list[tuple[str, str]]]:
    """Which feeds to fetch now. A manual round ignores the interval, never Retry-After."""
    due, skipped = [], []
    for feed in config.feeds:
        state = states.get(feed.name)
        if state is None:
            continue
        if not feed.enabled:
            skipped.append((feed.name, "disabled in the config"))
        elif state.disabled:
            skipped.append((feed.name, f"disabled: {state.disabled_reason}"))
        elif state.retry_after_until and state.retry_after_until > now:
            skipped.append((feed.name, f"server asked to wait until "
                                       f"{state.retry_after_until:%Y-%m-%d %H:%M} UTC"))
        elif manual or state.next_due is None or state.next_due <= now:
            due.append((feed, state))
    return due, skipped


def first_fetch_times(feeds: Sequence[FeedConfig], *, now: datetime, rng: random.Random,
                      step: timedelta = FIRST_FETCH_STEP) -> dict[str, datetime]:
    """When never-fetched feeds are first due: spread `step` apart in random order (within
    the shortest interval), so a service that starts with a thousand feeds does not fetch
    them all in the same second, and their later fetches stay spread out (pure)."""
    if not feeds:
        return {}
    window = min(step * len(feeds), min(f.interval for f in feeds))
    order = list(feeds)
    rng.shuffle(order)
    return {f.name: now + window * k / len(order) for k, f in enumerate(order)}


async def poll_round(config: Config, store: Store, *, clock: Clock = utcnow,
                     manual: bool = True, fetcher: Fetcher | None = None,
                     analyzer: Analyzer | None = None,
                     rng: random.Random | None = None) -> RoundReport:
    """Fetch every due feed concurrently; each outcome is stored and returned, none raises.

    A manual round (`poll`) fetches every enabled feed; the service's rounds only the due
    ones, and the first time it sees new feeds it spreads them out (first_fetch_times).
    A fetcher or analyzer passed in stays open (the service keeps them: Poller); one made
    here is closed when the round ends (make_analyzer: worker processes for rounds of
    POOL_MIN_FEEDS feeds or more, started when a body is to be parsed, or at the start of a
    round with feeds never fetched before: those answer with bodies)."""
    rng = rng or random.Random()
    states = await asyncio.to_thread(_load_states, config, store)
    now = clock()
    if not manual:
        states = await asyncio.to_thread(_schedule_new, config, store, states, now, rng)
    due, skipped = due_feeds(config, states, now=now, manual=manual)
    report = RoundReport(skipped=skipped)
    if not due:
        return report
    # each one made here is closed, whatever happens to the round or to closing the other:
    # a fetcher that fails to close must not leave parse worker processes running
    async with contextlib.AsyncExitStack() as owned:
        if fetcher is None:
            fetcher = make_fetcher(config)
            owned.push_async_callback(fetcher.aclose)
        if analyzer is None:
            analyzer = make_analyzer(config, feeds=len(due))
            owned.push_async_callback(asyncio.to_thread, analyzer.close)
        if any(state.last_fetch is None for _, state in due):
            # a feed never fetched before answers with a body, not a 304: the worker
            # processes (if this analyzer has any) start now, while the requests are out
            analyzer.start()
        round_ = _Round(config, store, fetcher, analyzer, StoreWriter(store), clock, rng)
        report.outcomes = list(await asyncio.gather(*(
            round_.guarded(feed, state) for feed, state in due)))
    return report


class Poller:
    """What the service's polling rounds share for its lifetime: one Fetcher (its TLS
    context; connections are kept alive within a round, as keep-alive expires long before
    the next) and one Analyzer (its worker processes, started at the first body to parse:
    rounds of 304s start none). Everything it holds is its own.

        poller = Poller(config)
        report = await poller.poll(store, clock=clock)    # every round
        await poller.aclose()                             # when the service stops
    """

    def __init__(self, config: Config, *, fetcher: Fetcher | None = None,
                 analyzer: Analyzer | None = None) -> None:
        self.config = config
        self.fetcher = fetcher or make_fetcher(config)
        self.analyzer = analyzer or make_analyzer(
            config, feeds=sum(f.enabled for f in config.feeds))

    async def poll(self, store: Store, *, clock: Clock = utcnow, manual: bool = False,
                   rng: random.Random | None = None) -> RoundReport:
        """One round (poll_round); its connections are closed when it ends."""
        try:
            return await poll_round(self.config, store, clock=clock, manual=manual,
                                    fetcher=self.fetcher, analyzer=self.analyzer, rng=rng)
        finally:
            await self.fetcher.close_idle()

    async def aclose(self) -> None:
        """Close both, each even when closing the other fails (that error is raised after)."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, self.analyzer.close)
            stack.push_async_callback(self.fetcher.aclose)


def _load_states(config: Config, store: Store) -> dict[str, FeedState]:
    store.sync_feeds((f.name, f.url) for f in config.feeds)
    return {s.name: s for s in store.feed_states(with_counts=False)}


def _schedule_new(config: Config, store: Store, states: dict[str, FeedState], now: datetime,
                  rng: random.Random) -> dict[str, FeedState]:
    new = [f for f in config.feeds if f.enabled and f.name in states
           and states[f.name].next_due is None and not states[f.name].disabled]
    times = first_fetch_times(new, now=now, rng=rng)
    if times:
        store.set_next_due(times)
        log.info("%d new feeds: first fetches spread over the next %s", len(times),
                 max(times.values()) - now)
    return {name: replace(s, next_due=times.get(name, s.next_due)) for name, s in states.items()}


def make_fetcher(config: Config) -> Fetcher:
    s = config.fetch
    return Fetcher(concurrency=s.concurrency, per_origin=s.per_origin,
                   connect_timeout=s.connect_timeout.total_seconds(),
                   timeout=s.timeout.total_seconds(), max_bytes=s.max_bytes,
                   max_redirects=s.max_redirects, user_agent=s.user_agent)


def make_analyzer(config: Config, *, feeds: int) -> Analyzer:
    """For rounds of `feeds` feeds: one worker process per core from POOL_MIN_FEEDS feeds on
    (started at the first body to parse), else a worker thread."""
    cores = default_processes()
    big = feeds >= POOL_MIN_FEEDS and cores > 1
    return Analyzer(config.taxonomy, processes=cores if big else 0)


@dataclass
class _Round:
    """What every feed of one round shares."""

    config: Config
    store: Store
    fetcher: Fetcher
    analyzer: Analyzer
    writer: StoreWriter
    clock: Clock
    rng: random.Random

    async def analyse(self, feed: FeedConfig, state: FeedState, result: FetchResult,
                      now: datetime) -> tuple[ParsedFeed, list[tuple[Article, Classification]]]:
        """The parsed feed, and its articles not stored before with their classification.
        A feed that never gave articles is parsed and classified in one go; otherwise only
        what the store does not know yet is classified."""
        url = result.final_url or result.url
        if state.last_success is None:
            done = await self.analyzer.analyse_feed(result.body, feed=feed.name, url=url,
                                                    headers=result.headers, fetched=now,
                                                    language=feed.language)
            return done.parsed, list(zip(done.parsed.articles, done.classes or [],
                                         strict=True))
        done = await self.analyzer.analyse_feed(result.body, feed=feed.name, url=url,
                                                headers=result.headers, fetched=now,
                                                language=feed.language, classify=False)
        fresh = await asyncio.to_thread(_not_stored, self.store, feed.name,
                                        done.parsed.articles)
        return done.parsed, list(zip(fresh, await self.analyzer.classify(fresh), strict=True))

    async def guarded(self, feed: FeedConfig, state: FeedState) -> FeedOutcome:
        """poll, but a bug or a broken store is recorded on this feed, not the round's end."""
        try:
            return await self.poll(feed, state)
        except Exception as exc:
            log.exception("feed %s: unexpected error; the other feeds go on", feed.name)
            error = redact(f"internal error: {type(exc).__name__}: {exc}")[:300]
            # a failure like any other: the same backoff, counted towards FAILING_AFTER
            failed = FetchResult(feed=feed.name, url=state.fetch_url, error=error,
                                 error_kind="internal")
            now = self.clock()
            try:
                new_state = plan_next(state, failed, now=now, interval=feed.interval,
                                      jitter=self.config.fetch.jitter, rng=self.rng)
                await asyncio.to_thread(self.store.save_fetch, new_state, [], now)
            except Exception:
                log.exception("feed %s: cannot record the error either", feed.name)
            return FeedOutcome(feed=feed.name, status="internal error", error=error)

    async def poll(self, feed: FeedConfig, state: FeedState) -> FeedOutcome:
        result = await self.fetcher.fetch(feed.name, state.fetch_url, etag=state.etag,
                                          last_modified=state.last_modified)
        now = self.clock()
        parsed: ParsedFeed | None = None
        items: list[tuple[Article, Classification]] = []
        parse_error = None
        if result.ok:
            try:
                parsed, items = await self.analyse(feed, state, result, now)
            except ParseError as exc:
                parse_error = str(exc)
        new_state = plan_next(state, result, now=now, interval=feed.interval,
                              jitter=self.config.fetch.jitter, rng=self.rng,
                              parse_error=parse_error,
                              ttl_minutes=parsed.ttl_minutes if parsed else None)
        if parsed is not None:
            new_state = replace(new_state,
                                last_warning="; ".join(parsed.warnings)[:500] or None)
        ids = await self.writer.save(new_state, items, now)
        outcome = FeedOutcome(feed=feed.name, status=new_state.last_status or "error",
                              error=new_state.last_error,
                              warnings=list(parsed.warnings) if parsed else [],
                              bytes_received=result.bytes_received)
        outcome.new = sum(i is not None for i in ids)
        outcome.relevant = sum(c.relevant for (_, c), i in zip(items, ids, strict=True)
                               if i is not None)
        _log_outcome(feed, state, new_state, result, outcome)
        return outcome


def _not_stored(store: Store, feed: str, articles: list[Article]) -> list[Article]:
    """The articles add_articles would store: not this feed's by guid, nor any feed's by
    URL (a story another feed stored first is skipped there, so it is not classified)."""
    known = store.known_guids(feed, [a.guid for a in articles])
    fresh = [a for a in articles if a.guid not in known]
    urls = store.known_urls([a.url for a in fresh if a.url])
    return [a for a in fresh if not (a.url and a.url in urls)]


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


def _log_outcome(feed: FeedConfig, old: FeedState, new: FeedState, result: FetchResult,
                 outcome: FeedOutcome) -> None:
    if new.fetch_url != old.fetch_url:
        log.warning("feed %s moved permanently (HTTP 301/308) from %s to %s; fetching it "
                    "there from now on (update feeds.yaml)", feed.name, old.fetch_url,
                    new.fetch_url)
    for warning in outcome.warnings:  # kept on the feed too: `status` shows the last ones
        log.info("feed %s: %s", feed.name, warning)
    if new.disabled and not old.disabled:
        log.error("feed %s disabled: %s", feed.name, new.last_error)
    elif outcome.error:
        level = logging.ERROR if new.failures >= FAILING_AFTER else logging.WARNING
        log.log(level, "feed %s failed (%d in a row; next try %s): %s", feed.name,
                new.failures, f"{new.next_due:%Y-%m-%d %H:%M} UTC" if new.next_due else "never",
                outcome.error)
    elif old.failures >= FAILING_AFTER:
        log.warning("feed %s works again after %d failures", feed.name, old.failures)

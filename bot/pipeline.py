"""The imperative shell: a polling round, digests, and the outbox sender.

    poll_round   fetch due feeds (async) -> parse, detect language, classify (worker thread)
                 -> store -> next fetch time per feed
    compose      per channel: undelivered relevant articles -> digest messages (pure render)
    queue_digest compose and write to the outbox, claiming the articles, in one transaction
(bot/outbox.py sends the outbox.)

One failing feed or chat is recorded and reported; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import language
from bot.classify import classify
from bot.config import ChannelConfig, Config, FeedConfig
from bot.digest import Message, Story, render_digest, render_empty
from bot.errors import ParseError
from bot.fetch import Fetcher, plan_next
from bot.models import Article, Classification, FeedState, FetchResult, StoredArticle
from bot.parse import parse_feed
from bot.store import Store
from bot.taxonomy import Taxonomy

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def analyse(article: Article, taxonomy: Taxonomy) -> Classification:
    """Language (declared or detected) and classification of one article."""
    lang = language.detect(f"{article.title}. {article.summary}",
                           declared_language=article.language)
    return classify(article.title, article.summary, taxonomy=taxonomy, language=lang,
                    published=article.published.date())


# --------------------------------------------------------------------------- polling


@dataclass
class FeedOutcome:
    feed: str
    status: str
    new: int = 0
    relevant: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


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

    def summary(self) -> str:
        fetched = sum(o.status == "200" for o in self.outcomes)
        unchanged = sum(o.status == "304" for o in self.outcomes)
        return (f"{len(self.outcomes)} feeds polled: {fetched} fetched, {unchanged} unchanged "
                f"(304), {len(self.failed)} failed, {len(self.skipped)} skipped; "
                f"{self.new} new articles, {self.relevant} relevant")


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


async def poll_round(config: Config, store: Store, *, clock: Clock = utcnow,
                     manual: bool = True, fetcher: Fetcher | None = None,
                     rng: random.Random | None = None) -> RoundReport:
    store.sync_feeds((f.name, f.url) for f in config.feeds)
    states = {s.name: s for s in store.feed_states()}
    due, skipped = due_feeds(config, states, now=clock(), manual=manual)
    report = RoundReport(skipped=skipped)
    own = fetcher is None
    fetcher = fetcher or make_fetcher(config)
    rng = rng or random.Random()
    try:
        outcomes = await asyncio.gather(*(
            _poll_feed(config, store, feed, state, fetcher, clock, rng) for feed, state in due))
    finally:
        if own:
            await fetcher.aclose()
    report.outcomes = list(outcomes)
    return report


def make_fetcher(config: Config) -> Fetcher:
    s = config.fetch
    return Fetcher(concurrency=s.concurrency, per_origin=s.per_origin,
                   connect_timeout=s.connect_timeout.total_seconds(),
                   timeout=s.timeout.total_seconds(), max_bytes=s.max_bytes,
                   max_redirects=s.max_redirects, user_agent=s.user_agent)


async def _poll_feed(config: Config, store: Store, feed: FeedConfig, state: FeedState,
                     fetcher: Fetcher, clock: Clock, rng: random.Random) -> FeedOutcome:
    result = await fetcher.fetch(feed.name, state.fetch_url, etag=state.etag,
                                 last_modified=state.last_modified)
    outcome = FeedOutcome(feed=feed.name, status=str(result.status or "error"))
    parse_error, ttl = None, None
    if result.ok:
        try:
            new, relevant, ttl, warnings = await asyncio.to_thread(
                ingest, config, store, feed, result, clock())
            outcome.new, outcome.relevant, outcome.warnings = new, relevant, warnings
        except ParseError as exc:
            parse_error = str(exc)
    new_state = plan_next(state, result, now=clock(), interval=feed.interval,
                          jitter=config.fetch.jitter, rng=rng, parse_error=parse_error,
                          ttl=ttl)
    if result.permanent_url and result.permanent_url != state.fetch_url:
        log.warning("feed %s moved permanently to %s (update feeds.yaml)", feed.name,
                    result.permanent_url)
    if new_state.disabled and not state.disabled:
        log.error("feed %s disabled: %s", feed.name, new_state.last_error)
    outcome.error = new_state.last_error if new_state.last_error else None
    if outcome.error:
        outcome.status = new_state.last_status or "error"
        level = logging.WARNING if new_state.failures < 3 else logging.ERROR
        log.log(level, "feed %s failed (%d in a row): %s", feed.name, new_state.failures,
                outcome.error)
    store.save_feed_state(new_state)
    return outcome


def ingest(config: Config, store: Store, feed: FeedConfig, result: FetchResult,
           now: datetime) -> tuple[int, int, timedelta | None, list[str]]:
    """Parse, classify and store one fetched feed (runs in a worker thread)."""
    parsed = parse_feed(result.body, feed=feed.name, url=result.final_url or result.url,
                        headers=result.headers, fetched=now, language=feed.language)
    known = store.known_guids(feed.name, [a.guid for a in parsed.articles])
    fresh = [a for a in parsed.articles if a.guid not in known]
    items = [(a, analyse(a, config.taxonomy)) for a in fresh]
    ids = store.add_articles(items, now)
    new = sum(i is not None for i in ids)
    relevant = sum(c.relevant for (_, c), i in zip(items, ids, strict=True) if i is not None)
    for warning in parsed.warnings:
        log.warning("feed %s: %s", feed.name, warning)
    ttl = timedelta(minutes=parsed.ttl_minutes) if parsed.ttl_minutes else None
    return new, relevant, ttl, parsed.warnings


# --------------------------------------------------------------------------- digests


def select(store: Store, channel: ChannelConfig, *, now: datetime) -> list[StoredArticle]:
    since = now - channel.max_age if channel.max_age else None
    wanted = set(channel.topics)
    return [a for a in store.undelivered(channel.name, since=since)
            if a.classification.language in channel.languages
            and (not wanted or wanted & set(a.classification.topics))]


def compose(config: Config, store: Store, channel: ChannelConfig, *,
            now: datetime) -> list[Message]:
    articles = select(store, channel, now=now)
    if not articles:
        return [render_empty(channel.labels_language)] if channel.empty_message else []
    stories = [Story(a) for a in articles]
    return render_digest(stories, taxonomy=config.taxonomy, language=channel.labels_language,
                         now=now, timezone=config.channel_timezone(channel),
                         channel_topics=channel.topics,
                         bilingual=len(channel.languages) > 1)


def queue_digest(config: Config, store: Store, channel: ChannelConfig, *,
                 now: datetime) -> list[Message]:
    messages = compose(config, store, channel, now=now)
    if messages:
        chat = store.channel_chat(channel.name, channel.chat)
        store.queue(channel.name, chat, "digest",
                    [(m.text, m.article_ids) for m in messages], now)
    return messages

"""The imperative shell: a polling round, digests, and the outbox sender.

    poll_round   fetch due feeds (async) -> parse, detect language, classify (worker thread)
                 -> store -> next fetch time per feed
    compose      per channel: undelivered relevant articles -> digest messages (pure render)
    queue_digest compose and write to the outbox, claiming the articles, in one transaction
    deliver      send the outbox in order; each message marked sent with its message id

One failing feed or chat is recorded and reported; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import language
from bot.classify import classify
from bot.config import ChannelConfig, Config, FeedConfig
from bot.digest import Message, Story, plain_text, render_digest, render_empty
from bot.errors import FatalNotifyError, ParseError
from bot.fetch import Fetcher, plan_next
from bot.models import (
    Article,
    Classification,
    FeedState,
    FetchResult,
    OutboxMessage,
    StoredArticle,
)
from bot.notify import (
    ChatBlocked,
    ChatMoved,
    ChatRejected,
    Notifier,
    RateLimited,
    Transient,
    Unparsable,
)
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


# --------------------------------------------------------------------------- sending


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pacing:
    """Telegram's guides (shared/telegram.md): ~1 message/s per chat; backoff on errors."""

    per_chat: float = 1.0
    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 300.0


async def deliver(store: Store, notifier: Notifier, *, clock: Clock = utcnow,
                  pacing: Pacing = Pacing(), channels: Sequence[str] | None = None,
                  sleep: Callable[[float], object] = asyncio.sleep) -> DeliveryReport:
    """Send pending messages in order; stop a chat at its first unsendable message."""
    report = DeliveryReport()
    pending = store.pending()
    stopped: set[str] = set()
    last_sent: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    for message in pending:
        if channels is not None and message.channel not in channels:
            continue
        if message.channel in stopped:
            continue
        if store.channel_info(message.channel).get("blocked"):
            stopped.add(message.channel)
            continue
        if message.not_before and message.not_before > clock():
            stopped.add(message.channel)  # keep the order: later messages wait too
            continue
        wait = pacing.per_chat - (loop.time() - last_sent.get(message.chat, -1e9))
        if wait > 0:
            await sleep(wait)  # type: ignore[misc]
        ok = await _send_one(store, notifier, message, clock=clock, pacing=pacing,
                             sleep=sleep, report=report)
        last_sent[message.chat] = loop.time()
        if not ok:
            stopped.add(message.channel)
    return report


async def _send_one(store: Store, notifier: Notifier, message: OutboxMessage, *,
                    clock: Clock, pacing: Pacing, sleep: Callable[[float], object],
                    report: DeliveryReport) -> bool:
    chat, html_mode, attempts = message.chat, True, message.attempts
    text = message.text
    while True:
        try:
            message_id = await notifier.send(chat, text, html=html_mode)
        except RateLimited as exc:
            log.warning("chat %s: %s", chat, exc)
            await sleep(exc.retry_after)  # type: ignore[misc]
            continue
        except ChatMoved as exc:
            log.warning("channel %s: %s; sending there from now on", message.channel, exc)
            chat = str(exc.new_chat_id)
            store.set_channel(message.channel, chat=chat)
            continue
        except Unparsable as exc:
            if not html_mode:
                return _give_up(store, message.id, str(exc), report)
            log.error("message %d could not be parsed by Telegram (%s); resending as plain "
                      "text", message.id, exc)
            text, html_mode = plain_text(text), False
            continue
        except ChatBlocked as exc:
            log.error("channel %s (chat %s): %s; no more messages go there until the bot is "
                      "added back and `status` is cleared", message.channel, chat, exc)
            store.set_channel(message.channel, blocked=1, blocked_reason=str(exc))
            store.mark_attempt(message.id, str(exc), None)
            report.blocked.append(message.channel)
            return False
        except ChatRejected as exc:
            log.error("channel %s (chat %s): %s", message.channel, chat, exc)
            store.mark_attempt(message.id, str(exc), None)
            report.errors.append(f"{message.channel}: {exc}")
            report.failed += 1
            return False
        except Transient as exc:
            attempts += 1
            delay = min(pacing.backoff_cap, pacing.backoff_base * 2 ** (attempts - 1))
            delay *= 1 + random.random() * 0.2
            if attempts >= pacing.max_attempts:
                store.mark_attempt(message.id, str(exc),
                                   clock() + timedelta(seconds=delay))
                report.errors.append(f"{message.channel}: {exc} (kept, will retry)")
                report.failed += 1
                return False
            log.warning("chat %s: %s; retrying in %.0f s", chat, exc, delay)
            await sleep(delay)  # type: ignore[misc]
            continue
        except FatalNotifyError:
            raise
        store.mark_sent(message.id, message_id, clock())
        report.sent += 1
        return True


def _give_up(store: Store, outbox_id: int, error: str, report: DeliveryReport) -> bool:
    store.mark_attempt(outbox_id, error, None, status="failed")
    report.errors.append(error)
    report.failed += 1
    return False



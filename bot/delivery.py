"""What goes out to each channel: its digest and its instant alerts.

    select        undelivered relevant articles for a channel (its languages, topics, max age)
    plan          select -> cluster with the stories the channel had lately (bot/cluster.py):
                  new stories, and 'covered' articles, new copies of a story it already had
    compose       the digest's messages (for `digest --dry-run` and `preview`)
    queue_digest  plan, render and write to the outbox, claiming every article, in one
                  transaction (bot/store.py); bot/outbox.py sends it
    queue_alerts  after a poll: stories that match the channel's `alerts` (a topic, or a score
                  of at least `min_score`) go out at once, one message each; being claimed,
                  they are not repeated in the digest

A channel marked blocked (bot/outbox.py) gets nothing queued: its articles wait for the
first digest after it works again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.cluster import NEAR_DAYS, cluster
from bot.config import ChannelConfig, Config
from bot.digest import Message, Story, make_stories, render_alert, render_digest, render_empty
from bot.models import StoredArticle
from bot.store import Store, iso

log = logging.getLogger(__name__)

ALERT_WINDOW = timedelta(hours=48)  # only news this fresh becomes an alert
MAX_ALERTS = 5                      # per channel and round; the rest wait for the digest


@dataclass(frozen=True, slots=True)
class Plan:
    stories: list[Story]
    covered: tuple[int, ...]   # new articles about a story the channel already had


def select(store: Store, channel: ChannelConfig, *, now: datetime) -> list[StoredArticle]:
    since = now - channel.max_age if channel.max_age else None
    wanted = set(channel.topics)
    return [a for a in store.undelivered(channel.name, since=since)
            if a.classification.language in channel.languages
            and (not wanted or wanted & set(a.classification.topics))]


def plan(config: Config, store: Store, channel: ChannelConfig, *, now: datetime) -> Plan:
    fresh = select(store, channel, now=now)
    if not fresh:
        return Plan([], ())
    oldest = min(a.article.published for a in fresh)
    had = store.delivered_since(channel.name, oldest - timedelta(days=NEAR_DAYS))
    had_ids = {a.id for a in had}
    structural = [t for t, spec in config.taxonomy.topics.items() if spec.structural]
    groups, covered = [], []
    for members in cluster([*fresh, *had], structural=structural):
        new = [a for a in members if a.id not in had_ids]
        if len(new) < len(members):
            covered += [a.id for a in new]
        elif new:
            groups.append(new)
    return Plan(make_stories(groups, language=channel.labels_language), tuple(covered))


def render(config: Config, channel: ChannelConfig, stories: Sequence[Story], *,
           now: datetime) -> list[Message]:
    if not stories:
        return [render_empty(channel.labels_language)] if channel.empty_message else []
    return render_digest(stories, taxonomy=config.taxonomy, language=channel.labels_language,
                         now=now, timezone=config.channel_timezone(channel),
                         channel_topics=channel.topics, bilingual=len(channel.languages) > 1,
                         with_time=channel.digest.every is not None)


def compose(config: Config, store: Store, channel: ChannelConfig, *,
            now: datetime) -> list[Message]:
    return render(config, channel, plan(config, store, channel, now=now).stories, now=now)


def _blocked(store: Store, channel: ChannelConfig) -> bool:
    info = store.channel_info(channel.name)
    if info.get("blocked"):
        log.warning("channel %s is blocked (%s): nothing queued; its stories wait",
                    channel.name, info.get("blocked_reason"))
        return True
    return False


def queue_digest(config: Config, store: Store, channel: ChannelConfig, *,
                 now: datetime) -> list[Message]:
    if _blocked(store, channel):
        return []
    for _ in range(3):  # another sender may claim some of the articles meanwhile
        current = plan(config, store, channel, now=now)
        messages = render(config, channel, current.stories, now=now)
        if not messages and not current.covered:
            return []
        chat = store.channel_chat(channel.name, channel.chat)
        if store.queue(channel.name, chat, "digest", [(m.text, m.article_ids) for m in messages],
                       now, covered=current.covered) is not None:
            store.set_channel(channel.name, last_digest=iso(now))
            return messages
    log.warning("channel %s: the articles kept being claimed by another sender", channel.name)
    return []


def urgent(article: StoredArticle, channel: ChannelConfig, *, now: datetime) -> bool:
    """Fresh and matching the channel's alert rules."""
    rules = channel.alerts
    if rules is None or article.article.published < now - ALERT_WINDOW:
        return False
    result = article.classification
    return bool(set(rules.topics) & set(result.topics)) or (
        rules.min_score is not None and result.score >= rules.min_score)


def queue_alerts(config: Config, store: Store, channel: ChannelConfig, *,
                 now: datetime) -> list[Message]:
    """Alerts for this channel, queued now; run after each polling round."""
    rules = channel.alerts
    if rules is None or (not rules.topics and rules.min_score is None) or \
            _blocked(store, channel):
        return []
    today = now.astimezone(ZoneInfo(config.channel_timezone(channel))).date()
    for _ in range(3):
        stories = [s for s in plan(config, store, channel, now=now).stories
                   if any(urgent(a, channel, now=now) for a in s.articles)]
        if not stories:
            return []
        stories = sorted(stories, key=lambda s: -s.importance)[:MAX_ALERTS]
        messages = [render_alert(s, taxonomy=config.taxonomy, language=channel.labels_language,
                                 today=today) for s in stories]
        chat = store.channel_chat(channel.name, channel.chat)
        if store.queue(channel.name, chat, "alert", [(m.text, m.article_ids) for m in messages],
                       now) is not None:
            log.info("channel %s: %d alert(s) queued", channel.name, len(messages))
            return messages
    return []


def queue_all_alerts(config: Config, store: Store, *, now: datetime) -> int:
    """After a polling round: every enabled channel's alerts; the number of messages."""
    return sum(len(queue_alerts(config, store, channel, now=now))
               for channel in config.channels if channel.enabled and channel.alerts)

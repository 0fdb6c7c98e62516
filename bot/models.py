"""Plain data that flows between the stages of the pipeline.

A `FeedParserDict` never leaves parse.py and a database row never leaves store.py:
everything else talks in these frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

# Consecutive failures after which a feed is reported as failing: logged at ERROR
# (bot/pipeline.py) and shown as FAILING by `status` (bot/status.py). fetching.md: report
# the feed after repeated failures, never drop it silently.
FAILING_AFTER = 3


@dataclass(frozen=True, slots=True)
class Article:
    """One feed entry, normalised: plain text, canonical URL, UTC time."""

    feed: str
    guid: str
    url: str
    title: str
    summary: str
    published: datetime
    language: str | None = None  # declared by the config or the feed, else None
    author: str = ""


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier decided about an article, and why."""

    language: str
    relevant: bool
    score: float
    topics: tuple[str, ...]
    matches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    orgs: tuple[str, ...] = ()
    regulators: tuple[str, ...] = ()
    laws: tuple[str, ...] = ()
    effective_date: date | None = None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as read back from the store, with its classification."""

    id: int
    article: Article
    classification: Classification
    fetched: datetime


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP fetch; `error` is set instead of raising."""

    feed: str
    url: str                          # the URL requested first
    status: int | None = None         # final HTTP status, None when no answer came
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    final_url: str = ""               # where the body came from after redirects
    permanent_url: str | None = None  # every hop was 301/308 and it answered 200/304:
                                      # stored once the body parsed too (plan_next)
    error: str | None = None
    error_kind: str | None = None     # timeout, connect, too-large, http, gone, redirect,
                                      # internal (a bug on our side, bot/pipeline.py)
    retry_after: float | None = None  # seconds the server asked us to wait
    max_age: float | None = None      # Cache-Control max-age / Expires, seconds
    bytes_received: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's fetch state, kept in SQLite so it survives restarts."""

    name: str
    url: str                          # as configured
    fetch_url: str                    # where we fetch now (after permanent redirects)
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None    # "200", "304", "error: timeout", ...
    last_error: str | None = None
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    failures: int = 0                 # consecutive
    next_due: datetime | None = None
    retry_after_until: datetime | None = None  # the server asked us to wait until then
    disabled: bool = False
    disabled_reason: str | None = None
    articles: int = 0
    last_warning: str | None = None   # the last fetch parsed, but: malformed XML, ...
    ttl_minutes: int | None = None    # the feed's RSS <ttl> when it last sent a body


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message waiting to be sent, in order, per chat."""

    id: int
    channel: str
    chat: str
    text: str
    kind: str                         # digest | alert | notice
    article_ids: tuple[int, ...]
    attempts: int = 0
    not_before: datetime | None = None
    parts: tuple[str, ...] = ()       # sent as plain text in these parts (outbox.py) ...
    parts_sent: int = 0               # ... of which this many went out


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """One chat's own subscription, made with the bot commands (/subscribe, /digest, ...).

    Only what the features need: the chat id and its settings; no messages, no user profiles.
    """

    chat_id: int
    topics: tuple[str, ...] = ()            # empty: the chat gets no digest
    languages: tuple[str, ...] = ("nl", "en")
    digest: str = "daily 08:00"             # a config.parse_schedule text
    ui_language: str | None = None          # None: each user's Telegram language

    @property
    def subscribed(self) -> bool:
        return bool(self.topics)

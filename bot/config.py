"""Load and validate feeds.yaml into frozen dataclasses.

Every error names the file, the line and the key, e.g.

    feeds.yaml:14: feeds[2].interval: invalid duration '15 minuten' (use 90s, 15m, 2h or 14d)

The schema is declared once, as pydantic dataclasses (still plain dataclasses for the rest
of the code); pydantic reports where a value is wrong and the YAML node tree tells on
which line that place is.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass as schema

from bot.errors import ConfigError
from bot.taxonomy import Taxonomy, TopicOverride, load_taxonomy
from bot.yamlfile import expand_env, key_name, line_for, load_yaml

DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_DB = "data/bot.db"
LANGUAGES = ("nl", "en")
# fetching.md: well-behaved readers poll a feed at most every 15-60 minutes; 10 is our floor.
MIN_INTERVAL = timedelta(minutes=10)
MAX_INTERVAL = timedelta(days=365)  # far enough; much further and the next due time overflows

_DURATION_RE = re.compile(r"(\d+)\s*(s|m|h|d|w)", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """'15m', '1h30m', '14d', 0 -> timedelta. A bare number other than 0 is ambiguous."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float) and value == 0:
        return timedelta(0)
    text = str(value).strip().replace(" ", "")
    if text == "0":
        return timedelta(0)
    pos, total = 0, 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r} (use 90s, 15m, 2h or 14d)")
    try:
        return timedelta(seconds=total)
    except OverflowError:  # pydantic reports a ValueError with its place, not this
        raise ValueError(f"duration {value!r} is far too long") from None


def format_duration(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {d[:3]: d for d in _DAYS} | {d: d for d in _DAYS} | {
    "ma": "monday", "di": "tuesday", "wo": "wednesday", "do": "thursday", "vr": "friday",
    "za": "saturday", "zo": "sunday",
}
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When a channel's digest goes out. `times` are local HH:MM in the channel's timezone."""

    text: str
    days: tuple[str, ...] = ()          # weekday names; empty with times = every day
    times: tuple[str, ...] = ()
    every: timedelta | None = None      # "every 4 hours"
    manual: bool = False                # "manual": only `digest` posts it

    def __str__(self) -> str:
        return self.text


def parse_schedule(value: object) -> DigestSchedule:
    """'daily 08:00', 'weekdays 07:30', 'mon,thu 09:00', 'every 4 hours', 'manual'."""
    text = " ".join(str(value).strip().lower().split())
    if text in ("manual", "never", "off"):
        return DigestSchedule(text, manual=True)
    m = re.fullmatch(r"every (\d+) ?(minutes?|min|m|hours?|h)", text)
    if m:
        n = int(m.group(1)) * (60 if m.group(2).startswith("h") else 1)
        if n > 7 * 24 * 60:  # checked before timedelta, which overflows on a huge number
            raise ValueError(f"schedule {value!r}: at least one digest a week (or use e.g. "
                             f"'mon 08:00')")
        every = timedelta(minutes=n)
        if every < timedelta(minutes=15):
            raise ValueError(f"schedule {value!r}: at most one digest every 15 minutes")
        return DigestSchedule(text, every=every)
    if text == "hourly":
        return DigestSchedule(text, every=timedelta(hours=1))
    words = text.split(" ")
    times = tuple(w for w in words[1:] if w) if len(words) > 1 else ()
    if not times or not all(_TIME_RE.match(t) for t in times):
        raise ValueError(
            f"invalid schedule {value!r} (use 'daily 08:00', 'weekdays 07:30', "
            f"'mon,thu 09:00', 'every 4 hours' or 'manual')")
    times = tuple(f"{int(t.split(':')[0]):02d}:{t.split(':')[1]}" for t in times)
    days_word = words[0]
    if days_word in ("daily", "dagelijks", "everyday"):
        days: tuple[str, ...] = ()
    elif days_word in ("weekdays", "werkdagen"):
        days = _DAYS[:5]
    elif days_word in ("weekends", "weekend"):
        days = _DAYS[5:]
    else:
        try:
            days = tuple(dict.fromkeys(_DAY_ALIASES[d] for d in days_word.split(",")))
        except KeyError:
            raise ValueError(f"invalid schedule {value!r}: unknown day in {days_word!r}") from None
    return DigestSchedule(text, days=days, times=times)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (use e.g. Europe/Amsterdam)") from None
    return name


def _check_positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be more than 0 (e.g. 10s), got {format_duration(value)}: "
                         "every fetch would time out at once")
    return value


def _check_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return url


def _check_chat(value: str | int) -> str | int:
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,}", text):
        raise ValueError(f"chat {value!r} must be '@channelname' or a numeric chat id")
    return text


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration),
                             AfterValidator(_check_positive)]
Schedule = Annotated[DigestSchedule, BeforeValidator(parse_schedule)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]
Url = Annotated[str, AfterValidator(_check_url)]
Language = Literal["nl", "en"]
Chat = Annotated[str | int, AfterValidator(_check_chat)]
_STRICT = ConfigDict(extra="forbid")


@schema(config=_STRICT, frozen=True)
class FetchSettings:
    """How feeds are fetched (fetching.md)."""

    concurrency: Annotated[int, Field(ge=1, le=500)] = 20
    per_origin: Annotated[int, Field(ge=1, le=16)] = 2
    connect_timeout: PositiveDuration = timedelta(seconds=10)
    timeout: PositiveDuration = timedelta(seconds=30)
    max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    user_agent: str | None = None
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.1  # share of the interval, at random


@schema(config=_STRICT, frozen=True)
class FeedConfig:
    name: Annotated[str, Field(min_length=1)]
    url: Url
    language: Language | None = None
    interval: Duration = timedelta(minutes=15)
    enabled: bool = True


@schema(config=_STRICT, frozen=True)
class AlertConfig:
    """Stories that are posted at once instead of waiting for the digest."""

    topics: tuple[str, ...] = ()
    min_score: float | None = None


@schema(config=_STRICT, frozen=True)
class ChannelConfig:
    name: Annotated[str, Field(min_length=1)]
    chat: Chat
    languages: tuple[Language, ...] = ("nl", "en")
    topics: tuple[str, ...] = ()        # empty = every topic
    digest: Schedule = parse_schedule("daily 08:00")
    timezone: Timezone | None = None    # None = the config's timezone
    max_age: Duration = timedelta(days=14)
    alerts: AlertConfig | None = None
    ui_language: Language | None = None  # headers and labels; default from `languages`
    empty_message: bool = False          # post a one-line "no news" for an empty period
    enabled: bool = True

    @property
    def labels_language(self) -> str:
        if self.ui_language:
            return self.ui_language
        return self.languages[0] if len(self.languages) == 1 else "nl"


@schema(config=_STRICT, frozen=True)
class _Root:
    feeds: tuple[FeedConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    topics: Mapping[str, TopicOverride] = Field(default_factory=dict)
    db: str | None = None
    timezone: Timezone = DEFAULT_TIMEZONE
    admins: tuple[int, ...] = ()
    fetch: FetchSettings = Field(default_factory=lambda: FetchSettings())


@dataclass(frozen=True)
class Config:
    """The validated configuration; `path` is where it was read from."""

    path: Path
    feeds: tuple[FeedConfig, ...]
    channels: tuple[ChannelConfig, ...]
    taxonomy: Taxonomy
    db: str | None
    timezone: str
    admins: tuple[int, ...]
    fetch: FetchSettings
    lines: Mapping[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def channel_timezone(self, channel: ChannelConfig) -> str:
        return channel.timezone or self.timezone

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, expand ${VARS}, validate. Raises ConfigError naming file, line and key."""
    path = Path(path)
    env = os.environ if env is None else env
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found (pass --config or set BOT_CONFIG)", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=name) from None
    data, lines = load_yaml(text, name)
    data = expand_env(data, env, name, lines)
    try:
        root = TypeAdapter(_Root).validate_python(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise ConfigError(_pydantic_message(err), file=name, line=line_for(lines, loc),
                          key=key_name(loc)) from None
    try:
        taxonomy = load_taxonomy(root.topics)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=name, line=line_for(lines, ("topics", exc.key)),
                          key=f"topics.{exc.key}" if exc.key else "topics") from None
    _check_cross_references(root, taxonomy, name, lines)
    return Config(path=path, feeds=root.feeds, channels=root.channels, taxonomy=taxonomy,
                  db=root.db, timezone=root.timezone, admins=root.admins, fetch=root.fetch,
                  lines=lines)


def _check_cross_references(root: _Root, taxonomy: Taxonomy, name: str,
                            lines: Mapping[tuple[Any, ...], int]) -> None:
    def fail(loc: tuple[Any, ...], message: str) -> None:
        raise ConfigError(message, file=name, line=line_for(lines, loc), key=key_name(loc))

    named: list[tuple[str, Sequence[FeedConfig | ChannelConfig]]] = [
        ("feeds", root.feeds), ("channels", root.channels)]
    for kind, items in named:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in seen:
                fail((kind, i, "name"),
                     f"duplicate name {item.name!r} (also {kind}[{seen[item.name]}])")
            seen[item.name] = i
    urls: dict[str, int] = {}
    for i, feed in enumerate(root.feeds):
        if feed.url in urls:
            fail(("feeds", i, "url"), f"the same URL as feeds[{urls[feed.url]}]")
        urls[feed.url] = i
        if feed.interval < MIN_INTERVAL:
            fail(("feeds", i, "interval"),
                 f"{feed.interval} is below the floor of 10m (be polite to publishers)")
        if feed.interval > MAX_INTERVAL:
            fail(("feeds", i, "interval"), f"{format_duration(feed.interval)} is above the "
                 f"ceiling of {format_duration(MAX_INTERVAL)}")
    for i, channel in enumerate(root.channels):
        topic_lists = [("topics", channel.topics)]
        if channel.alerts:
            topic_lists.append(("alerts", channel.alerts.topics))
        for key, topics in topic_lists:
            for j, topic in enumerate(topics):
                if topic not in taxonomy.topics:
                    loc = ("channels", i, key, j) if key == "topics" else (
                        "channels", i, "alerts", "topics", j)
                    fail(loc, f"unknown topic {topic!r}; known: {', '.join(taxonomy.topics)}")


def _known_keys() -> list[str]:
    kinds = (_Root, FeedConfig, ChannelConfig, FetchSettings, AlertConfig)
    return sorted({f.name for kind in kinds for f in dataclasses.fields(kind)})


def _pydantic_message(err: Mapping[str, Any]) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", "invalid value"))
    if kind == "missing":
        return "is required"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        loc = err.get("loc", ())
        key = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(key, _known_keys(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else \
            " (see the README's configuration reference)"
        return f"unknown key{hint}"
    msg = msg.removeprefix("Value error, ")
    if kind == "literal_error" and "nl" in msg:
        return f"{msg}; got {err.get('input')!r}"
    return msg

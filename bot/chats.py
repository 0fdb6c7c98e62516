"""Per-chat subscriptions made with the bot commands (pure: no Telegram, no database).

A chat's `ChatSettings` (bot/models.py, stored by store.py) become a `ChannelConfig`, so a
chat's digest takes the same compose / outbox path as a configured channel. The command
arguments are read and validated here; a ValueError's message names the offending word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from bot.config import LANGUAGES, ChannelConfig, Config, parse_schedule
from bot.errors import ConfigError
from bot.models import ChatSettings
from bot.taxonomy import Taxonomy

CHANNEL_PREFIX = "chat:"
MAX_LATEST = 10
DEFAULT_LATEST = 5
_ALL = {"all", "alle", "alles", "*"}


def channel_name(chat_id: int) -> str:
    """The name a chat's subscription has in the outbox and deliveries tables."""
    return f"{CHANNEL_PREFIX}{chat_id}"


def chat_of(channel: str) -> int | None:
    """The chat id of a chat's subscription channel ('chat:-100123'); None for a channel
    from feeds.yaml."""
    rest = channel.removeprefix(CHANNEL_PREFIX)
    if rest == channel or not rest.lstrip("-").isdecimal():
        return None
    return int(rest)


def timezone_of(settings: ChatSettings | None, config: Config) -> str:
    """The timezone a chat's digest runs in (config.channel_timezone, as for feeds.yaml's
    channels)."""
    return config.channel_timezone(channel_for(settings or ChatSettings(0)))


def channel_for(settings: ChatSettings) -> ChannelConfig:
    """The chat's settings as a channel: same selection, rendering and sending as feeds.yaml's.
    Its digest is in the config's timezone; headers in the chat's language (else Dutch when
    it reads both languages, as a configured channel)."""
    return ChannelConfig(name=channel_name(settings.chat_id), chat=settings.chat_id,
                         languages=settings.languages,  # type: ignore[arg-type]
                         topics=settings.topics, digest=parse_schedule(settings.digest),
                         ui_language=settings.ui_language)  # type: ignore[arg-type]


def resolve_topics(words: Iterable[str], taxonomy: Taxonomy) -> tuple[list[str], list[str]]:
    """Topic ids for what the user typed (an id or a label, any case; 'all' for every topic).
    Returns (ids in taxonomy order, the words that name no topic)."""
    names: dict[str, str] = {}
    for topic_id, spec in taxonomy.topics.items():
        for name in (topic_id, spec.label.nl, spec.label.en):
            names.setdefault(name.casefold(), topic_id)
    found: set[str] = set()
    unknown: list[str] = []
    for word in words:
        key = word.strip().casefold()
        if key in _ALL:
            found.update(taxonomy.topics)
        elif key in names:
            found.add(names[key])
        elif key:
            unknown.append(word)
    return [t for t in taxonomy.topics if t in found], unknown


def subscribe(settings: ChatSettings, topics: Sequence[str], taxonomy: Taxonomy) -> ChatSettings:
    wanted = set(settings.topics) | set(topics)
    return replace(settings, topics=tuple(t for t in taxonomy.topics if t in wanted))


def unsubscribe(settings: ChatSettings, topics: Sequence[str]) -> ChatSettings:
    return replace(settings, topics=tuple(t for t in settings.topics if t not in topics))


def toggle(settings: ChatSettings, topic: str, taxonomy: Taxonomy) -> ChatSettings:
    if topic in settings.topics:
        return unsubscribe(settings, [topic])
    return subscribe(settings, [topic], taxonomy)


def parse_languages(words: Sequence[str]) -> tuple[str, ...]:
    """'/languages nl en' -> ('nl', 'en'); raises ValueError naming a word that is no language."""
    found: list[str] = []
    for word in words:
        for part in word.replace(",", " ").split():
            lang = part.strip().lower()
            if lang not in LANGUAGES:
                raise ValueError(part)
            if lang not in found:
                found.append(lang)
    if not found:
        raise ValueError("")
    return tuple(found)


def parse_digest(words: Sequence[str]) -> str:
    """'/digest daily 08:00' -> the schedule's canonical text; ValueError when invalid."""
    return parse_schedule(" ".join(words)).text


def digest_off(settings: ChatSettings) -> bool:
    """'/digest off' (or manual): the chat keeps its topics but gets no digest."""
    return parse_schedule(settings.digest).manual


def parse_latest(words: Sequence[str], taxonomy: Taxonomy) -> tuple[str | None, int]:
    """'/latest [TOPIC] [N]' in either order -> (topic id or None, count)."""
    topic: str | None = None
    count = DEFAULT_LATEST
    for word in words:
        if word.isdigit():
            count = int(word)
            if not 1 <= count <= MAX_LATEST:
                raise ValueError(word)
            continue
        ids, unknown = resolve_topics([word], taxonomy)
        if unknown or len(ids) != 1 or topic is not None:
            raise ValueError(word)
        topic = ids[0]
    return topic, count


def admin_ids(config: Config, env: Mapping[str, str]) -> frozenset[int]:
    """The bot's administrators: `admins` in the config plus env BOT_ADMINS ('1,2')."""
    ids = set(config.admins)
    for part in env.get("BOT_ADMINS", "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(f"BOT_ADMINS: {part!r} is not a Telegram user id (use digits, "
                              "separated by commas)")
        ids.add(int(part))
    return frozenset(ids)

"""Render digests and alerts as Telegram HTML (pure: data in, message texts out).

Rules from shared/telegram.md: only Telegram's tags; every feed-derived string escaped with
`html.escape`; only http(s) URLs in href; at most 4096 characters per message counted after
entity parsing in UTF-16 code units; long digests split at story boundaries and numbered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.models import StoredArticle
from bot.taxonomy import Taxonomy

MAX_CHARS = 4096
FLAGS = {"nl": "🇳🇱", "en": "🇬🇧"}
_MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
LABELS = {
    "nl": {"title": "Privacynieuws", "stories": "{n} berichten", "story": "1 bericht",
           "effective": "gaat in op {date}", "also": "ook", "other": "Overig",
           "empty": "Geen nieuw privacynieuws sinds de vorige digest.",
           "alert": "Privacy-alert"},
    "en": {"title": "Privacy news", "stories": "{n} stories", "story": "1 story",
           "effective": "takes effect {date}", "also": "also", "other": "Other",
           "empty": "No new privacy news since the last digest.",
           "alert": "Privacy alert"},
}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Story:
    """One entry in a digest: the lead article and other outlets with the same story."""

    lead: StoredArticle
    others: tuple[StoredArticle, ...] = ()

    @property
    def article_ids(self) -> tuple[int, ...]:
        return (self.lead.id, *(a.id for a in self.others))


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    article_ids: tuple[int, ...]


def visible_length(text: str) -> int:
    """Length as Telegram counts it: tags removed, entities decoded, in UTF-16 code units."""
    plain = html.unescape(_TAG.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Text content: <, > and & escaped (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def link(url: str, text: str) -> str:
    """A linked text; only http(s) URLs become links (shared/telegram.md)."""
    if url.startswith(("http://", "https://")):
        return f'<a href="{html.escape(url, quote=True)}">{escape(text)}</a>'
    return escape(text)


def format_date(day: date, language: str) -> str:
    return f"{day.day} {_MONTHS['en' if language == 'en' else 'nl'][day.month - 1]}"


def story_line(story: Story, *, language: str, feed_titles: dict[str, str] | None = None,
               max_title: int = 300) -> str:
    labels = LABELS[language]
    article, result = story.lead.article, story.lead.classification
    titles = feed_titles or {}
    title = article.title if len(article.title) <= max_title else \
        article.title[:max_title].rsplit(" ", 1)[0] + "…"
    parts = [f"{FLAGS.get(result.language, '🌐')} {link(article.url, title)}"]
    meta = [escape(titles.get(article.feed, article.feed))]
    if result.orgs:
        meta.append(escape(", ".join(result.orgs[:3])))
    if result.effective_date:
        meta.append(escape(labels["effective"].format(
            date=format_date(result.effective_date, language))))
    parts.append(" · ".join(meta))
    line = "• " + " — ".join(parts)
    if story.others:
        others = ", ".join(link(o.article.url, titles.get(o.article.feed, o.article.feed))
                           for o in story.others)
        line += f"\n   <i>{labels['also']}: {others}</i>"
    return line


def group_by_topic(stories: Sequence[Story], taxonomy: Taxonomy,
                   channel_topics: Sequence[str] = ()) -> list[tuple[str | None, list[Story]]]:
    """Each story under its first topic (in taxonomy order) that the channel follows;
    groups ordered by their best story's score, stories by score then date."""
    wanted = [t for t in taxonomy.topics if not channel_topics or t in channel_topics]
    groups: dict[str | None, list[Story]] = {}
    for story in stories:
        topics = story.lead.classification.topics
        primary = next((t for t in wanted if t in topics and not taxonomy.topics[t].structural),
                       None) or next((t for t in wanted if t in topics), None)
        groups.setdefault(primary, []).append(story)
    for items in groups.values():
        items.sort(key=lambda s: (-s.lead.classification.score,
                                  -s.lead.article.published.timestamp()))
    return sorted(groups.items(), key=lambda kv: (kv[0] is None,
                                                  -kv[1][0].lead.classification.score))


def render_digest(stories: Sequence[Story], *, taxonomy: Taxonomy, language: str,
                  now: datetime, timezone: str, channel_topics: Sequence[str] = (),
                  feed_titles: dict[str, str] | None = None, bilingual: bool = False,
                  limit: int = MAX_CHARS) -> list[Message]:
    """The digest as messages of at most `limit` characters, split between stories."""
    labels = LABELS[language]
    local = now.astimezone(ZoneInfo(timezone))
    flags = f"{FLAGS['nl']}{FLAGS['en']} " if bilingual else ""
    count = labels["story"] if len(stories) == 1 else labels["stories"].format(n=len(stories))
    title = f"{flags}🔔 {labels['title']} — {format_date(local.date(), language)} {local.year}"
    blocks: list[tuple[str, str, tuple[int, ...]]] = []  # (group header, line, ids)
    for topic, items in group_by_topic(stories, taxonomy, channel_topics):
        if topic is None:
            header = f"<b>{labels['other']}</b>"
        else:
            spec = taxonomy.topics[topic]
            header = f"<b>{escape(spec.emoji)} {escape(taxonomy.label(topic, language))}</b>"
        for story in items:
            line = story_line(story, language=language, feed_titles=feed_titles)
            blocks.append((header, line, story.article_ids))
    return _pack(title, count, blocks, limit)


def _pack(title: str, count: str, blocks: list[tuple[str, str, tuple[int, ...]]],
          limit: int) -> list[Message]:
    """Fill messages story by story; a topic header is repeated where a group continues."""
    reserve = 12  # room for " (12/12)" in the numbered title
    pages: list[tuple[list[str], list[int]]] = []
    body: list[str] = []
    ids: list[int] = []
    current_header: str | None = None
    for header, line, article_ids in blocks:
        addition = ([f"\n{header}"] if header != current_header else []) + [line]
        candidate = "\n".join([f"<b>{title}</b>", *body, *addition])
        if body and visible_length(candidate) + reserve > limit:
            pages.append((body, ids))
            body, ids = [], []
            addition = [f"\n{header}", line]
        body += addition
        ids += article_ids
        current_header = header
    if body:
        pages.append((body, ids))
    total = len(pages)
    messages = []
    for n, (lines, page_ids) in enumerate(pages, 1):
        numbered = f"{title} ({n}/{total})" if total > 1 else title
        head = [f"<b>{numbered}</b>"] + ([f"<i>{escape(count)}</i>"] if n == 1 else [])
        text = "\n".join(head + lines)
        if visible_length(text) > limit:  # one story longer than a message: cut its text
            text = _hard_cut(text, limit)
        messages.append(Message(text=text, article_ids=tuple(page_ids)))
    return messages


def _hard_cut(text: str, limit: int) -> str:
    plain = html.unescape(_TAG.sub("", text))
    return escape(plain[: limit - 1]) + "…"


def render_alert(article: StoredArticle, *, taxonomy: Taxonomy, language: str,
                 feed_titles: dict[str, str] | None = None) -> Message:
    """One story posted at once, with its topics."""
    labels = LABELS[language]
    topics = ", ".join(escape(taxonomy.label(t, language))
                       for t in article.classification.topics)
    line = story_line(Story(article), language=language, feed_titles=feed_titles)
    text = f"<b>⚡ {labels['alert']}</b>" + (f" · <i>{topics}</i>" if topics else "") + \
        f"\n{line}"
    if visible_length(text) > MAX_CHARS:
        text = _hard_cut(text, MAX_CHARS)
    return Message(text=text, article_ids=(article.id,))


def render_empty(language: str) -> Message:
    return Message(text=escape(LABELS[language]["empty"]), article_ids=())


def plain_text(text: str) -> str:
    """An HTML message as plain text: the fallback when Telegram cannot parse it."""
    with_links = re.sub(r'<a href="([^"]*)">(.*?)</a>',
                        lambda m: f"{m.group(2)} ({html.unescape(m.group(1))})", text)
    return html.unescape(_TAG.sub("", with_links))

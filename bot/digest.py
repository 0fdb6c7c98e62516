"""Render digests and alerts as Telegram HTML (pure: data in, message texts out).

A digest, for a Dutch channel that reads both languages:

    🇳🇱🇬🇧 🔔 Privacynieuws — 29 november 2026
    24 berichten

    🧬 Biometrie
    • 🇳🇱 X past privacybeleid aan ... — Tweakers · X · gaat in op 1 januari 2027
       ook: 🇬🇧 The Verge

Stories (bot/cluster.py groups the articles) sit under one topic each; groups and stories are
ordered by importance: the classifier's score, plus a little for each extra outlet. Headers,
labels and dates are in the channel's language.

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
MAX_ALSO = 6          # other outlets named on a story's "also" line
FLAGS = {"nl": "🇳🇱", "en": "🇬🇧"}
_MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
LABELS = {
    "nl": {"title": "Privacynieuws", "stories": "{n} berichten", "story": "1 bericht",
           "effective": "gaat in op {date}", "effective_past": "geldt sinds {date}",
           "also": "ook", "more": "en {n} andere", "other": "Overig",
           "empty": "Geen nieuw privacynieuws sinds de vorige digest.",
           "alert": "Privacy-alert"},
    "en": {"title": "Privacy news", "stories": "{n} stories", "story": "1 story",
           "effective": "takes effect {date}", "effective_past": "in effect since {date}",
           "also": "also", "more": "and {n} more", "other": "Other",
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

    @property
    def articles(self) -> tuple[StoredArticle, ...]:
        return (self.lead, *self.others)

    @property
    def importance(self) -> float:
        """The best score, plus half a point per other outlet (up to 3): a story many
        outlets carry goes first."""
        best = max(a.classification.score for a in self.articles)
        outlets = {a.article.feed for a in self.articles}
        return best + 0.5 * min(len(outlets) - 1, 3)


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    article_ids: tuple[int, ...]


def make_stories(clusters: Sequence[Sequence[StoredArticle]], *, language: str) -> list[Story]:
    """A story per cluster; its lead is in the channel's language where one is, else the
    best scored; the others follow by publication time."""
    stories = []
    for members in clusters:
        ranked = sorted(members, key=lambda a: (a.classification.language != language,
                                                -a.classification.score,
                                                a.article.published, a.id))
        others = sorted(ranked[1:], key=lambda a: (a.article.published, a.id))
        stories.append(Story(ranked[0], tuple(others)))
    return stories


def visible_length(text: str) -> int:
    """Length as Telegram counts it: tags removed, entities decoded, in UTF-16 code units."""
    return _utf16(visible_text(text))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_text(text: str) -> str:
    """What a chat shows of an HTML message: the text without tags, entities decoded."""
    return html.unescape(_TAG.sub("", text))


def escape(text: str) -> str:
    """Text content: <, > and & escaped (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def link(url: str, text: str) -> str:
    """A linked text; only http(s) URLs become links (shared/telegram.md)."""
    if url.startswith(("http://", "https://")):
        return f'<a href="{html.escape(url, quote=True)}">{escape(text)}</a>'
    return escape(text)


def format_date(day: date, language: str) -> str:
    """'29 september' / '29 September' (no year)."""
    return f"{day.day} {_MONTHS['en' if language == 'en' else 'nl'][day.month - 1]}"


def effective_phrase(day: date, language: str, today: date | None = None) -> str:
    """'gaat in op 29 september' / 'takes effect 29 September'; the year when it is not this
    year's; 'geldt sinds' / 'in effect since' for a date that has passed."""
    labels = LABELS[language]
    when = format_date(day, language)
    if today is not None and day.year != today.year:
        when += f" {day.year}"
    key = "effective_past" if today is not None and day < today else "effective"
    return labels[key].format(date=when)


def _title(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def story_line(story: Story, *, language: str, max_title: int = 300,
               today: date | None = None) -> str:
    """'• 🇳🇱 <linked headline> — source · organisation · effective date', and a second line
    with every other outlet linked ('ook: NOS, 🇬🇧 The Verge')."""
    labels = LABELS[language]
    article, result = story.lead.article, story.lead.classification
    headline = link(article.url, _title(article.title, max_title))
    parts = [f"{FLAGS.get(result.language, '🌐')} {headline}"]
    meta = [escape(article.feed)]
    names = list(dict.fromkeys((*result.orgs, *result.regulators)))
    if names:
        meta.append(escape(", ".join(names[:2])))
    effective = result.effective_date or next(
        (o.classification.effective_date for o in story.others
         if o.classification.effective_date), None)
    if effective:
        meta.append(escape(effective_phrase(effective, language, today)))
    parts.append(" · ".join(meta))
    line = "• " + " — ".join(parts)
    others = _other_outlets(story)
    if others:
        shown = [(f"{FLAGS[lang]} " if lang != result.language and lang in FLAGS else "")
                 + link(url, name) for name, url, lang in others[:MAX_ALSO]]
        if len(others) > MAX_ALSO:
            shown.append(escape(labels["more"].format(n=len(others) - MAX_ALSO)))
        line += f"\n   <i>{labels['also']}: {', '.join(shown)}</i>"
    return line


def _other_outlets(story: Story) -> list[tuple[str, str, str]]:
    """(outlet name, link, language) of each other outlet, once per outlet."""
    seen = {story.lead.article.feed}
    out = []
    for other in story.others:
        if other.article.feed in seen:
            continue
        seen.add(other.article.feed)
        out.append((other.article.feed, other.article.url, other.classification.language))
    return out


def primary_topic(story: Story, wanted: Sequence[str], taxonomy: Taxonomy) -> str | None:
    """The topic a story is listed under: one the channel follows, about the kind of data
    rather than the kind of act where it has one; the one its headline names, else the one
    with most matched terms, else the first in taxonomy order."""
    topics = story.lead.classification.topics
    candidates = [t for t in wanted if t in topics]
    if not candidates:
        return None
    specific = [t for t in candidates if not taxonomy.topics[t].structural] or candidates
    title = story.lead.article.title.lower()
    matches = story.lead.classification.matches

    def weight(topic: str) -> tuple[int, int]:
        terms = matches.get(topic, ())
        return (int(any(term.lower() in title for term in terms)), len(terms))

    return max(specific, key=lambda t: (weight(t), -specific.index(t)))


def group_by_topic(stories: Sequence[Story], taxonomy: Taxonomy,
                   channel_topics: Sequence[str] = ()) -> list[tuple[str | None, list[Story]]]:
    """Each story under one topic the channel follows (`primary_topic`); groups ordered by
    their most important story, stories by importance then date, 'Other' last."""
    wanted = [t for t in taxonomy.topics if not channel_topics or t in channel_topics]
    groups: dict[str | None, list[Story]] = {}
    for story in stories:
        groups.setdefault(primary_topic(story, wanted, taxonomy), []).append(story)
    for items in groups.values():
        items.sort(key=lambda s: (-s.importance, -s.lead.article.published.timestamp(),
                                  s.lead.id))
    return sorted(groups.items(), key=lambda kv: (kv[0] is None, -kv[1][0].importance,
                                                  kv[0] or ""))


def digest_title(*, language: str, now: datetime, timezone: str, bilingual: bool,
                 with_time: bool = False) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    flags = f"{FLAGS['nl']}{FLAGS['en']} " if bilingual else ""
    when = f"{format_date(local.date(), language)} {local.year}"
    if with_time:
        when += f", {local:%H:%M}"
    return f"{flags}🔔 {LABELS[language]['title']} — {when}"


def render_digest(stories: Sequence[Story], *, taxonomy: Taxonomy, language: str,
                  now: datetime, timezone: str, channel_topics: Sequence[str] = (),
                  bilingual: bool = False,
                  with_time: bool = False, limit: int = MAX_CHARS) -> list[Message]:
    """The digest as messages of at most `limit` characters, split between stories."""
    labels = LABELS[language]
    today = now.astimezone(ZoneInfo(timezone)).date()
    count = labels["story"] if len(stories) == 1 else labels["stories"].format(n=len(stories))
    title = escape(digest_title(language=language, now=now, timezone=timezone,
                                bilingual=bilingual, with_time=with_time))
    blocks: list[tuple[str, str, tuple[int, ...]]] = []  # (group header, line, ids)
    for topic, items in group_by_topic(stories, taxonomy, channel_topics):
        if topic is None:
            header = f"<b>{labels['other']}</b>"
        else:
            spec = taxonomy.topics[topic]
            header = f"<b>{escape(spec.emoji)} {escape(taxonomy.label(topic, language))}</b>"
        for story in items:
            line = story_line(story, language=language, today=today)
            blocks.append((header, line, story.article_ids))
    return _pack(title, escape(count), blocks, limit)


def _pack(title: str, count: str, blocks: Sequence[tuple[str, str, tuple[int, ...]]],
          limit: int) -> list[Message]:
    """Fill messages story by story; a topic header is repeated where a group continues on
    the next message. Lengths add up: each line adds its own length plus a newline."""
    reserve = _utf16(" (99/99)") + visible_length(f"<b>{title}</b>\n{count}")
    pages: list[tuple[list[str], list[int]]] = []
    body: list[str] = []
    ids: list[int] = []
    used = reserve
    current_header: str | None = None
    for header, line, article_ids in blocks:
        addition = ([f"\n{header}"] if header != current_header else []) + [line]
        size = sum(visible_length(part) + 1 for part in addition)
        if body and used + size > limit:
            pages.append((body, ids))
            body, ids = [], []
            addition = [f"\n{header}", line]
            size = sum(visible_length(part) + 1 for part in addition)
            used = reserve
        body += addition
        ids += article_ids
        used += size
        current_header = header
    if body:
        pages.append((body, ids))
    total = len(pages)
    messages = []
    for n, (lines, page_ids) in enumerate(pages, 1):
        numbered = f"{title} ({n}/{total})" if total > 1 else title
        head = [f"<b>{numbered}</b>"] + ([f"<i>{count}</i>"] if n == 1 else [])
        text = "\n".join(head + lines)
        if visible_length(text) > limit:  # one story longer than a message: cut its text
            text = _hard_cut(text, limit)
        messages.append(Message(text=text, article_ids=tuple(page_ids)))
    return messages


def _hard_cut(text: str, limit: int) -> str:
    plain = visible_text(text)
    while _utf16(plain) > limit - 1:
        plain = plain[: -max(1, (_utf16(plain) - limit + 1) // 2)]
    return escape(plain) + "…"


def render_alert(story: Story | StoredArticle, *, taxonomy: Taxonomy, language: str,
                 today: date | None = None) -> Message:
    """One story posted at once, with its topics."""
    if not isinstance(story, Story):
        story = Story(story)
    labels = LABELS[language]
    topics = ", ".join(f"{escape(taxonomy.topics[t].emoji)} {escape(taxonomy.label(t, language))}"
                       for t in story.lead.classification.topics if t in taxonomy.topics)
    line = story_line(story, language=language, today=today)
    text = f"<b>⚡ {labels['alert']}</b>" + (f" · <i>{topics}</i>" if topics else "") + \
        f"\n{line}"
    if visible_length(text) > MAX_CHARS:
        text = _hard_cut(text, MAX_CHARS)
    return Message(text=text, article_ids=story.article_ids)


def render_empty(language: str) -> Message:
    return Message(text=escape(LABELS[language]["empty"]), article_ids=())


def plain_text(text: str) -> str:
    """An HTML message as plain text: the fallback when Telegram cannot parse it. Links keep
    their address in brackets. Entities are decoded once, for the address as for the text
    (`&amp;copy=2` is `&copy=2`, not `©=2`)."""
    with_links = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 (\1)", text, flags=re.S)
    return visible_text(with_links)


def plain_parts(text: str, limit: int = MAX_CHARS) -> list[str]:
    """The plain-text fallback in parts of at most `limit` UTF-16 units, cut between lines
    (a single longer line is cut where it must): nothing of the message is dropped. A part
    with nothing visible is no part (Telegram refuses an empty message): [] when the whole
    message shows nothing."""
    parts: list[str] = []
    current = ""
    for line in plain_text(text).split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _utf16(candidate) <= limit:
            current = candidate
            continue
        parts.append(current)
        while _utf16(line) > limit:
            cut = limit
            while _utf16(line[:cut]) > limit:
                cut -= 1
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    parts.append(current)
    return [part for part in parts if part.strip()]

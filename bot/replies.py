"""The bot's longer answers rendered as Telegram HTML (pure: data in, text out).

Article lists reuse the digest's story line; every value from a feed or a user is escaped
(digest.escape) and every answer stays within Telegram's 4096 characters.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.chats import digest_off, timezone_of
from bot.config import Config
from bot.digest import (
    FLAGS,
    MAX_CHARS,
    Story,
    escape,
    format_date,
    link,
    story_line,
    visible_length,
)
from bot.i18n import text
from bot.models import ChatSettings, StoredArticle
from bot.taxonomy import Taxonomy


def topic_names(topics: Sequence[str], taxonomy: Taxonomy, language: str) -> str:
    if list(topics) == list(taxonomy.topics):
        return text(language, "all")
    return ", ".join(f"{escape(taxonomy.topics[t].emoji)} {escape(taxonomy.label(t, language))}"
                     if t in taxonomy.topics else escape(t) for t in topics)


def topic_ids(taxonomy: Taxonomy) -> str:
    return ", ".join(f"<code>{escape(t)}</code>" for t in taxonomy.topics)


def chat_state(settings: ChatSettings | None, config: Config, language: str) -> str:
    if settings is None or not settings.subscribed:
        return text(language, "state_none")
    state = text(language, "state_on",
                 topics=topic_names(settings.topics, config.taxonomy, language),
                 languages=" ".join(FLAGS[lang] for lang in settings.languages),
                 digest=escape(settings.digest),
                 timezone=escape(timezone_of(settings, config)))
    if digest_off(settings):
        state += "\n" + text(language, "state_paused")
    return state


def article_list(title: str, articles: Sequence[StoredArticle], *, language: str) -> str:
    """A title and one line per article with its number for /why; cut to fit one message."""
    out = title
    for article in articles:
        line = f"{story_line(Story(article), language=language)} · <code>#{article.id}</code>"
        if visible_length(f"{out}\n{line}") > MAX_CHARS - 10:
            out += "\n…"
            break
        out += "\n" + line
    return out


def explanation(stored: StoredArticle, taxonomy: Taxonomy, language: str) -> str:
    """/why: the article, its score, its topics with the terms that fired, and the cues."""
    article, result = stored.article, stored.classification
    lines = [f"<b>{link(article.url, article.title)}</b>",
             f"{escape(article.feed)} · {FLAGS.get(result.language, '🌐')} · "
             f"{format_date(article.published.date(), language)} {article.published.year} · "
             f"<code>#{stored.id}</code>",
             text(language, "why_relevant" if result.relevant else "why_irrelevant",
                  score=f"{result.score:g}")]
    topics = [f"{escape(taxonomy.topics[t].emoji)} {escape(taxonomy.label(t, language))}"
              + _terms(result.matches.get(t, ())) if t in taxonomy.topics else escape(t)
              for t in result.topics]
    lines.append(f"<b>{text(language, 'why_topics')}</b>: "
                 + ("; ".join(topics) or text(language, "why_none")))
    cues = result.matches.get("relevance", ())
    lines.append(f"<b>{text(language, 'why_cues')}</b>: "
                 + (escape("; ".join(cues)) or text(language, "why_none")))
    against = result.matches.get("against", ())
    if against:
        lines.append(f"<b>{text(language, 'why_against')}</b>: {escape('; '.join(against))}")
    named = [*result.orgs, *result.regulators, *result.laws]
    if named:
        lines.append(f"<b>{text(language, 'why_entities')}</b>: {escape(', '.join(named))}")
    if result.effective_date:
        lines.append(text(language, "why_effective",
                          date=f"{format_date(result.effective_date, language)} "
                               f"{result.effective_date.year}"))
    return _fit("\n".join(lines))


def _terms(terms: Sequence[str]) -> str:
    return f" ({escape(', '.join(terms))})" if terms else ""


def feed_list(config: Config, language: str) -> str:
    lines = [text(language, "feeds_title", count=len(config.feeds))]
    for feed in config.feeds:
        flag = FLAGS.get(feed.language or "", "🌐")
        off = f" · <i>{text(language, 'feed_disabled')}</i>" if not feed.enabled else ""
        minutes = int(feed.interval.total_seconds() // 60)
        lines.append(f"{flag} {link(feed.url, feed.name)} · {minutes} min{off}")
    return _fit("\n".join(lines))


def preformatted(plain: str) -> str:
    """Plain text (the `status` table) in a <pre> block, cut to fit one message."""
    budget = MAX_CHARS - 20
    if len(plain) > budget:
        plain = plain[:budget].rsplit("\n", 1)[0] + "\n…"
    return f"<pre>{escape(plain)}</pre>"


def _fit(html_text: str) -> str:
    """Drop whole lines from the end until the answer fits in one message."""
    lines, tail = html_text.split("\n"), list[str]()
    while len(lines) > 1 and visible_length("\n".join([*lines, *tail])) > MAX_CHARS:
        lines.pop()
        tail = ["…"]
    return "\n".join([*lines, *tail])

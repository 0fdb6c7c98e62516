"""Feed bytes -> normalised Articles (pure; a FeedParserDict never leaves this module).

feedparser gets the raw bytes and the response headers, never a URL or a str: given a str
it may open a local file or the network (shared/fetching.md). One bad entry is skipped with
a warning; a feed fails only when nothing usable is in it (lemon24/reader does the same).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from selectolax.lexbor import LexborHTMLParser
from w3lib.url import canonicalize_url, url_query_cleaner

from bot import parse_speedups
from bot.dates import parse_feed_date, sane_published
from bot.errors import ParseError
from bot.models import Article

log = logging.getLogger(__name__)

SUMMARY_CHARS = 1200  # enough for classification and a digest line; feeds send whole articles
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|igshid|ref_src|cmpid|ocid)$")
_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[A-Za-z!/?]")
_SIMPLE_TAGS = re.compile(
    r"</?(?:p|br|b|i|em|strong|u|s|span|div|a|small|sub|sup|li|ul|ol|blockquote|h[1-6]|img"
    r"|figure|figcaption|hr|abbr|cite|code|q|mark|time)"
    r"(?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>=`]+))?)*"
    r"\s*/?>", re.I)
_ABSOLUTE = re.compile(r"https?://[^/?#\s]", re.I)


@dataclass(frozen=True)
class ParsedFeed:
    articles: list[Article]
    title: str = ""
    language: str | None = None
    ttl_minutes: int | None = None
    warnings: list[str] = field(default_factory=list)


def parse_feed(body: bytes, *, feed: str, url: str, headers: Mapping[str, str] | None = None,
               fetched: datetime, language: str | None = None) -> ParsedFeed:
    """Parse one fetched feed. Raises ParseError when the body holds no feed at all."""
    if not body.strip():
        raise ParseError("empty body: the server sent no feed")
    parse_speedups.install()  # the same result; measured, 0.49 of the time per feed
    parsed = feedparser.parse(io.BytesIO(body), response_headers=dict(headers or {}),
                              sanitize_html=False, resolve_relative_uris=False)
    warnings = []
    if parsed.bozo:
        warnings.append(f"malformed feed: {_bozo_message(parsed.bozo_exception)}")
    if not parsed.version and not parsed.entries:
        if _looks_like_html(body):
            alternate = find_feed_link(body, url)
            hint = f"; the page names a feed: use {alternate}" if alternate else ""
            raise ParseError(f"an HTML page, not a feed{hint}")
        reason = _bozo_message(parsed.bozo_exception) if parsed.bozo else "no feed found"
        raise ParseError(f"not a feed: {reason}")
    meta = parsed.feed
    feed_language = meta.get("language") or None
    articles: list[Article] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        try:
            article = _article(entry, feed=feed, base=url, fetched=fetched,
                               configured=language, feed_language=feed_language)
        except ValueError as exc:
            warnings.append(f"skipped an entry: {exc}")
            continue
        if article.guid in seen:
            continue
        seen.add(article.guid)
        articles.append(article)
    return ParsedFeed(articles=articles, title=to_text(meta.get("title", "")),
                      language=language or feed_language, ttl_minutes=_ttl(meta.get("ttl")),
                      warnings=warnings)


def _ttl(value: object) -> int | None:
    """RSS <ttl> in minutes: ASCII digits only ('²' is a digit to str.isdigit, not to int).
    An absurdly long number becomes 10**18 (it fits SQLite's integers; fetch.py caps the
    wait at 24 h) rather than going past int()'s limit on digits."""
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        return None
    return int(value) if len(value) <= 18 else 10**18


def _article(entry: Any, *, feed: str, base: str, fetched: datetime,
             configured: str | None, feed_language: str | None) -> Article:
    title = _field_text(entry, "title")
    summary = _summary(entry)
    link = clean_url(entry.get("link", ""), base)
    guid = str(entry.get("id") or "").strip() or link
    if not title and not summary:
        raise ValueError(f"entry {guid or '?'} has no title and no summary")
    if not guid:
        guid = "sha1:" + hashlib.sha1(f"{title}\n{summary}".encode()).hexdigest()
    # README: a language set in the config is trusted, over what the entry says (its
    # xml:lang, or feedparser's default from the Content-Language header) and the feed's own
    entry_language = (dict.get(entry, "title_detail") or {}).get("language")
    return Article(feed=feed, guid=guid[:1000], url=link, title=title[:500], summary=summary,
                   published=sane_published(_published(entry), fetched),
                   language=configured or entry_language or feed_language,
                   author=to_text(entry.get("author", ""))[:200])


def _published(entry: Any) -> datetime | None:
    # dict.get: feedparser's own lookup maps updated* to published* with a DeprecationWarning
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    for key in ("published", "updated", "created"):
        found = parse_feed_date(dict.get(entry, key))
        if found:
            return found
    return None


def _field_text(entry: Any, key: str) -> str:
    # dict.get: FeedParserDict's own lookup maps legacy key names, slowly, on every access
    detail = dict.get(entry, f"{key}_detail") or {}
    value = dict.get(entry, key) or ""
    if detail.get("type") == "text/plain" and not _TAG.search(value):
        return _SPACE.sub(" ", value).strip()
    # HTML, or "plain text" that carries tags anyway (an escaped <script> in a title):
    # stored and posted as plain text, never as markup
    return to_text(value)


def _summary(entry: Any) -> str:
    text = _field_text(entry, "summary")
    if not text:
        for content in entry.get("content", ()):
            text = to_text(content.get("value", ""))
            if text:
                break
    return shorten(text, SUMMARY_CHARS)


def to_text(html: str) -> str:
    """Markup to plain text: tags, scripts and styles gone, entities decoded, spaces folded."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return _SPACE.sub(" ", html).strip()
    # Most summaries are a paragraph with inline tags: taken out by a regex, the text is the
    # same as lexbor's, 20x faster. Anything else (scripts, comments, odd '<') goes to lexbor.
    simple = _SIMPLE_TAGS.sub(" ", html)
    if "<" not in simple:
        return _SPACE.sub(" ", unescape(simple)).strip()
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript", "iframe", "object", "embed", "template"])
    root = tree.body or tree.root
    text = root.text(separator=" ") if root else ""
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


# http(s), a plain host, a non-empty path of unreserved characters without "." or ".."
# segments, no query, fragment, port or escapes: canonicalize_url returns these unchanged but
# for case (tests/test_parse.py compares the two on generated URLs), and it is otherwise the
# slowest step of parsing an entry.
_PLAIN_URL = re.compile(r"(?i:https?)://[A-Za-z0-9.-]+(?!.*/\.\.?(?:/|$))/[A-Za-z0-9._~/-]*")


def clean_url(url: str, base: str = "") -> str:
    """Absolute, http(s) only, tracking parameters removed, canonical form; else ''."""
    url = (url or "").strip()
    if not url:
        return ""
    if base and not _ABSOLUTE.match(url):  # an absolute URL comes out of urljoin the same
        url = urljoin(base, url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return ""
    if _PLAIN_URL.fullmatch(url):  # most article links: w3lib would only lowercase scheme and host
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    if parts.query:
        keys = (part.split("=", 1)[0] for part in parts.query.split("&") if part)
        params = [k for k in keys if _TRACKING.match(k)]
        if params:
            url = url_query_cleaner(url, params, remove=True)
    return canonicalize_url(url)


def find_feed_link(body: bytes, base: str) -> str | None:
    """The feed an HTML page announces with <link rel="alternate" type="application/rss+xml">."""
    try:
        tree = LexborHTMLParser(body.decode("utf-8", "replace"))
    except Exception:
        return None
    for node in tree.css("link[rel~=alternate]"):
        kind = (node.attributes.get("type") or "").lower()
        href = node.attributes.get("href")
        if href and ("rss" in kind or "atom" in kind or "feed" in kind):
            return urljoin(base, href)
    return None


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _bozo_message(exc: object) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]

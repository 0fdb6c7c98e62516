"""Articles for delivery tests, built in one line: `story("X past privacybeleid aan", ...)`.

`story` gives a StoredArticle for the pure functions (cluster, digest); `add` stores built
articles in a real SQLite store and returns them as the store gives them back.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.models import Article, Classification, StoredArticle
from bot.store import Store

NOW = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
_ids = itertools.count(1)


def story(title: str, *, feed: str = "Tweakers", language: str = "nl",
          topics: Sequence[str] = ("biometrics",), score: float = 8.0,
          orgs: Sequence[str] = (), regulators: Sequence[str] = (), laws: Sequence[str] = (),
          effective: date | None = None, published: datetime | None = None,
          url: str | None = None, summary: str = "", article_id: int | None = None,
          matches: dict[str, tuple[str, ...]] | None = None) -> StoredArticle:
    number = article_id or next(_ids)
    published = published or NOW - timedelta(hours=3)
    article = Article(feed=feed, guid=f"guid-{number}-{title[:20]}",
                      url=url or f"https://{feed.lower().replace(' ', '')}.example/{number}",
                      title=title, summary=summary, published=published, language=language)
    result = Classification(language=language, relevant=True, score=score,
                            topics=tuple(topics), matches=matches or {}, orgs=tuple(orgs),
                            regulators=tuple(regulators), laws=tuple(laws),
                            effective_date=effective)
    return StoredArticle(id=number, article=article, classification=result, fetched=published)


def add(store: Store, *items: StoredArticle) -> list[StoredArticle]:
    """Store the articles (new ids) and read them back."""
    ids = store.add_articles([(a.article, a.classification) for a in items], NOW)
    assert all(i is not None for i in ids), "each built article is new"
    return store.articles([i for i in ids if i is not None])


def channel(**values: Any) -> dict[str, Any]:
    """A channel entry for feeds.yaml with the test defaults."""
    return {"name": "main", "chat": "@privacy_alerts", "max_age": 0, **values}

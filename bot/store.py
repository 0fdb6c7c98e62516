"""SQLite storage (sqlite-utils, WAL): the only module that writes SQL.

Tables: feeds (with fetch state), articles (with FTS5 on title and summary), tags, outbox
(messages to send, in order), deliveries (article x channel x message id), channels
(chat id after migration, blocked state). The schema grows by numbered migrations recorded in
`PRAGMA user_version`. Rows never leave this module: callers get dataclasses.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from bot.models import (
    Article,
    ChatSettings,
    Classification,
    FeedState,
    OutboxMessage,
    StoredArticle,
)

T = TypeVar("T")


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="seconds") if dt else None


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.table("feeds").create({
        "name": str, "url": str, "fetch_url": str, "etag": str, "last_modified": str,
        "last_status": str, "last_error": str, "last_fetch": str, "last_success": str,
        "failures": int, "next_due": str, "retry_after_until": str, "disabled": int,
        "disabled_reason": str, "in_config": int,
    }, pk="name", defaults={"failures": 0, "disabled": 0, "in_config": 1},
        not_null={"url", "fetch_url"})
    db.table("articles").create({
        "id": int, "feed": str, "guid": str, "url": str, "title": str, "summary": str,
        "published": str, "fetched": str, "language": str, "relevant": int, "score": float,
        "topics": str, "matches": str, "orgs": str, "regulators": str, "laws": str,
        "effective_date": str,
    }, pk="id", not_null={"feed", "guid", "title", "published", "fetched"})
    db.table("articles").create_index(["feed", "guid"], unique=True)
    db.table("articles").create_index(["url"])
    db.table("articles").create_index(["relevant", "published"])
    db.table("articles").enable_fts(["title", "summary"], create_triggers=True,
                              tokenize="unicode61 remove_diacritics 2")
    db.table("tags").create({"article_id": int, "topic": str}, pk=("article_id", "topic"),
                      foreign_keys=[("article_id", "articles", "id")])
    db.table("tags").create_index(["topic"])
    db.table("outbox").create({
        "id": int, "channel": str, "chat": str, "kind": str, "text": str, "article_ids": str,
        "created": str, "status": str, "attempts": int, "not_before": str, "message_id": int,
        "sent_at": str, "error": str,
    }, pk="id", defaults={"status": "pending", "attempts": 0})
    db.table("outbox").create_index(["status", "channel", "id"])
    db.table("deliveries").create({
        "article_id": int, "channel": str, "outbox_id": int, "message_id": int,
        "delivered_at": str,
    }, pk=("article_id", "channel"), foreign_keys=[("article_id", "articles", "id")])
    db.table("channels").create({
        "name": str, "chat": str, "blocked": int, "blocked_reason": str, "last_digest": str,
    }, pk="name", defaults={"blocked": 0})


def _m2_chats(db: sqlite_utils.Database) -> None:
    """Per-chat settings made with the bot commands: only the chat id and its settings."""
    db.table("chats").create({
        "chat_id": int, "topics": str, "languages": str, "digest": str, "ui_language": str,
    }, pk="chat_id", not_null={"topics", "languages", "digest"})


def _m3_feed_warning(db: sqlite_utils.Database) -> None:
    """What was wrong with the last feed that still parsed (malformed XML, skipped entries)."""
    db.table("feeds").add_column("last_warning", str)


def _m4_delivery(db: sqlite_utils.Database) -> None:
    """Delivery state per channel: since when it is blocked, when to try it again, and the
    chat a group was migrated from (so a changed config still wins)."""
    for column in ("blocked_since", "retry_at", "moved_from"):
        db.table("channels").add_column(column, str)


def _m5_fts_in_batches(db: sqlite_utils.Database) -> None:
    """New articles are indexed for full-text search by add_articles, one statement per
    batch, instead of by a trigger per row: a third less time to store a first round."""
    db.execute("DROP TRIGGER IF EXISTS articles_ai")


def _m6_feed_ttl(db: sqlite_utils.Database) -> None:
    """The feed's RSS <ttl> (minutes), so that it still counts after a 304, which has no
    body to read it from (fetching.md: honour <ttl>)."""
    db.table("feeds").add_column("ttl_minutes", int)


def _m7_outbox_parts(db: sqlite_utils.Database) -> None:
    """A message sent as plain text in parts (Telegram could not take its HTML): the parts
    and how many went out, so a later round goes on where it stopped instead of sending the
    first parts again."""
    db.table("outbox").add_column("parts", str)
    db.table("outbox").add_column("parts_sent", int)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1_initial, _m2_chats,
                                                             _m3_feed_warning, _m4_delivery,
                                                             _m5_fts_in_batches, _m6_feed_ttl,
                                                             _m7_outbox_parts]


class Store:
    """One SQLite file. Thread-safe: the service's loop and its worker thread share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30,
                               isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoint, fast
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def _migrate(self) -> None:
        with self._lock:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                with self.transaction():
                    migration(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT: all or nothing, even if the process dies midway."""
        with self._lock:
            conn = self.db.conn
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()

    # ------------------------------------------------------------------ feeds

    def sync_feeds(self, feeds: Iterable[tuple[str, str]]) -> None:
        """Make the feeds table match the config: new feeds, changed URLs, removed feeds."""
        with self.transaction():
            rows = {r["name"]: r for r in self.db.table("feeds").rows}
            names = set()
            new: list[tuple[str, str, str]] = []
            for name, url in feeds:
                names.add(name)
                row = rows.get(name)
                if row is None:
                    new.append((name, url, url))
                elif row["url"] != url:  # the user changed the URL: start afresh
                    self.db.table("feeds").update(name, {
                        "url": url, "fetch_url": url, "etag": None, "last_modified": None,
                        "failures": 0, "disabled": 0, "disabled_reason": None,
                        "retry_after_until": None, "next_due": None, "ttl_minutes": None,
                        "in_config": 1})
                elif not row["in_config"]:
                    self.db.table("feeds").update(name, {"in_config": 1})
            for name, row in rows.items():
                if row["in_config"] and name not in names:
                    self.db.table("feeds").update(name, {"in_config": 0})
            # plain SQL: a first run may add thousands of feeds at once
            self.db.conn.executemany("INSERT INTO feeds (name, url, fetch_url) VALUES (?,?,?)",
                                     new)

    def _feed_row(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db.table("feeds").rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def feed_states(self, *, configured_only: bool = True,
                    with_counts: bool = True) -> list[FeedState]:
        """Every feed's state, by name; `articles` is counted only `with_counts`."""
        def read() -> list[FeedState]:
            where = "in_config = 1" if configured_only else None
            counts = dict(self.db.execute(
                "SELECT feed, count(*) FROM articles GROUP BY feed").fetchall()) \
                if with_counts else {}
            return [_feed_state(row, counts.get(row["name"], 0))
                    for row in self.db.table("feeds").rows_where(where, order_by="name")]
        return self._read(read)

    def feed_state(self, name: str) -> FeedState | None:
        def read() -> FeedState | None:
            row = self._feed_row(name)
            if row is None:
                return None
            count = self.db.execute("SELECT count(*) FROM articles WHERE feed = ?",
                                    [name]).fetchone()[0]
            return _feed_state(row, count)
        return self._read(read)

    def save_feed_state(self, state: FeedState) -> None:
        # plain SQL, not Table.update: it runs after every fetch, and sqlite-utils looks up
        # the table's schema on each call
        with self.transaction():
            self.db.conn.execute(
                "UPDATE feeds SET fetch_url = ?, etag = ?, last_modified = ?, last_status = ?,"
                " last_error = ?, last_warning = ?, last_fetch = ?, last_success = ?,"
                " failures = ?, next_due = ?, retry_after_until = ?, disabled = ?,"
                " disabled_reason = ?, ttl_minutes = ? WHERE name = ?",
                [state.fetch_url, state.etag, state.last_modified, state.last_status,
                 state.last_error, state.last_warning, iso(state.last_fetch),
                 iso(state.last_success), state.failures, iso(state.next_due),
                 iso(state.retry_after_until), int(state.disabled), state.disabled_reason,
                 state.ttl_minutes, state.name])

    def save_fetch(self, state: FeedState, items: Sequence[tuple[Article, Classification]],
                   fetched: datetime) -> list[int | None]:
        """A fetch's new articles and the feed's new state, in one transaction: a crash
        leaves neither articles without the state that says they were fetched, nor the
        reverse. Returns add_articles' ids."""
        with self.transaction():
            ids = self.add_articles(items, fetched)
            self.save_feed_state(state)
        return ids

    def save_fetches(self, fetches: Sequence[tuple[FeedState, Sequence[tuple[Article,
                     Classification]], datetime]]) -> list[list[int | None]]:
        """Several save_fetch in one transaction (one commit for a batch of feeds)."""
        with self.transaction():
            return [self.save_fetch(state, items, fetched) for state, items, fetched in fetches]

    def set_next_due(self, times: Mapping[str, datetime]) -> None:
        with self.transaction():
            self.db.conn.executemany("UPDATE feeds SET next_due = ? WHERE name = ?",
                                     [(iso(when), name) for name, when in times.items()])

    # ------------------------------------------------------------------ articles

    def known_guids(self, feed: str, guids: Sequence[str]) -> set[str]:
        def read() -> set[str]:
            found: set[str] = set()
            for chunk in _chunks(list(guids), 500):
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in self.db.execute(
                    f"SELECT guid FROM articles WHERE feed = ? AND guid IN ({marks})",
                    [feed, *chunk]).fetchall())
            return found
        return self._read(read)

    def known_urls(self, urls: Sequence[str]) -> set[str]:
        """The URLs some stored article (of any feed) has: add_articles skips those."""
        def read() -> set[str]:
            found: set[str] = set()
            for chunk in _chunks([u for u in urls if u], 500):
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in self.db.execute(
                    f"SELECT url FROM articles WHERE url IN ({marks})", chunk).fetchall())
            return found
        return self._read(read)

    def add_articles(self, items: Sequence[tuple[Article, Classification]],
                     fetched: datetime) -> list[int | None]:
        """Store new articles; one already stored (same feed+guid, or same URL) is skipped.
        Returns the new id per item, None where it was skipped."""
        if not items:
            return []
        with self.transaction():
            urls = [a.url for a, _ in items if a.url]
            seen_urls: set[str] = set()
            for chunk in _chunks(urls, 500):
                marks = ",".join("?" * len(chunk))
                seen_urls.update(r[0] for r in self.db.execute(
                    f"SELECT url FROM articles WHERE url IN ({marks})", chunk).fetchall())
            ids: list[int | None] = []
            tags: list[tuple[int, str]] = []
            insert, conn, when = _INSERT_ARTICLE, self.db.conn, iso(fetched)
            for article, result in items:  # conn directly: this loop runs per article
                if article.url and article.url in seen_urls:
                    ids.append(None)
                    continue
                cursor = conn.execute(insert, _article_row(article, result, fetched, when))
                if cursor.rowcount:
                    article_id = int(cursor.lastrowid or 0)
                    ids.append(article_id)
                    if article.url:
                        seen_urls.add(article.url)
                    tags += [(article_id, t) for t in result.topics]
                else:
                    ids.append(None)
            if tags:
                conn.executemany("INSERT OR IGNORE INTO tags (article_id, topic) VALUES (?, ?)",
                                 tags)
            new = [i for i in ids if i is not None]
            for batch in _chunks(new, 500):  # full-text index, same transaction (_m5)
                conn.execute("INSERT INTO articles_fts (rowid, title, summary) SELECT id, title,"
                             f" summary FROM articles WHERE id IN ({','.join('?' * len(batch))})",
                             batch)
            return ids

    def articles(self, ids: Sequence[int]) -> list[StoredArticle]:
        def read() -> list[StoredArticle]:
            out = []
            for chunk in _chunks(list(ids), 500):
                marks = ",".join("?" * len(chunk))
                out += [_stored(r) for r in self.db.query(
                    f"SELECT * FROM articles WHERE id IN ({marks})", chunk)]
            order = {i: n for n, i in enumerate(ids)}
            return sorted(out, key=lambda a: order[a.id])
        return self._read(read)

    def undelivered(self, channel: str, *, since: datetime | None, relevant_only: bool = True,
                    limit: int = 500) -> list[StoredArticle]:
        """Relevant articles not yet queued for this channel, newest first."""
        sql = ("SELECT * FROM articles a WHERE NOT EXISTS (SELECT 1 FROM deliveries d "
               "WHERE d.article_id = a.id AND d.channel = ?)")
        params: list[Any] = [channel]
        if relevant_only:
            sql += " AND a.relevant = 1"
        if since is not None:
            sql += " AND a.published >= ?"
            params.append(iso(since))
        sql += " ORDER BY a.published DESC, a.id DESC LIMIT ?"
        params.append(limit)
        return self._read(lambda: [_stored(r) for r in self.db.query(sql, params)])

    def article_count(self) -> int:
        return self._read(lambda: self.db.table("articles").count)

    # ------------------------------------------------------------------ outbox

    def queue(self, channel: str, chat: str | int, kind: str,
              messages: Sequence[tuple[str, Sequence[int]]], now: datetime, *,
              covered: Sequence[int] = ()) -> list[int] | None:
        """Write messages to send and claim their articles for the channel, in one go.
        `covered`: articles claimed without a message of their own (the same story went out
        before). None, and nothing written, when another sender claimed any of them first."""
        ids = []
        claim = [a for _, article_ids in messages for a in article_ids] + list(covered)
        with self.transaction():
            for chunk in _chunks(claim, 500):
                marks = ",".join("?" * len(chunk))
                if self.db.execute(f"SELECT 1 FROM deliveries WHERE channel = ? AND article_id"
                                   f" IN ({marks}) LIMIT 1", [channel, *chunk]).fetchone():
                    return None
            for text, article_ids in messages:
                cursor = self.db.execute(
                    "INSERT INTO outbox (channel, chat, kind, text, article_ids, created, status,"
                    " attempts) VALUES (?,?,?,?,?,?, 'pending', 0)",
                    [channel, str(chat), kind, text, json.dumps(list(article_ids)), iso(now)])
                outbox_id = int(cursor.lastrowid or 0)
                ids.append(outbox_id)
                self.db.conn.executemany(
                    "INSERT OR IGNORE INTO deliveries (article_id, channel, outbox_id)"
                    " VALUES (?,?,?)", [(a, channel, outbox_id) for a in article_ids])
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO deliveries (article_id, channel, delivered_at)"
                " VALUES (?,?,?)", [(a, channel, iso(now)) for a in covered])
        return ids

    def delivered_since(self, channel: str, since: datetime) -> list[StoredArticle]:
        """Articles claimed for the channel that were published since `since`: the stories
        it has had (or has queued), to keep their copies from other outlets out."""
        sql = ("SELECT a.* FROM articles a JOIN deliveries d ON d.article_id = a.id"
               " WHERE d.channel = ? AND a.published >= ? ORDER BY a.published, a.id")
        return self._read(lambda: [_stored(r) for r in self.db.query(
            sql, [channel, iso(since)])])

    def pending(self, channel: str | None = None) -> list[OutboxMessage]:
        sql = "SELECT * FROM outbox WHERE status = 'pending'"
        params: list[Any] = []
        if channel:
            sql += " AND channel = ?"
            params.append(channel)
        sql += " ORDER BY id"
        return self._read(lambda: [_outbox(r) for r in self.db.query(sql, params)])

    def mark_sent(self, outbox_id: int, message_id: int, now: datetime) -> None:
        """Sent: the message and its deliveries are recorded in one transaction."""
        with self.transaction():
            self.db.execute("UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?,"
                            " error = NULL WHERE id = ?", [message_id, iso(now), outbox_id])
            self.db.execute("UPDATE deliveries SET message_id = ?, delivered_at = ?"
                            " WHERE outbox_id = ?", [message_id, iso(now), outbox_id])

    def mark_attempt(self, outbox_id: int, error: str, not_before: datetime | None,
                     status: str = "pending") -> None:
        with self.transaction():
            self.db.execute("UPDATE outbox SET attempts = attempts + 1, error = ?,"
                            " not_before = ?, status = ? WHERE id = ?",
                            [error, iso(not_before), status, outbox_id])

    def start_plain_parts(self, outbox_id: int, parts: Sequence[str]) -> None:
        """The message goes out as these plain-text parts from now on, none sent yet."""
        with self.transaction():
            self.db.execute("UPDATE outbox SET parts = ?, parts_sent = 0 WHERE id = ?",
                            [json.dumps(list(parts), ensure_ascii=False), outbox_id])

    def mark_parts_sent(self, outbox_id: int, count: int) -> None:
        """The first `count` plain-text parts are with Telegram (the last one: mark_sent)."""
        with self.transaction():
            self.db.execute("UPDATE outbox SET parts_sent = ? WHERE id = ?", [count, outbox_id])

    def mark_failed(self, outbox_id: int, error: str) -> None:
        """Telegram refused this message for good: it leaves the queue (status 'failed', with
        the reason), the messages after it go on."""
        self.mark_attempt(outbox_id, error, None, status="failed")

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        def read() -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for channel, status, n in self.db.execute(
                    "SELECT channel, status, count(*) FROM outbox GROUP BY channel, status"):
                out.setdefault(channel, {})[status] = n
            return out
        return self._read(read)

    # ------------------------------------------------------------------ channels

    def channel_chat(self, channel: str, configured: str | int) -> str:
        """The chat to send to: a migrated group's new id wins over the configured one, as
        long as the config still names the chat it was migrated from."""
        def read() -> str:
            rows = list(self.db.table("channels").rows_where("name = ?", [channel]))
            row = rows[0] if rows else {}
            moved_from = row.get("moved_from")
            if row.get("chat") and (not moved_from or moved_from == str(configured)
                                    or row["chat"] == str(configured)):
                return str(row["chat"])
            return str(configured)
        return self._read(read)

    def set_channel(self, channel: str, **values: Any) -> None:
        with self.transaction():
            self.db.table("channels").upsert({"name": channel, **values}, pk="name")
            if "chat" in values:
                self.db.execute("UPDATE outbox SET chat = ? WHERE channel = ? AND"
                                " status = 'pending'", [str(values["chat"]), channel])

    def move_channel(self, channel: str, old_chat: str, new_chat: str) -> None:
        """A group became a supergroup: its pending messages go to the new id from now on."""
        self.set_channel(channel, chat=new_chat, moved_from=old_chat)

    def move_chat(self, old_id: int, new_id: int, *, old_channel: str,
                  new_channel: str) -> bool:
        """A group that subscribed with the bot commands became a supergroup: its settings,
        its channel state, its outbox and the articles it had move to the new id, in one
        transaction (settings the new chat made itself win). False when there was nothing
        to move (done already)."""
        with self.transaction():
            db = self.db
            found = [db.execute(f"SELECT count(*) FROM {table} WHERE {key} = ?",
                                [value]).fetchone()[0]
                     for table, key, value in (("chats", "chat_id", old_id),
                                               ("channels", "name", old_channel),
                                               ("outbox", "channel", old_channel),
                                               ("deliveries", "channel", old_channel))]
            if not any(found):
                return False
            statements: list[tuple[str, list[Any]]] = [
                    ("UPDATE OR IGNORE chats SET chat_id = ? WHERE chat_id = ?", [new_id, old_id]),
                    ("DELETE FROM chats WHERE chat_id = ?", [old_id]),
                    ("UPDATE OR IGNORE channels SET name = ? WHERE name = ?",
                     [new_channel, old_channel]),
                    ("DELETE FROM channels WHERE name = ?", [old_channel]),
                    ("UPDATE outbox SET channel = ? WHERE channel = ?", [new_channel, old_channel]),
                    ("UPDATE outbox SET chat = ? WHERE channel = ? AND status = 'pending'",
                     [str(new_id), new_channel]),
                    ("UPDATE OR IGNORE deliveries SET channel = ? WHERE channel = ?",
                     [new_channel, old_channel]),
                    ("DELETE FROM deliveries WHERE channel = ?", [old_channel])]
            for sql, params in statements:
                db.execute(sql, params)
            db.table("channels").upsert({"name": new_channel, "chat": str(new_id)}, pk="name")
        return True

    def block_channel(self, channel: str, reason: str, *, now: datetime,
                      retry_at: datetime) -> None:
        info = self.channel_info(channel)
        self.set_channel(channel, blocked=1, blocked_reason=reason,
                         blocked_since=info.get("blocked_since") if info.get("blocked")
                         else iso(now), retry_at=iso(retry_at))

    def unblock_channel(self, channel: str) -> None:
        self.set_channel(channel, blocked=0, blocked_reason=None, blocked_since=None,
                         retry_at=None)

    def channel_info(self, channel: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            rows = list(self.db.table("channels").rows_where("name = ?", [channel]))
            return dict(rows[0]) if rows else {}
        return self._read(read)

    # ------------------------------------------------------------------ chats (bot commands)

    def chat_settings(self, chat_id: int) -> ChatSettings | None:
        def read() -> ChatSettings | None:
            rows = list(self.db.table("chats").rows_where("chat_id = ?", [chat_id]))
            return _chat(rows[0]) if rows else None
        return self._read(read)

    def all_chat_settings(self) -> list[ChatSettings]:
        return self._read(lambda: [_chat(r) for r in self.db.table("chats").rows_where(
            order_by="chat_id")])

    def save_chat_settings(self, settings: ChatSettings) -> None:
        with self.transaction():
            self.db.table("chats").upsert({
                "chat_id": settings.chat_id, "topics": json.dumps(list(settings.topics)),
                "languages": json.dumps(list(settings.languages)), "digest": settings.digest,
                "ui_language": settings.ui_language}, pk="chat_id")

    # ------------------------------------------------------------------ reading (bot commands)

    def latest_relevant(self, *, topic: str | None, languages: Sequence[str],
                        limit: int) -> list[StoredArticle]:
        """The newest relevant articles, of one topic or all, in these languages."""
        sql = "SELECT a.* FROM articles a WHERE a.relevant = 1"
        params: list[Any] = []
        if topic:
            sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.article_id = a.id AND t.topic = ?)"
            params.append(topic)
        sql += f" AND a.language IN ({','.join('?' * len(languages))})"
        params += list(languages)
        sql += " ORDER BY a.published DESC, a.id DESC LIMIT ?"
        params.append(limit)
        return self._read(lambda: [_stored(r) for r in self.db.query(sql, params)])

    def search_articles(self, words: Sequence[str], *, limit: int) -> list[StoredArticle]:
        """Full-text search (FTS5) over titles and summaries, best matches first.

        The user's words are quoted, never read as FTS5 syntax; raises ValueError for a
        search that has no words to look for.
        """
        query = fts_query(words)
        if not query:
            raise ValueError("no words to search for")
        sql = ("SELECT a.* FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
               " WHERE articles_fts MATCH ? ORDER BY articles_fts.rank, a.published DESC"
               " LIMIT ?")
        try:
            return self._read(lambda: [_stored(r) for r in self.db.query(sql, [query, limit])])
        except sqlite3.OperationalError as exc:  # quoting should make this unreachable
            raise ValueError(f"search failed: {exc}") from None

    def article_by_url(self, url: str) -> StoredArticle | None:
        def read() -> StoredArticle | None:
            rows = list(self.db.query("SELECT * FROM articles WHERE url = ? ORDER BY id LIMIT 1",
                                      [url]))
            return _stored(rows[0]) if rows else None
        return self._read(read)


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 query that finds every word as a prefix ("privacy" finds "privacybeleid").

    Each word becomes a quoted string (quotes doubled), so AND, OR, NEAR, *, ( and : typed by
    a user are text, not syntax (sqlite.org/fts5.html, 3.1); words without a letter or digit
    are dropped. '' when nothing is left.
    """
    quoted = ['"' + w.replace('"', '""') + '"*' for w in words if any(c.isalnum() for c in w)]
    return " ".join(quoted)


def _chat(row: dict[str, Any]) -> ChatSettings:
    return ChatSettings(chat_id=row["chat_id"], topics=tuple(json.loads(row["topics"])),
                        languages=tuple(json.loads(row["languages"])), digest=row["digest"],
                        ui_language=row["ui_language"])


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _feed_state(row: dict[str, Any], articles: int) -> FeedState:
    return FeedState(
        name=row["name"], url=row["url"], fetch_url=row["fetch_url"] or row["url"],
        etag=row["etag"], last_modified=row["last_modified"], last_status=row["last_status"],
        last_error=row["last_error"], last_fetch=from_iso(row["last_fetch"]),
        last_success=from_iso(row["last_success"]), failures=row["failures"] or 0,
        next_due=from_iso(row["next_due"]), retry_after_until=from_iso(row["retry_after_until"]),
        disabled=bool(row["disabled"]), disabled_reason=row["disabled_reason"],
        last_warning=row.get("last_warning"), ttl_minutes=row.get("ttl_minutes"),
        articles=articles)


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per json.dumps


def _json_list(values: Sequence[str]) -> str:
    return _to_json(list(values)) if values else "[]"  # most are empty: skip the encoder


_INSERT_ARTICLE = (
    "INSERT OR IGNORE INTO articles (feed, guid, url, title, summary, published, fetched,"
    " language, relevant, score, topics, matches, orgs, regulators, laws, effective_date)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _article_row(article: Article, result: Classification, fetched: datetime,
                 fetched_iso: str | None = None) -> list[Any]:
    return [article.feed, article.guid, article.url or None, article.title, article.summary,
            iso(article.published), fetched_iso or iso(fetched), result.language,
            int(result.relevant), result.score, _json_list(result.topics),
            _to_json({k: list(v) for k, v in result.matches.items()}),
            _json_list(result.orgs), _json_list(result.regulators), _json_list(result.laws),
            result.effective_date.isoformat() if result.effective_date else None]


def _stored(row: dict[str, Any]) -> StoredArticle:
    published = from_iso(row["published"])
    fetched = from_iso(row["fetched"])
    assert published is not None and fetched is not None
    article = Article(feed=row["feed"], guid=row["guid"], url=row["url"] or "",
                      title=row["title"], summary=row["summary"] or "", published=published,
                      language=row["language"])
    matches = {k: tuple(v) for k, v in json.loads(row["matches"] or "{}").items()}
    result = Classification(
        language=row["language"] or "other", relevant=bool(row["relevant"]),
        score=row["score"] or 0.0, topics=tuple(json.loads(row["topics"] or "[]")),
        matches=matches, orgs=tuple(json.loads(row["orgs"] or "[]")),
        regulators=tuple(json.loads(row["regulators"] or "[]")),
        laws=tuple(json.loads(row["laws"] or "[]")),
        effective_date=date.fromisoformat(row["effective_date"]) if row["effective_date"]
        else None)
    return StoredArticle(id=row["id"], article=article, classification=result, fetched=fetched)


def _outbox(row: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(id=row["id"], channel=row["channel"], chat=row["chat"],
                         text=row["text"], kind=row["kind"],
                         article_ids=tuple(json.loads(row["article_ids"] or "[]")),
                         attempts=row["attempts"] or 0, not_before=from_iso(row["not_before"]),
                         parts=tuple(json.loads(row.get("parts") or "[]")),
                         parts_sent=row.get("parts_sent") or 0)


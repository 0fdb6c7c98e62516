"""Feed health and delivery state for `status` (and the bot's /status).

    feed_status(config, store, now=...)  -> a dict (what `status --json` prints)
    format_status(data)                  -> the aligned text tables

Per feed: last status, last success, consecutive failures, next due time, articles stored,
and its state: ok, retrying (1-2 failures in a row), FAILING (3 or more), or disabled (410
Gone, or `enabled: false`); then what went wrong, per feed, in words.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.models import FAILING_AFTER
from bot.store import Store, from_iso, iso


def feed_state_word(disabled: bool, failures: int) -> str:
    if disabled:
        return "disabled"
    if failures >= FAILING_AFTER:
        return "failing"
    return "retrying" if failures else "ok"


def feed_status(config: Config, store: Store, *, now: datetime) -> dict[str, Any]:
    store.sync_feeds((f.name, f.url) for f in config.feeds)
    enabled = {f.name: f.enabled for f in config.feeds}
    feeds = []
    for s in store.feed_states():
        disabled = s.disabled or not enabled.get(s.name, True)
        waiting = s.retry_after_until if s.retry_after_until and s.retry_after_until > now \
            else None
        feeds.append({
            "name": s.name, "url": s.fetch_url, "configured_url": s.url,
            "state": feed_state_word(disabled, s.failures),
            "last_status": s.last_status, "last_error": s.last_error,
            "last_warning": s.last_warning,
            "last_fetch": iso(s.last_fetch), "last_success": iso(s.last_success),
            "consecutive_failures": s.failures,
            "next_due": None if disabled else iso(s.next_due) or "now",
            "retry_after_until": iso(waiting),
            "articles": s.articles, "disabled": disabled,
            "disabled_reason": s.disabled_reason or (None if enabled.get(s.name, True)
                                                     else "enabled: false in the config"),
        })
    counts = store.outbox_counts()
    channels = []
    for c in config.channels:
        info = store.channel_info(c.name)
        channels.append({
            "name": c.name, "chat": store.channel_chat(c.name, c.chat),
            "blocked": bool(info.get("blocked")), "blocked_reason": info.get("blocked_reason"),
            "blocked_since": info.get("blocked_since"), "next_try": info.get("retry_at"),
            "last_digest": info.get("last_digest"),
            "pending": counts.get(c.name, {}).get("pending", 0),
            "sent": counts.get(c.name, {}).get("sent", 0),
            "failed": counts.get(c.name, {}).get("failed", 0),
        })
    return {"now": iso(now), "feeds": feeds, "channels": channels,
            "articles": store.article_count()}


def format_status(data: dict[str, Any]) -> str:
    now = from_iso(data["now"])
    feeds = data["feeds"]
    lines = [f"Feeds at {_short(data['now'])} UTC: " + _tally(feeds), ""]
    rows: list[tuple[str, ...]] = [
        ("FEED", "STATUS", "LAST SUCCESS", "FAILS", "NEXT DUE", "ARTICLES", "STATE")]
    for f in feeds:
        rows.append((f["name"], f["last_status"] or "never fetched",
                     _ago(f["last_success"], now), str(f["consecutive_failures"]),
                     _due(f, now), str(f["articles"]), _state(f)))
    lines += _table(rows, right={3, 5})
    problems = [(f["name"], _problem(f, now)) for f in feeds]
    problems = [(name, text) for name, text in problems if text]
    if problems:
        width = max(len(name) for name, _ in problems)
        lines += ["", "Problems:"]
        lines += [f"  {name.ljust(width)}  {text}" for name, text in problems]
    lines.append("")
    channel_rows: list[tuple[str, ...]] = [
        ("CHANNEL", "CHAT", "PENDING", "SENT", "FAILED", "LAST DIGEST", "STATE")]
    for c in data["channels"]:
        state = "ok"
        if c["blocked"]:  # the bot was removed or lost its rights (issue 5)
            state = (f"BLOCKED since {_short(c.get('blocked_since')) or '?'}: "
                     f"{c['blocked_reason']} (next try {_short(c.get('next_try')) or 'now'})")
        channel_rows.append((c["name"], str(c["chat"]), str(c["pending"]), str(c["sent"]),
                             str(c["failed"]), _short(c.get("last_digest")) or "-", state))
    lines += _table(channel_rows)
    lines.append(f"\n{data['articles']} articles stored")
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[tuple[str, ...]], right: Collection[int] = ()) -> list[str]:
    """Columns padded to their widest cell (numbers right-aligned); the last one is free."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right and r is not rows[0] else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=False))]
        out.append("  ".join([*cells, r[-1]]).rstrip())
    return out


def _tally(feeds: list[dict[str, Any]]) -> str:
    counts = {word: sum(f["state"] == word for f in feeds)
              for word in ("ok", "retrying", "failing", "disabled")}
    parts = [f"{n} {word}" for word, n in counts.items() if n]
    never = sum(f["last_status"] is None and not f["disabled"] for f in feeds)
    if never:
        parts.append(f"{never} never fetched")
    return f"{len(feeds)} feeds" + (f" ({', '.join(parts)})" if parts else "")


def _state(f: dict[str, Any]) -> str:
    if f["disabled"]:
        return f"disabled: {f['disabled_reason']}"
    if f["state"] == "failing":
        return f"FAILING: {f['consecutive_failures']} failures in a row"
    if f["state"] == "retrying":
        return "retrying"
    return "ok, with a warning" if f["last_warning"] else "ok"


def _due(f: dict[str, Any], now: datetime | None) -> str:
    if f["disabled"]:
        return "-"
    due = from_iso(f["next_due"]) if f["next_due"] != "now" else None
    if due is None or now is None or due <= now:
        return "now"
    text = f"in {_span(due - now)}"
    return f"{text} (asked)" if f["retry_after_until"] else text


def _ago(value: str | None, now: datetime | None) -> str:
    when = from_iso(value)
    if when is None:
        return "never"
    if now is None or now - when > timedelta(days=2):
        return _short(value)[:10]
    return "just now" if now - when < timedelta(minutes=1) else f"{_span(now - when)} ago"


def _span(delta: timedelta) -> str:
    """12m, 1h55m, 14h, 3d."""
    minutes = max(1, round(delta.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{minutes}m"
    if hours < 10:
        return f"{hours}h{rest:02d}m"
    return f"{hours}h" if hours < 48 else f"{round(hours / 24)}d"


def _problem(f: dict[str, Any], now: datetime | None) -> str:
    """What went wrong, in words; '' when nothing did."""
    notes = []
    if f["last_error"]:
        notes.append(f["last_error"])
        if f["consecutive_failures"] > 1 and not f["disabled"]:
            notes.append(f"{f['consecutive_failures']} failures in a row")
    if f["retry_after_until"]:
        notes.append(f"the server asked to wait until {_short(f['retry_after_until'])} UTC")
    if f["last_warning"] and not f["last_error"]:
        notes.append(f"last fetch parsed with a warning: {f['last_warning']}")
    if f["url"] != f["configured_url"]:
        notes.append(f"moved permanently: now fetched from {f['url']} (update feeds.yaml)")
    return "; ".join(notes)


def _short(value: str | None) -> str:
    if not value or value == "now":
        return value or ""
    return value.replace("T", " ")[:16]

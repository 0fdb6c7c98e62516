"""Feed health and delivery state for `status` (and the bot's /status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.config import Config
from bot.store import Store, iso


def feed_status(config: Config, store: Store, *, now: datetime) -> dict[str, Any]:
    store.sync_feeds((f.name, f.url) for f in config.feeds)
    enabled = {f.name: f.enabled for f in config.feeds}
    feeds = []
    for s in store.feed_states():
        disabled = s.disabled or not enabled.get(s.name, True)
        feeds.append({
            "name": s.name, "url": s.fetch_url, "configured_url": s.url,
            "last_status": s.last_status, "last_error": s.last_error,
            "last_fetch": iso(s.last_fetch), "last_success": iso(s.last_success),
            "consecutive_failures": s.failures,
            "next_due": None if disabled else iso(s.next_due) or "now",
            "retry_after_until": iso(s.retry_after_until),
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
    rows = [("FEED", "STATUS", "LAST SUCCESS", "FAILS", "NEXT DUE", "ARTICLES", "STATE")]
    for f in data["feeds"]:
        state = f"disabled: {f['disabled_reason']}" if f["disabled"] else "enabled"
        if not f["disabled"] and f["consecutive_failures"] >= 3:
            state = "FAILING"
        rows.append((f["name"], f["last_status"] or "never fetched",
                     _short(f["last_success"]) or "-", str(f["consecutive_failures"]),
                     _short(f["next_due"]) or "-", str(f["articles"]), state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
             for r in rows]
    for f in data["feeds"]:
        if f["last_error"]:
            lines.append(f"  {f['name']}: {f['last_error']}")
    lines.append("")
    channel_rows = [("CHANNEL", "CHAT", "PENDING", "SENT", "FAILED", "LAST DIGEST", "STATE")]
    for c in data["channels"]:
        state = "ok"
        if c["blocked"]:  # the bot was removed or lost its rights (issue 5)
            state = (f"BLOCKED since {_short(c.get('blocked_since')) or '?'}: "
                     f"{c['blocked_reason']} (next try {_short(c.get('next_try')) or 'now'})")
        channel_rows.append((c["name"], str(c["chat"]), str(c["pending"]), str(c["sent"]),
                             str(c["failed"]), _short(c.get("last_digest")) or "-", state))
    widths = [max(len(r[i]) for r in channel_rows) for i in range(len(channel_rows[0]) - 1)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1]
              for r in channel_rows]
    lines.append(f"\n{data['articles']} articles stored")
    return "\n".join(lines) + "\n"


def _short(value: str | None) -> str:
    if not value or value == "now":
        return value or ""
    return value.replace("T", " ")[:16]

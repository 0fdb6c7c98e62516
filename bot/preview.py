"""What `digest` would send, without sending or marking anything.

    dry_run_text   `digest --dry-run`: per channel, the messages exactly as they would go to
                   Telegram (HTML): first what waits in the outbox, then the new digest
    write_preview  `preview --html FILE`: the same as one HTML page, each message drawn as a
                   chat bubble with its length, for a look in a browser

The message texts are our own Telegram HTML (every feed-derived string already escaped,
only Telegram's tags), so the page shows them as they are; everything else on the page is
escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.config import ChannelConfig, Config
from bot.delivery import compose
from bot.digest import MAX_CHARS, visible_length
from bot.store import Store


@dataclass(frozen=True, slots=True)
class Planned:
    text: str
    kind: str        # digest | alert | ... ; from the outbox or new
    queued: bool     # already in the outbox (sent first)


@dataclass(frozen=True, slots=True)
class ChannelPreview:
    channel: ChannelConfig
    chat: str
    timezone: str    # the digest's (config.channel_timezone)
    blocked: str | None
    messages: list[Planned]


def previews(config: Config, store: Store, channels: Sequence[ChannelConfig], *,
             now: datetime) -> list[ChannelPreview]:
    out = []
    for channel in channels:
        info = store.channel_info(channel.name)
        waiting = [Planned(m.text, m.kind, True) for m in store.pending(channel.name)]
        new = [] if info.get("blocked") else \
            [Planned(m.text, "digest", False) for m in compose(config, store, channel, now=now)]
        out.append(ChannelPreview(channel, store.channel_chat(channel.name, channel.chat),
                                  config.channel_timezone(channel),
                                  info.get("blocked_reason") if info.get("blocked") else None,
                                  waiting + new))
    return out


def dry_run_text(config: Config, store: Store, channels: Sequence[ChannelConfig], *,
                 now: datetime) -> str:
    lines = []
    for p in previews(config, store, channels, now=now):
        lines.append(f"=== {p.channel.name} ({p.chat}): {len(p.messages)} message(s), "
                     "dry run: nothing sent or marked ===")
        if p.blocked:
            lines.append(f"(blocked: {p.blocked}; no new digest is queued until it works)")
        for n, m in enumerate(p.messages, 1):
            origin = "queued earlier" if m.queued else "new"
            lines.append(f"--- {n}/{len(p.messages)} · {m.kind} · {origin} · "
                         f"{visible_length(m.text)} characters ---")
            lines.append(m.text)
            lines.append("")
    return "\n".join(lines) + "\n"


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alertbot preview — {now}</title>
<style>
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #c8d8c0; color: #111; }}
header {{ background: #517da2; color: #fff; padding: 12px 24px; }}
header h1 {{ font-size: 18px; margin: 0; }} header p {{ margin: 4px 0 0; opacity: .85; }}
main {{ padding: 8px 24px 40px; }}
section {{ margin: 24px 0; }}
h2 {{ font-size: 15px; margin: 0 0 4px; }}
.about {{ color: #334; font-size: 13px; margin: 0 0 8px; }}
.message {{ background: #fff; border-radius: 12px 12px 12px 4px; padding: 8px 12px 6px;
           margin: 10px 0; max-width: 560px; white-space: pre-wrap; overflow-wrap: anywhere;
           box-shadow: 0 1px 2px #0003; }}
.message.queued {{ border-left: 4px solid #e0a030; }}
.meta {{ display: block; text-align: right; font-size: 11px; color: #7a8a99;
        white-space: normal; margin-top: 4px; }}
.meta.over {{ color: #c00; font-weight: bold; }}
.empty, .blocked {{ font-style: italic; color: #334; }} .blocked {{ color: #a00; }}
a {{ color: #2a7ab0; text-decoration: none; }} a:hover {{ text-decoration: underline; }}
blockquote {{ border-left: 3px solid #517da2; margin: 4px 0; padding-left: 8px; }}
</style></head><body>
<header><h1>Digest preview</h1><p>{now} · what <code>digest</code> would send now; nothing
was sent or marked</p></header>
<main>
{channels}
</main>
</body></html>
"""


def write_preview(config: Config, store: Store, path: Path, *, now: datetime,
                  channel: str | None = None) -> Path:
    channels = [c for c in config.channels
                if c.name == channel or (channel is None and c.enabled)]
    sections = [_section(p) for p in previews(config, store, channels, now=now)]
    language = channels[0].labels_language if channels else "nl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_PAGE.format(lang=language, now=now.strftime("%Y-%m-%d %H:%M UTC"),
                                 channels="\n".join(sections)
                                 or "<p class=empty>no channels</p>"), encoding="utf-8")
    return path


def _section(p: ChannelPreview) -> str:
    ch, timezone = p.channel, p.timezone
    about = (f"{html.escape(str(p.chat))} · {len(p.messages)} message(s) · digest "
             f"{html.escape(str(ch.digest))} ({html.escape(timezone)})"
             f" · languages {html.escape(', '.join(ch.languages))}")
    parts = [f"<section><h2>{html.escape(ch.name)}</h2><p class=about>{about}</p>"]
    if p.blocked:
        parts.append(f"<p class=blocked>blocked: {html.escape(p.blocked)}</p>")
    for n, m in enumerate(p.messages, 1):
        length = visible_length(m.text)
        over = " over" if length > MAX_CHARS else ""
        origin = "queued earlier" if m.queued else "new"
        parts.append(f'<div class="message{" queued" if m.queued else ""}">{m.text}'
                     f'<span class="meta{over}">{n}/{len(p.messages)} · {html.escape(m.kind)}'
                     f" · {origin} · {length}/{MAX_CHARS} characters</span></div>")
    if not p.messages:
        parts.append("<p class=empty>nothing to send</p>")
    parts.append("</section>")
    return "\n".join(parts)

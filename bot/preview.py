"""`preview --html FILE`: the digests that would be sent, as one HTML page for a browser."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from bot.config import Config
from bot.pipeline import compose
from bot.store import Store

_PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>alertbot preview</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; background: #e6ebee; margin: 2em; }}
.message {{ background: #fff; border-radius: 12px; padding: 12px 16px; margin: 12px 0;
           max-width: 560px; white-space: pre-wrap; box-shadow: 0 1px 2px #0002; }}
h2 {{ font-size: 15px; color: #555; }} a {{ color: #2a7ab0; text-decoration: none; }}
</style></head><body>
<h1>Digest preview — {now}</h1>
{channels}
</body></html>
"""


def write_preview(config: Config, store: Store, path: Path, *, now: datetime,
                  channel: str | None = None) -> Path:
    sections = []
    for ch in config.channels:
        if channel and ch.name != channel:
            continue
        messages = compose(config, store, ch, now=now)
        body = "\n".join(f'<div class="message">{m.text}</div>' for m in messages) or \
            "<p><i>nothing to send</i></p>"
        sections.append(f"<h2>{html.escape(ch.name)} → {html.escape(str(ch.chat))} "
                        f"({len(messages)} message(s))</h2>\n{body}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_PAGE.format(now=now.strftime("%Y-%m-%d %H:%M UTC"),
                                 channels="\n".join(sections)), encoding="utf-8")
    return path

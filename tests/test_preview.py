"""`digest --dry-run` and `preview --html FILE` (bot/preview.py): what would be sent, exactly,
without sending or marking anything."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.store import Store
from tests.builders import NOW, add, channel, story

HOSTILE = "<script>alert(1)</script> & <b>unclosed"


def stored(tmp_path, *items):
    db = Store(tmp_path / "bot.db")
    add(db, *items)
    db.close()


def test_dry_run_prints_exactly_the_messages_that_digest_then_sends(
        tmp_path, write_config, run_cli, telegram):
    config = write_config({"channels": [channel()]})
    stored(tmp_path, story("Eerste bericht"), story(HOSTILE, feed="Ars Technica",
                                                    language="en"))
    dry = run_cli("digest", "--config", str(config), "--dry-run")
    assert dry.code == 0
    assert "=== main (@privacy_alerts): 1 message(s), dry run: nothing sent or marked ===" in \
        dry.out
    again = run_cli("digest", "--config", str(config), "--dry-run")
    assert again.out == dry.out, "nothing was marked"

    sent = run_cli("digest", "--config", str(config), env=telegram.env)
    assert sent.code == 0, sent.out + sent.err
    [message] = telegram.state.texts()
    assert f"\n{message}\n" in dry.out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;unclosed" in message


def test_dry_run_shows_messages_still_waiting_in_the_outbox_first(tmp_path, write_config,
                                                                    run_cli):
    config = write_config({"channels": [channel()]})
    db = Store(tmp_path / "bot.db")
    db.queue("main", "@privacy_alerts", "alert", [("<b>wacht nog</b>", ())],
             now=NOW)
    add(db, story("Nieuw bericht"))
    db.close()
    out = run_cli("digest", "--config", str(config), "--dry-run").out
    assert out.index("--- 1/2 · alert · queued earlier") < out.index("<b>wacht nog</b>") < \
        out.index("--- 2/2 · digest · new") < out.index("Nieuw bericht")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_preview_writes_a_page_with_each_message_as_a_bubble(tmp_path, write_config, run_cli):
    config = write_config({"channels": [channel(), channel(name="english", chat="@en_news",
                                                           languages=["en"])]})
    stored(tmp_path, story("Eerste bericht"), story(HOSTILE, feed="Ars Technica",
                                                    language="en"))
    page = tmp_path / "out" / "preview.html"
    result = run_cli("preview", "--config", str(config), "--html", str(page))
    assert result.code == 0 and f"wrote {page}" in result.out
    html = page.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(html)
    assert "script" not in parsed.tags, "a hostile title stays text"
    text = "".join(parsed.text)
    assert HOSTILE in text and "Eerste bericht" in text
    assert html.count('<div class="message">') == 2
    assert re.search(r"1/1 · digest · new · \d+/4096 characters", text)
    assert "<h2>main</h2>" in html and "<h2>english</h2>" in html
    assert "🔔 Privacy news" in text and "🔔 Privacynieuws" in text
    assert "digest daily 08:00 (Europe/Amsterdam)" in text, "the zone the digest runs in"

    only = run_cli("preview", "--config", str(config), "--html", str(page),
                   "--channel", "english")
    assert only.code == 0 and "<h2>main</h2>" not in page.read_text(encoding="utf-8")

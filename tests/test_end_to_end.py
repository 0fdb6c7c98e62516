"""The whole pipeline through real HTTP on loopback: feeds -> SQLite -> Telegram.

python-telegram-bot is the real client of the fake Bot API server; feeds come from a loopback
feed server with ETag / Last-Modified.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.feed_server import Route

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "feeds"


def _serve_samples(feeds) -> list[dict]:
    entries = []
    for i, (name, file, lang) in enumerate([("Tweakers", "tweakers.xml", "nl"),
                                            ("The Verge", "theverge.xml", "en"),
                                            ("Security.nl", "security-nl.xml", None)]):
        url = feeds.add(f"/{file}", Route(body=(SAMPLES / file).read_bytes(),
                                          etag=f'"v1-{i}"',
                                          last_modified="Sat, 28 Nov 2026 10:00:00 GMT"))
        entries.append({"name": name, "url": url, **({"language": lang} if lang else {})})
    return entries


def test_poll_digest_then_conditional_poll_and_empty_digest(feeds, telegram, write_config,
                                                            run_cli):
    config = write_config({
        "feeds": _serve_samples(feeds),
        "channels": [{"name": "main", "chat": "@privacy_alerts", "digest": "daily 08:00",
                      "max_age": 0}],
    })
    env = telegram.env

    first = run_cli("poll", "--config", str(config), env=env)
    assert first.code == 0, first.err
    assert "3 fetched" in first.out

    digest = run_cli("digest", "--config", str(config), env=env)
    assert digest.code == 0, digest.out + digest.err
    sent = telegram.state.sent
    assert sent, "the digest reached the fake Telegram server"
    assert all(s.parse_mode == "HTML" and s.no_preview for s in sent)
    assert all(len(s.visible.encode("utf-16-le")) // 2 <= 4096 for s in sent)
    body = "\n".join(s.visible for s in sent)
    assert "X past privacybeleid aan" in body          # the motivating story, in Dutch
    # the English report of the same story is one entry with it: "ook: 🇬🇧 The Verge" (issue 5)
    assert "ook: 🇬🇧 The Verge" in body
    assert "theverge.com/news/831954/x-privacy-policy" in "\n".join(s.text for s in sent)
    assert "VPN" not in body                            # deals are not privacy news
    assert "https://tweakers.net/nieuws/231388/" in "\n".join(s.text for s in sent)

    second = run_cli("poll", "--config", str(config), env=env)
    assert second.code == 0
    assert "3 unchanged (304)" in second.out
    for path in ("/tweakers.xml", "/theverge.xml", "/security-nl.xml"):
        hits = feeds.hits(path)
        assert len(hits) == 2 and not hits[0].conditional
        assert hits[1].headers["if-none-match"].startswith('"v1-')

    count = len(sent)
    again = run_cli("digest", "--config", str(config), env=env)
    assert again.code == 0
    assert len(telegram.state.sent) == count, "a second digest sends nothing"


def test_without_token_digest_prints_messages(feeds, write_config, run_cli):
    config = write_config({
        "feeds": _serve_samples(feeds)[:1],
        "channels": [{"name": "main", "chat": "@privacy_alerts", "max_age": 0}],
    })
    assert run_cli("poll", "--config", str(config)).code == 0
    result = run_cli("digest", "--config", str(config), "--dry-run")
    assert result.code == 0
    assert "X past privacybeleid aan" in result.out
    printed = run_cli("digest", "--config", str(config))
    assert "--- to @privacy_alerts ---" in printed.out
    assert "X past privacybeleid aan" in printed.out

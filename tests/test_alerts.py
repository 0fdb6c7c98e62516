"""Instant alerts (bot/delivery.py queue_alerts): per channel, topics or a score threshold;
posted right after the polling round that found the story, then not repeated in the digest.
Real feeds on loopback, the real classifier, the fake Bot API with python-telegram-bot.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from bot.config import load_config
from bot.delivery import queue_alerts, queue_digest
from bot.notify import TelegramNotifier
from bot.pipeline import poll_round
from bot.ratelimit import RateLimits
from bot.scheduler import Service
from bot.store import Store
from tests.builders import NOW, add, channel, story
from tests.fakes.feed_server import Route
from tests.fakes.telegram_server import TOKEN, parse_html

CLEARVIEW_NL = ("Autoriteit Persoonsgegevens legt Clearview boete op voor gezichtsherkenning",
                "De toezichthouder beboet het bedrijf omdat het biometrische gegevens "
                "verzamelde zonder toestemming.")
CLEARVIEW_EN = ("Dutch DPA fines Clearview over facial recognition database",
                "The Dutch data protection authority fined Clearview AI for collecting "
                "biometric data without consent.")
PARKING = ("Gemeente Utrecht wijzigt privacyverklaring voor parkeerapp",
           "De gemeente past de privacyverklaring aan: locatiegegevens worden voortaan een "
           "jaar bewaard.")


def rss(items: list[tuple[str, str, datetime]], host: str) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://{host}/{n}</link>"
        f"<guid>https://{host}/{n}</guid><description>{summary}</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for n, (title, summary, when) in enumerate(items))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{host}</title><link>https://{host}/</link>{entries}</channel></rss>"
            ).encode()


def setup(feeds, write_config, *, now: datetime, alerts: dict, extra: dict | None = None):
    recent = now - timedelta(hours=2)
    nl = feeds.add("/nl.xml", Route(body=rss([(*CLEARVIEW_NL, recent), (*PARKING, recent)],
                                             "tweakers.example")))
    en = feeds.add("/en.xml", Route(body=rss([(*CLEARVIEW_EN, recent)], "theverge.example")))
    return write_config({
        "feeds": [{"name": "Tweakers", "url": nl, "language": "nl"},
                  {"name": "The Verge", "url": en, "language": "en"}],
        "channels": [channel(alerts=alerts, **(extra or {}))],
    })


def test_a_topic_alert_posts_right_after_the_poll_and_not_again_in_the_digest(
        feeds, telegram, write_config, run_cli):
    now = datetime.now(UTC)  # the CLI reads the real clock; the feed is dated from it
    config = setup(feeds, write_config, now=now, alerts={"topics": ["biometrics"]})
    env = {**telegram.env, "TELEGRAM_RATE_SCALE": "0"}

    polled = run_cli("poll", "--config", str(config), env=env)
    assert polled.code == 0, polled.out + polled.err
    [alert] = [parse_html(s.text) for s in telegram.state.sent]
    assert alert.startswith("⚡ Privacy-alert · 🧬 Biometrie")
    assert "• 🇳🇱 Autoriteit Persoonsgegevens legt Clearview boete op" in alert
    assert "ook: 🇬🇧 The Verge" in alert, "the same story from the other outlet, once"

    digest = run_cli("digest", "--config", str(config), env=env)
    assert digest.code == 0, digest.out + digest.err
    [_, text] = [parse_html(s.text) for s in telegram.state.sent]
    assert "Gemeente Utrecht wijzigt privacyverklaring" in text
    assert "Clearview" not in text, "an alerted story is not repeated"


def test_a_score_threshold_alert_and_the_service_posts_it_after_its_polling_round(
        feeds, telegram, write_config, tmp_path):
    recent = NOW - timedelta(hours=1)
    url = feeds.add("/one.xml", Route(body=rss([(*CLEARVIEW_NL, recent), (*PARKING, recent)],
                                               "tweakers.example")))
    config = load_config(write_config({  # one feed: the service spreads first fetches
        "feeds": [{"name": "Tweakers", "url": url, "language": "nl"}],
        "channels": [channel(alerts={"min_score": 8})]}))
    store = Store(tmp_path / "bot.db")

    async def one_round() -> None:
        notifier = TelegramNotifier(TOKEN, api_url=telegram.url,
                                    limits=RateLimits().scaled(0))
        await notifier.start()
        try:
            await Service(config, store, notifier, clock=lambda: NOW).poll()
        finally:
            await notifier.stop()
    asyncio.run(one_round())
    sent = [parse_html(s.text) for s in telegram.state.sent]
    assert len(sent) == 2, "both stories score 8 or more: one alert each"
    assert all(text.startswith("⚡ Privacy-alert") for text in sent)
    assert sum("Clearview" in text for text in sent) == 1
    assert queue_digest(config, store, config.channels[0], now=NOW) == []
    store.close()


def test_old_news_waits_for_the_digest_instead_of_alerting(feeds, write_config, tmp_path):
    config = load_config(setup(feeds, write_config, now=NOW - timedelta(days=3),
                               alerts={"topics": ["biometrics"]}))
    store = Store(tmp_path / "bot.db")
    asyncio.run(poll_round(config, store, clock=lambda: NOW))
    assert queue_alerts(config, store, config.channels[0], now=NOW) == []
    [digest] = queue_digest(config, store, config.channels[0], now=NOW)
    assert "Clearview" in parse_html(digest.text)
    store.close()


def test_a_channel_without_alert_rules_gets_no_alerts(write_config, tmp_path):
    config = load_config(write_config({"channels": [channel()]}))
    store = Store(tmp_path / "bot.db")
    add(store, story("Heel belangrijk", score=15, published=NOW))
    assert queue_alerts(config, store, config.channels[0], now=NOW) == []
    store.close()


def test_at_most_five_alerts_a_round_the_rest_go_into_the_digest(write_config, tmp_path):
    config = load_config(write_config({"channels": [channel(alerts={"min_score": 1})]}))
    store = Store(tmp_path / "bot.db")
    add(store, *[story(f"Bericht {n} over {name}", orgs=(name,), topics=("health",),
                       published=NOW - timedelta(hours=n))
                 for n, name in enumerate(["Ams", "Bos", "Cor", "Dal", "Eik", "Fen", "Gro"])])
    assert len(queue_alerts(config, store, config.channels[0], now=NOW)) == 5
    [digest] = queue_digest(config, store, config.channels[0], now=NOW)
    assert parse_html(digest.text).splitlines()[1] == "2 berichten"
    store.close()

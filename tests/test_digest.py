"""bot/digest.py and bot/delivery.py: digests people like to read, in Telegram's HTML.

Every rendered message is checked with the fake Bot API's own HTML parser (Telegram's rules:
its tags only, nested and closed, four named entities, 4096 UTF-16 units).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from bot.delivery import compose, queue_digest
from bot.digest import Story, make_stories, render_alert, render_digest, visible_length
from bot.store import Store
from bot.taxonomy import load_taxonomy
from tests.builders import NOW, add, channel, story
from tests.fakes.telegram_server import parse_html, utf16_len

TAXONOMY = load_taxonomy()


def render(stories, *, language="nl", **options):
    messages = render_digest(stories, taxonomy=TAXONOMY, language=language, now=NOW,
                             timezone="Europe/Amsterdam", **options)
    shown = [parse_html(m.text) for m in messages]  # raises as Telegram would refuse
    assert all(utf16_len(text) <= 4096 for text in shown)
    return messages, shown


def test_dutch_channel_gets_dutch_headers_labels_and_dates():
    item = story("Meta past privacybeleid aan", orgs=("Meta",), effective=date(2026, 12, 29),
                 topics=("policy-change", "ai-training"))
    _, [text] = render([Story(item)])
    assert text.splitlines()[:2] == ["🔔 Privacynieuws — 29 november 2026", "1 bericht"]
    assert "🤖 AI-training" in text
    assert "• 🇳🇱 Meta past privacybeleid aan — Tweakers · Meta · gaat in op 29 december" in text


def test_english_channel_gets_english_labels_and_the_year_when_it_differs():
    item = story("Meta updates its privacy policy", language="en", feed="The Verge",
                 orgs=("Meta",), effective=date(2027, 9, 29), topics=("ai-training",))
    _, [text] = render([Story(item)], language="en")
    assert text.startswith("🔔 Privacy news — 29 November 2026\n1 story")
    assert "🤖 AI training" in text
    assert "The Verge · Meta · takes effect 29 September 2027" in text


def test_a_date_that_has_passed_reads_as_in_effect_since():
    item = story("Regels gelden al", effective=date(2026, 11, 1))
    _, [text] = render([Story(item)])
    assert "geldt sinds 1 november" in text


def test_a_bilingual_channel_gets_both_flags_and_each_story_its_language_flag():
    nl, en = story("Nederlands bericht"), story("English story", language="en", feed="NOS")
    _, [text] = render([Story(nl), Story(en)], bilingual=True)
    assert text.startswith("🇳🇱🇬🇧 🔔 Privacynieuws")
    assert "• 🇳🇱 Nederlands bericht" in text and "• 🇬🇧 English story" in text


def test_one_story_from_several_outlets_links_every_source():
    lead = story("X past privacybeleid aan", orgs=("X",), score=9)
    nos = story("X wijzigt voorwaarden", feed="NOS", orgs=("X",), url="https://nos.nl/1")
    verge = story("X’s new privacy policy", feed="The Verge", language="en", orgs=("X",),
                  url="https://www.theverge.com/2")
    [only] = make_stories([[verge, lead, nos]], language="nl")
    assert only.lead is lead, "the lead is in the channel's language"
    messages, [text] = render([only])
    assert "ook: NOS, 🇬🇧 The Verge" in text
    assert '<a href="https://nos.nl/1">NOS</a>' in messages[0].text
    assert '🇬🇧 <a href="https://www.theverge.com/2">The Verge</a>' in messages[0].text
    assert set(messages[0].article_ids) == {lead.id, nos.id, verge.id}


def test_topics_and_stories_go_most_important_first():
    low = story("Klein bericht over gezondheid", topics=("health",), score=4)
    high = story("Groot bericht over kinderen", topics=("children",), score=12)
    mid = story("Middel bericht over kinderen", topics=("children",), score=7)
    widely = story("Veel gedeeld gezondheidsbericht", topics=("health",), score=6)
    copies = [story("Kopie", feed=f"Bron {n}", topics=("health",), score=5) for n in range(3)]
    stories = [Story(low), Story(mid), Story(high), Story(widely, tuple(copies))]
    _, [text] = render(stories)
    order = [line for line in text.splitlines() if line.startswith(("<", "🧒", "🩺", "•"))]
    assert order == [
        "🧒 Kinderen", "• 🇳🇱 Groot bericht over kinderen — Tweakers",
        "• 🇳🇱 Middel bericht over kinderen — Tweakers",
        "🩺 Gezondheid", "• 🇳🇱 Veel gedeeld gezondheidsbericht — Tweakers",
        "• 🇳🇱 Klein bericht over gezondheid — Tweakers"]


def test_a_story_goes_under_the_topic_its_headline_names():
    item = story("Winkel verzamelt biometrische gegevens van klanten",
                 topics=("advertising-tracking", "biometrics"),
                 matches={"advertising-tracking": ("klantprofielen", "advertenties", "cookies"),
                          "biometrics": ("biometrische",)})
    _, [text] = render([Story(item)])
    assert text.splitlines()[3] == "🧬 Biometrie"


def test_a_long_digest_splits_between_stories_into_numbered_messages():
    topics = ["biometrics", "health", "children"]
    stories = [Story(story(f"Bericht {n:03} " + "met een lange kop " * 12, topics=(topic,),
                           score=20 - n / 10))
               for n, topic in zip(range(60), topics * 20, strict=True)]
    messages, shown = render(stories)
    total = len(messages)
    assert total >= 3
    for n, text in enumerate(shown, 1):
        assert text.splitlines()[0] == f"🔔 Privacynieuws — 29 november 2026 ({n}/{total})"
        assert text.splitlines()[-1].startswith("• 🇳🇱 Bericht"), "ends with a whole story"
    headlines = re.findall(r"Bericht (\d{3})", "\n".join(shown))
    assert sorted(headlines) == [f"{n:03}" for n in range(60)], "each story exactly once"
    assert sorted(i for m in messages for i in m.article_ids) == sorted(
        s.lead.id for s in stories)
    header = {"biometrics": "🧬 Biometrie", "health": "🩺 Gezondheid", "children": "🧒 Kinderen"}
    page_2 = shown[1].splitlines()
    first = int(re.findall(r"Bericht (\d{3})", shown[1])[0])
    continued = header[topics[first % 3]]
    assert continued in shown[0].splitlines(), "page 2 goes on with a group of page 1"
    assert next(line for line in page_2[1:] if line) == continued, \
        "a continued group repeats its header"


def test_emoji_and_flags_count_as_telegram_counts_them():
    emoji = "🔥" * 30
    stories = [Story(story(f"{emoji} deal {n}")) for n in range(80)]
    messages, shown = render(stories)
    assert len(messages) > 1
    assert all(utf16_len(text) <= 4096 for text in shown)
    assert all(visible_length(m.text) == utf16_len(text) for m, text in zip(
        messages, shown, strict=True))


@pytest.mark.parametrize("title", [
    "<script>alert(1)</script> steals cookies",
    "Cookie banners & dark patterns: if \"Reject all\" < \"Accept all\"",
    "Unmatched <b>bold and </i> closing tags",
    "Entities &amp; &nbsp; &copy; stay text",
    "A ]]> CDATA end and <!-- a comment",
])
def test_hostile_titles_are_escaped_and_shown_as_written(title):
    item = story(title, feed="Ars <Technica> & Co", orgs=("A&B <Corp>",),
                 url='https://example.com/?a=1&b="2"')
    messages, [text] = render([Story(item)], language="en")
    assert title in text and "Ars <Technica> & Co" in text and "A&B <Corp>" in text
    assert '<a href="https://example.com/?a=1&amp;b=&quot;2&quot;">' in messages[0].text
    alert = render_alert(item, taxonomy=TAXONOMY, language="en")
    assert title in parse_html(alert.text)


def test_only_web_links_become_links():
    item = story("Klik hier", url="javascript:alert(1)")
    messages, [text] = render([Story(item)])
    assert "href" not in messages[0].text and "Klik hier" in text


# ------------------------------------------------------------------- with a store


@pytest.fixture
def store(tmp_path):
    db = Store(tmp_path / "bot.db")
    yield db
    db.close()


@pytest.fixture
def config(write_config):
    from bot.config import load_config

    def make(**values):
        return load_config(write_config({"channels": [channel(**values)]}))
    return make


def test_an_empty_period_sends_nothing_or_the_one_line_the_channel_asks_for(store, config):
    quiet = config()
    assert queue_digest(quiet, store, quiet.channels[0], now=NOW) == []
    assert store.pending() == []
    asks = config(empty_message=True, ui_language="en")
    [message] = queue_digest(asks, store, asks.channels[0], now=NOW)
    assert message.text == "No new privacy news since the last digest."


def test_articles_go_into_one_digest_once(store, config):
    cfg = config()
    add(store, story("Eerste"), story("Tweede", feed="NOS", topics=("health",)))
    first = queue_digest(cfg, store, cfg.channels[0], now=NOW)
    assert len(first) == 1 and "Eerste" in first[0].text and "Tweede" in first[0].text
    assert queue_digest(cfg, store, cfg.channels[0], now=NOW) == []


def test_a_later_copy_of_a_story_the_channel_had_is_not_repeated(store, config):
    cfg = config()
    add(store, story("X past privacybeleid aan", orgs=("X",),
                     topics=("policy-change", "biometrics")))
    queue_digest(cfg, store, cfg.channels[0], now=NOW)
    add(store, story("X’s new privacy policy", language="en", feed="The Verge", orgs=("X",),
                     topics=("policy-change", "biometrics")),
        story("Ander nieuws", feed="NOS", topics=("health",)))
    [message] = queue_digest(cfg, store, cfg.channels[0], now=NOW + timedelta(hours=2))
    assert "Ander nieuws" in message.text and "X’s new" not in message.text
    assert store.undelivered("main", since=None) == [], "the copy is claimed, not left over"


def test_a_channel_shows_only_its_languages_and_topics(store, config):
    cfg = config(languages=["en"], topics=["health"])
    add(store, story("Dutch health", topics=("health",)),
        story("English health", language="en", topics=("health",)),
        story("English biometrics", language="en"))
    [text] = [parse_html(m.text) for m in compose(cfg, store, cfg.channels[0], now=NOW)]
    assert "English health" in text
    assert "Dutch health" not in text and "English biometrics" not in text
    assert text.startswith("🔔 Privacy news"), "a channel reading English gets English labels"


def test_every_4_hours_digest_titles_carry_the_time(store, config):
    cfg = config(digest="every 4 hours")
    add(store, story("Iets"))
    [message] = compose(cfg, store, cfg.channels[0], now=NOW)
    assert parse_html(message.text).startswith("🇳🇱🇬🇧 🔔 Privacynieuws — 29 november 2026, 08:00")

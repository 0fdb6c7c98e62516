"""Every bot command end to end: updates fed through the fake Bot API's getUpdates,
python-telegram-bot as the real client, a real SQLite store in tmp_path.

Private chats (user 42, or 7 who speaks Dutch), a supergroup where 42 is admin and 43 is a
member, and a channel. Articles are stored through the real classifier.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.chats import admin_ids, channel_name
from bot.config import load_config
from bot.errors import ConfigError
from bot.ingest import analyse
from bot.models import Article
from bot.store import Store
from tests.fakes.bot_driver import (
    ANONYMOUS_ADMIN,
    Session,
    channel,
    group,
    private,
    run_bot,
    user,
)
from tests.fakes.telegram_server import Fault

ADMIN = 111         # the bot's administrator (config `admins`)
GROUP = -1001234567  # a supergroup
CHANNEL = -1009876543
NOW = datetime.now(UTC)

ARTICLES = [  # (feed, language, title, summary, url, days ago)
    ("Tweakers", "nl", "X past privacybeleid aan: biometrische gegevens en werkgeschiedenis",
     "De nieuwe regels gaan op 29 september in.", "https://tweakers.net/nieuws/1/x/", 4),
    ("The Verge", "en", "Meta updates its privacy policy to use facial recognition data for AI "
     "training", "The new privacy policy takes effect next month; users can object.",
     "https://www.theverge.com/2026/meta-privacy", 3),
    ("The Verge", "en", "Best VPN deals this week", "Save 70% on a two-year plan.",
     "https://www.theverge.com/deals/vpn", 2),
    ("Security.nl", "nl", "Autoriteit Persoonsgegevens beboet Clearview met 30 miljoen euro",
     "De toezichthouder legt de boete op wegens illegale gezichtsherkenning en schending van "
     "de AVG.", "https://www.security.nl/posting/1/clearview", 1),
]


@pytest.fixture
def config(write_config):
    return load_config(write_config({
        "admins": [ADMIN],
        "feeds": [{"name": "Tweakers", "url": "http://127.0.0.1:9/tweakers.xml",
                   "language": "nl"},
                  {"name": "The Verge", "url": "http://127.0.0.1:9/verge.xml",
                   "enabled": False}],
    }))


@pytest.fixture
def store(tmp_path: Path, config):
    store = Store(tmp_path / "bot.db")
    items = []
    for feed, lang, title, summary, url, days in ARTICLES:
        article = Article(feed=feed, guid=url, url=url, title=title, summary=summary,
                          published=NOW - timedelta(days=days), language=lang)
        items.append((article, analyse(article, config.taxonomy)))
    store.add_articles(items, NOW)
    yield store
    store.close()


@pytest.fixture
def bot(telegram, config, store):
    """bot(scenario, admins=...) runs the scenario against a polling Application."""
    telegram.state.chat_admins[GROUP] = {42}

    def run(scenario, *, admins=frozenset({ADMIN})):
        run_bot(telegram.url, telegram.token, telegram.state, config, store, scenario,
                admins=admins)
    return run


def test_start_and_help_answer_in_the_users_telegram_language(bot):
    async def scenario(s: Session) -> None:
        english = await s.send("/start", sender=user(42, "en-GB"))
        assert "Hello!" in english.visible and "This chat follows no topics yet." in english.visible
        dutch = await s.send("/help", sender=user(7, "nl"))
        assert "Ik volg Nederlands- en Engelstalig technieuws" in dutch.visible
        assert dutch.parse_mode == "HTML"
        unknown = await s.send("/help", sender=user(8, None))
        assert "I follow Dutch and English tech news" in unknown.visible
    bot(scenario)


def test_language_command_switches_the_chat_and_is_remembered(bot, store):
    async def scenario(s: Session) -> None:
        answer = await s.send("/language nl", sender=user(42, "en"))
        assert "Nederlands" in answer.visible
        again = await s.send("/help", sender=user(42, "en"))
        assert "Ik volg" in again.visible
        bad = await s.send("/language fr", sender=user(42, "en"))
        assert "/language nl" in bad.visible
    bot(scenario)
    settings = store.chat_settings(42)
    assert settings is not None and settings.ui_language == "nl"


def test_commands_are_registered_in_english_and_dutch_with_admin_extras(bot, telegram):
    async def scenario(s: Session) -> None:
        return None
    bot(scenario)
    commands = telegram.state.commands
    english = {c["command"]: c["description"] for c in commands[":default"]}
    dutch = {c["command"]: c["description"] for c in commands["nl:default"]}
    assert set(english) == set(dutch) >= {"latest", "search", "why", "topics", "subscribe",
                                          "unsubscribe", "languages", "digest", "language",
                                          "help"}
    assert "status" not in english
    assert english["topics"] != dutch["topics"]
    admin_scopes = [key for key in commands if str(ADMIN) in key]
    assert len(admin_scopes) == 2
    assert all({"status", "feeds"} <= {c["command"] for c in commands[k]} for k in admin_scopes)


def test_subscribe_persists_topics_and_schedules_the_chats_digest(bot, store, tmp_path):
    async def scenario(s: Session) -> None:
        answer = await s.send("/subscribe biometrics Wetgeving")
        assert "Biometrics" in answer.visible and "Legislation" in answer.visible
        assert "daily 08:00" in answer.visible
        jobs = s.service.scheduler.get_jobs(f"digest:{channel_name(42)}")
        assert [(j.unit, str(j.at_time)) for j in jobs] == [("days", "08:00:00")]
        answer = await s.send("/unsubscribe legislation")
        assert "Biometrics" in answer.visible and "Legislation" not in answer.visible
        answer = await s.send("/unsubscribe all")
        assert "no digest" in answer.visible
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(42)}") == []
        await s.send("/subscribe all")
    bot(scenario)
    reopened = Store(tmp_path / "bot.db")
    settings = reopened.chat_settings(42)
    reopened.close()
    assert settings is not None and "biometrics" in settings.topics
    assert len(settings.topics) > 10


def test_subscribe_with_an_unknown_topic_changes_nothing_and_lists_the_topics(bot, store):
    async def scenario(s: Session) -> None:
        answer = await s.send("/subscribe biometrics <b>kaas</b>")
        assert "Unknown topic: <b>kaas</b>" in answer.visible   # shown as text, escaped
        assert "biometrics" in answer.visible and "ai-training" in answer.visible
        usage = await s.send("/subscribe")
        assert "/subscribe all" in usage.visible
    bot(scenario)
    assert store.chat_settings(42) is None


def test_topics_keyboard_toggles_a_topic_for_the_chat(bot, store, telegram):
    async def scenario(s: Session) -> None:
        shown = await s.send("/topics")
        buttons = [b for row in shown.reply_markup["inline_keyboard"] for b in row]
        assert any(b["callback_data"] == "topic:biometrics" and b["text"].startswith("▫️")
                   for b in buttons)
        answer = await s.press("topic:biometrics", chat=private(42), sender=user(42),
                               message_id=shown.message_id)
        assert answer["text"] == "Biometrics: on"
        await s.until(lambda: telegram.state.calls_to("editMessageReplyMarkup") != [],
                      "the keyboard to be redrawn")
        redrawn = json.loads(telegram.state.calls_to("editMessageReplyMarkup")[0]
                             ["reply_markup"])
        assert "✅ 🧬 Biometrics" in [b["text"] for row in redrawn["inline_keyboard"]
                                      for b in row]
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(42)}")
        answer = await s.press("topic:biometrics", chat=private(42), sender=user(42),
                               message_id=shown.message_id)
        assert answer["text"] == "Biometrics: off"
        await s.press("topic:children", chat=private(42), sender=user(42),
                      message_id=shown.message_id)
    bot(scenario)
    settings = store.chat_settings(42)
    assert settings is not None and settings.topics == ("children",)


def test_a_group_member_who_is_not_admin_cannot_change_the_groups_settings(bot, store):
    async def scenario(s: Session) -> None:
        refused = await s.send("/subscribe biometrics", chat=group(GROUP), sender=user(43))
        assert refused.visible == "Only admins of this chat can change its settings."
        shown = await s.send("/topics", chat=group(GROUP), sender=user(43))
        answer = await s.press("topic:biometrics", chat=group(GROUP), sender=user(43),
                               message_id=shown.message_id)
        assert answer["show_alert"] == "true"
        assert answer["text"] == "Only admins of this chat can change its settings."
        assert store.chat_settings(GROUP) is None
        accepted = await s.send("/subscribe biometrics", chat=group(GROUP), sender=user(42))
        assert "Biometrics" in accepted.visible
        anonymous = await s.send("/digest weekdays 07:30", chat=group(GROUP),
                                 sender=ANONYMOUS_ADMIN, sender_chat=group(GROUP))
        assert "weekdays 07:30" in anonymous.visible
    bot(scenario)
    settings = store.chat_settings(GROUP)
    assert settings is not None and settings.digest == "weekdays 07:30"


def test_group_commands_with_the_bots_username_suffix(bot):
    async def scenario(s: Session) -> None:
        answer = await s.send("/latest@privacy_alert_test_bot 1", chat=group(GROUP),
                              sender=user(43))
        assert "Latest privacy news" in answer.visible
        assert await s.ignored("/latest@some_other_bot", chat=group(GROUP), sender=user(43))
    bot(scenario)


def test_channel_posts_are_answered_and_may_change_the_channels_settings(bot, store):
    async def scenario(s: Session) -> None:
        answer = await s.send("/subscribe enforcement", chat=channel(CHANNEL))
        assert "Enforcement" in answer.visible
        latest = await s.send("/latest enforcement", chat=channel(CHANNEL))
        assert "Clearview" in latest.visible
        refused = await s.send("/status", chat=channel(CHANNEL))
        assert "only for the bot's administrators" in refused.visible
    bot(scenario)
    settings = store.chat_settings(CHANNEL)
    assert settings is not None and settings.topics == ("enforcement",)


def test_languages_and_digest_validate_their_arguments(bot, store):
    async def scenario(s: Session) -> None:
        bad = await s.send("/languages nl fr")
        assert "Unknown language: fr" in bad.visible
        usage = await s.send("/languages")
        assert "Now: nl en" in usage.visible
        good = await s.send("/languages nl")
        assert "Articles in: nl" in good.visible
        wrong = await s.send("/digest daily 25:00")
        assert "I don't know that schedule: daily 25:00" in wrong.visible
        wrong = await s.send("/digest every 5 minutes")
        assert "I don't know that schedule" in wrong.visible
        set_ = await s.send("/digest mon,thu 09:15")
        assert "mon,thu 09:15" in set_.visible and "/topics" in set_.visible  # no topics yet
        await s.send("/subscribe biometrics")
        jobs = s.service.scheduler.get_jobs(f"digest:{channel_name(42)}")
        assert sorted((j.start_day, str(j.at_time)) for j in jobs) == [
            ("monday", "09:15:00"), ("thursday", "09:15:00")]
        off = await s.send("/digest off")
        assert "The digest is off" in off.visible
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(42)}") == []
    bot(scenario)
    settings = store.chat_settings(42)
    assert settings is not None
    assert (settings.languages, settings.digest) == (("nl",), "off")


def test_a_subscribed_chat_gets_its_digest_through_the_outbox(bot, store):
    async def scenario(s: Session) -> None:
        await s.send("/languages nl", sender=user(7, "nl"), chat=private(7))
        await s.send("/subscribe biometrics", sender=user(7, "nl"), chat=private(7))
        before = len(s.replies(7))
        await s.service.chat_digest(7)
        digest = s.replies(7)[before:]
        assert len(digest) == 1 and "Privacynieuws" in digest[0].visible
        assert "X past privacybeleid aan" in digest[0].visible
        assert "Clearview" in digest[0].visible
        assert "Meta" not in digest[0].visible            # English: not for this chat
        await s.service.chat_digest(7)
        assert len(s.replies(7)) == before + 1            # nothing new: nothing sent
    bot(scenario)
    assert store.pending() == []


def test_latest_lists_the_newest_relevant_stories_by_topic_and_count(bot):
    async def scenario(s: Session) -> None:
        answer = await s.send("/latest")
        assert answer.visible.index("Clearview") < answer.visible.index("Meta") \
            < answer.visible.index("X past")
        assert "VPN" not in answer.visible
        assert answer.no_preview
        one = await s.send("/latest 1")
        assert "Clearview" in one.visible and "Meta" not in one.visible
        topic = await s.send("/latest ai-training")
        assert "Meta" in topic.visible and "Clearview" not in topic.visible
        for bad in ("/latest 0", "/latest 99", "/latest kaas", "/latest biometrics ai-training"):
            answer = await s.send(bad)
            assert "Usage: /latest [topic] [count]" in answer.visible, bad
    bot(scenario)


def test_search_finds_words_and_answers_bad_syntax_kindly(bot):
    async def scenario(s: Session) -> None:
        found = await s.send("/search gezichtsherkenning")
        assert "Clearview" in found.visible and "#" in found.visible
        prefix = await s.send("/search privacybel")
        assert "X past privacybeleid aan" in prefix.visible
        for query in ('/search "unbalanced', "/search AND OR NOT", "/search NEAR(x y",
                      "/search title:meta*", "/search ^ - +"):
            answer = await s.send(query)
            assert "Traceback" not in answer.visible
            assert answer.visible.startswith(("Nothing found", "Found for",
                                              "I don't understand")), query
        symbols = await s.send("/search && ||")
        assert "I don't understand that search" in symbols.visible
        none = await s.send("/search kaasschaaf")
        assert none.visible == "Nothing found for kaasschaaf."
        usage = await s.send("/search")
        assert "Usage: /search words" in usage.visible
    bot(scenario)


def test_why_explains_an_article_by_number_and_by_link(bot, store):
    clearview = store.article_by_url("https://www.security.nl/posting/1/clearview")
    assert clearview is not None

    async def scenario(s: Session) -> None:
        by_id = await s.send(f"/why {clearview.id}")
        assert "Relevant: yes" in by_id.visible
        assert "Biometrics (gezichtsherkenning)" in by_id.visible
        assert "Enforcement" in by_id.visible
        assert "Relevance cues:" in by_id.visible
        by_link = await s.send("/why https://www.theverge.com/deals/vpn?utm_source=x")
        assert "Best VPN deals" in by_link.visible and "Relevant: no" in by_link.visible
        assert "Cues against" in by_link.visible
        dutch = await s.send(f"/why #{clearview.id}", sender=user(7, "nl"), chat=private(7))
        assert "Relevant: ja" in dutch.visible and "Handhaving" in dutch.visible
        unknown = await s.send("/why 9999")
        assert unknown.visible == "I have not stored that article."
        usage = await s.send("/why kaas")
        assert "Usage: /why 123" in usage.visible
    bot(scenario)


def test_status_and_feeds_are_for_the_bots_admins_only(bot):
    async def scenario(s: Session) -> None:
        for command in ("/status", "/feeds"):
            refused = await s.send(command, sender=user(42))
            assert refused.visible == "Sorry, this command is only for the bot's administrators."
        status = await s.send("/status", sender=user(ADMIN), chat=private(ADMIN))
        assert "FEED" in status.visible and "Tweakers" in status.visible
        assert "4 articles stored" in status.visible
        feeds = await s.send("/feeds", sender=user(ADMIN), chat=private(ADMIN))
        assert "Feeds (2)" in feeds.visible and "The Verge" in feeds.visible
        assert "off" in feeds.visible.split("The Verge")[1]
        in_group = await s.send("/status", chat=group(GROUP), sender=user(ADMIN))
        assert "FEED" in in_group.visible          # the user counts, not the chat
    bot(scenario)


def test_bot_admins_come_from_the_config_and_bot_admins(config):
    assert admin_ids(config, {"BOT_ADMINS": "222, 333"}) == {ADMIN, 222, 333}
    assert admin_ids(config, {}) == {ADMIN}
    with pytest.raises(ConfigError, match="BOT_ADMINS: 'abc' is not a Telegram user id"):
        admin_ids(config, {"BOT_ADMINS": "222,abc"})


def test_a_failing_command_gets_a_short_apology_not_a_traceback(bot, telegram, caplog):
    telegram.state.handlers["getChatMember"] = lambda params: {"nonsense": True}

    async def scenario(s: Session) -> None:
        answer = await s.send("/subscribe biometrics", chat=group(GROUP), sender=user(42))
        assert answer.visible == ("Something went wrong with this command. Please try again "
                                  "later.")
        after = await s.send("/latest 1", chat=group(GROUP), sender=user(42))
        assert "Latest privacy news" in after.visible     # the bot goes on
    bot(scenario)
    assert any(r.name == "bot.commands" and r.levelname == "ERROR" for r in caplog.records)


def test_a_group_admin_check_that_telegram_refuses_counts_as_no(bot, telegram):
    telegram.state.faults.append(Fault(400, "Bad Request: member list is inaccessible",
                                       method="getChatMember"))

    async def scenario(s: Session) -> None:
        answer = await s.send("/subscribe biometrics", chat=group(GROUP), sender=user(42))
        assert answer.visible == "Only admins of this chat can change its settings."
    bot(scenario)


def test_settings_of_one_chat_do_not_leak_into_another(bot, store):
    async def scenario(s: Session) -> None:
        await s.send("/subscribe health", sender=user(42), chat=private(42))
        other = await s.send("/start", sender=user(7, "nl"), chat=private(7))
        assert "Deze chat volgt nog geen onderwerpen." in other.visible
    bot(scenario)
    assert store.chat_settings(7) is None
    assert [c.chat_id for c in store.all_chat_settings()] == [42]


def test_a_command_from_a_chat_that_had_blocked_the_bot_lets_its_digest_through_again(bot,
                                                                                    store):
    async def scenario(s: Session) -> None:
        await s.send("/subscribe enforcement")
        store.set_channel(channel_name(42), blocked=1, blocked_reason="Forbidden: blocked")
        before = len(s.replies(42))
        await s.service.chat_digest(42)
        assert len(s.replies(42)) == before                  # blocked: nothing queued
        await s.send("/start")
        await s.service.chat_digest(42)
        assert "Clearview" in s.replies(42)[-1].visible
    bot(scenario)
    assert not store.channel_info(channel_name(42)).get("blocked")


def test_why_and_digest_answer_bad_arguments_with_a_clear_message(bot, caplog):
    async def scenario(s: Session) -> None:
        usage = await s.send("/why ²")                      # str.isdigit() says yes
        assert "Usage: /why 123" in usage.visible
        huge = await s.send("/why 99999999999999999999999")   # beyond SQLite's integers
        assert huge.visible == "I have not stored that article."
        broken = await s.send("/why http://[::1")
        assert broken.visible == "That is not a valid link. Usage: /why https://…."
        never = await s.send("/digest every 99999999999 hours")
        assert "I don't know that schedule: every 99999999999 hours" in never.visible
    bot(scenario)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_reply_telegram_rate_limits_goes_out_after_the_wait_without_an_apology(
        bot, telegram, caplog):
    async def scenario(s: Session) -> None:
        telegram.state.faults.append(Fault(429, "Too Many Requests: retry after 1",
                                           {"retry_after": 1}, chat=42))
        answer = await s.send("/help")
        assert "I follow Dutch and English tech news" in answer.visible
        assert len(s.replies(42)) == 1
    bot(scenario)
    assert len([p for p in telegram.state.calls_to("sendMessage") if p["chat_id"] == "42"]) == 2
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


OLD_GROUP, SUPERGROUP = -4000123, -1004000123


def test_a_subscribed_group_that_became_a_supergroup_keeps_its_subscription(bot, store,
                                                                           telegram):
    telegram.state.chat_admins.update({OLD_GROUP: {42}, SUPERGROUP: {42}})

    async def scenario(s: Session) -> None:
        await s.send("/subscribe enforcement", chat=group(OLD_GROUP), sender=user(42))
        telegram.state.migrated[OLD_GROUP] = SUPERGROUP      # Telegram answers 400 from now
        await s.service.chat_digest(OLD_GROUP)
        assert "Clearview" in s.replies(SUPERGROUP)[-1].visible
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(OLD_GROUP)}") == []
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(SUPERGROUP)}")
        shown = await s.send("/start", chat=group(SUPERGROUP), sender=user(42))
        assert "This chat follows: ⚖️ Enforcement" in shown.visible
        before = len(s.replies(SUPERGROUP))
        await s.service.chat_digest(SUPERGROUP)
        assert len(s.replies(SUPERGROUP)) == before, "the stories it had are not sent again"
    bot(scenario)
    assert store.chat_settings(OLD_GROUP) is None
    moved = store.chat_settings(SUPERGROUP)
    assert moved is not None and moved.topics == ("enforcement",)
    assert store.pending() == []


def test_the_migration_service_message_moves_a_groups_settings(bot, store, telegram):
    telegram.state.chat_admins.update({OLD_GROUP: {42}, SUPERGROUP: {42}})

    async def scenario(s: Session) -> None:
        await s.send("/subscribe health", chat=group(OLD_GROUP), sender=user(42))
        s.service_message(group(OLD_GROUP), migrate_to_chat_id=SUPERGROUP, **{"from": user(42)})
        s.service_message(group(SUPERGROUP), migrate_from_chat_id=OLD_GROUP,
                          **{"from": user(42)})
        shown = await s.send("/start", chat=group(SUPERGROUP), sender=user(42))
        assert "This chat follows: 🩺 Health" in shown.visible
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(OLD_GROUP)}") == []
        assert s.service.scheduler.get_jobs(f"digest:{channel_name(SUPERGROUP)}")
    bot(scenario)
    assert store.chat_settings(OLD_GROUP) is None
    assert [c.chat_id for c in store.all_chat_settings()] == [SUPERGROUP]

"""bot/outbox.py against the loopback fake Bot API, python-telegram-bot as the real client:
429 storms, 5xx, a blocked chat, a migrated group, unparsable HTML, a message Telegram
refuses, a lost answer, a crash in the middle of a digest, a stop while a message is in
flight. Waits go to a recording `sleep` and a controlled clock: no real time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import BadRequest

from bot.digest import plain_parts
from bot.errors import FatalNotifyError
from bot.notify import ChatRejected, MessageRejected, TelegramNotifier, Unparsable, translate
from bot.outbox import Retry, deliver
from bot.ratelimit import RateLimits
from bot.status import feed_status, format_status
from bot.store import Store
from tests.builders import NOW
from tests.fakes.telegram_server import TOKEN, Fault, Gate

THROTTLED = Fault(429, "Too Many Requests: retry after 3", {"retry_after": 3})
BAD_GATEWAY = Fault(502, "Bad Gateway")


class Sleeps:
    """Records every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


class Crash(Exception):
    """Stands in for the process dying."""


class CrashAfterAccept:
    """Passes messages through; the `at`-th is accepted by Telegram, then the 'process dies'
    before the sender can commit."""

    def __init__(self, inner: TelegramNotifier, at: int) -> None:
        self.inner, self.at, self.calls = inner, at, 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def ready_in(self, chat: str) -> float:
        return self.inner.ready_in(chat)

    async def send(self, chat: str, text: str, *, html: bool = True) -> int:
        self.calls += 1
        message_id = await self.inner.send(chat, text, html=html)
        if self.calls == self.at:
            raise Crash("killed between Telegram's answer and the commit")
        return message_id


@pytest.fixture
def store(tmp_path: Path):
    db = Store(tmp_path / "bot.db")
    yield db
    db.close()


def notifier(telegram) -> TelegramNotifier:
    return TelegramNotifier(TOKEN, api_url=telegram.url, limits=RateLimits().scaled(0))


async def run(store: Store, telegram, **options) -> object:
    bot = options.pop("bot", None) or notifier(telegram)
    await bot.start()
    try:
        return await deliver(store, bot, **options)
    finally:
        await bot.stop()


def queue(store: Store, texts: list[str], *, channel: str = "main",
          chat: str = "@privacy_alerts") -> None:
    store.queue(channel, chat, "digest", [(t, ()) for t in texts], NOW)


def test_429_storm_waits_retry_after_each_time_then_sends_all_in_order(store, telegram):
    telegram.state.faults += [THROTTLED] * 5
    queue(store, ["<b>een</b>", "twee", "drie"])
    sleeps = Sleeps()
    report = asyncio.run(run(store, telegram, sleep=sleeps))
    assert sleeps.waits == [3, 3, 3, 3, 3]
    assert telegram.state.texts("@privacy_alerts") == ["<b>een</b>", "twee", "drie"]
    assert report.sent == 3 and not store.pending()


def test_a_429_longer_than_a_minute_waits_in_the_outbox(store, telegram):
    telegram.state.faults.append(Fault(429, "Too Many Requests: retry after 3600",
                                       {"retry_after": 3600}))
    queue(store, ["een", "twee"])
    clock, sleeps = Clock(), Sleeps()
    report = asyncio.run(run(store, telegram, clock=clock, sleep=sleeps))
    assert report.sent == 0 and sleeps.waits == []
    waiting = store.pending()
    assert [m.text for m in waiting] == ["een", "twee"]
    assert waiting[0].not_before == NOW + timedelta(seconds=3600)
    asyncio.run(run(store, telegram, clock=clock, sleep=sleeps))
    assert telegram.state.texts() == [], "not before its time"
    clock.now += timedelta(hours=1, seconds=1)
    asyncio.run(run(store, telegram, clock=clock, sleep=sleeps))
    assert telegram.state.texts() == ["een", "twee"]


def test_502s_are_retried_with_capped_exponential_backoff(store, telegram):
    telegram.state.faults += [BAD_GATEWAY] * 4
    queue(store, ["na vier keer 502"])
    sleeps = Sleeps()
    report = asyncio.run(run(store, telegram, sleep=sleeps,
                             retry=Retry(attempts=5, base=1.0, cap=3.0)))
    assert report.sent == 1
    assert len(sleeps.waits) == 4
    lows = [1.0, 2.0, 3.0, 3.0]  # base * 2^n, capped at 3, plus up to base/2 of jitter
    assert all(low <= wait <= low + 0.5 for low, wait in zip(lows, sleeps.waits, strict=True))


def test_a_chat_still_failing_keeps_its_messages_queued_across_a_restart(tmp_path, telegram):
    db = tmp_path / "bot.db"
    first = Store(db)
    telegram.state.faults += [Fault(503, "Service Unavailable", chat="@privacy_alerts")] * 3
    queue(first, ["een", "twee"])
    queue(first, ["elders"], channel="other", chat="@other_channel")
    clock = Clock()
    retry = Retry(attempts=3, base=2.0, cap=300.0)
    report = asyncio.run(run(first, telegram, clock=clock, sleep=Sleeps(), retry=retry))
    assert report.failed == 1 and report.sent == 1, "the other channel went on"
    assert telegram.state.texts() == ["elders"]
    waiting = first.pending()
    assert [(m.text, m.attempts) for m in waiting] == [("een", 1), ("twee", 0)]
    assert waiting[0].not_before == NOW + timedelta(seconds=2)
    first.close()

    again = Store(db)  # a restart: the queue is in SQLite
    clock.now += timedelta(seconds=3)
    asyncio.run(run(again, telegram, clock=clock, sleep=Sleeps(), retry=retry))
    assert telegram.state.texts("@privacy_alerts") == ["een", "twee"]
    assert again.pending() == []
    again.close()


def test_a_blocked_chat_stops_is_recorded_and_shown_while_other_channels_go_on(
        store, telegram, write_config):
    gone = telegram.state.chat_id("@gone_channel")
    telegram.state.blocked.add(gone)
    queue(store, ["een", "twee"], channel="gone", chat="@gone_channel")
    queue(store, ["hier"], channel="main")
    clock = Clock()
    report = asyncio.run(run(store, telegram, clock=clock, sleep=Sleeps()))
    assert report.blocked == ["gone"] and report.sent == 1
    assert telegram.state.texts() == ["hier"]
    assert len(telegram.state.calls_to("sendMessage")) == 2, "one try, then it stopped"
    info = store.channel_info("gone")
    assert info["blocked"] == 1 and "403" in info["blocked_reason"]
    assert [m.text for m in store.pending()] == ["een", "twee"]

    config = write_config({"channels": [{"name": "gone", "chat": "@gone_channel"},
                                        {"name": "main", "chat": "@privacy_alerts"}]})
    from bot.config import load_config
    shown = format_status(feed_status(load_config(config), store, now=NOW))
    assert re.search(r"gone +@gone_channel +2 +0 +0 +- +BLOCKED since 2026-11-29 07:00: "
                     r"Telegram refused \(403\)", shown)

    asyncio.run(run(store, telegram, clock=clock, sleep=Sleeps()))
    assert len(telegram.state.calls_to("sendMessage")) == 2, "not tried before the recheck"

    telegram.state.blocked.discard(gone)  # the bot was added back
    clock.now += Retry().recheck
    report = asyncio.run(run(store, telegram, clock=clock, sleep=Sleeps()))
    assert report.unblocked == ["gone"]
    assert telegram.state.texts("@gone_channel") == ["een", "twee"]
    assert not store.channel_info("gone")["blocked"]


def test_a_migrated_group_gets_its_new_id_stored_and_the_message_resent_there(store, telegram):
    telegram.state.migrated[-4000001] = -1004000001
    queue(store, ["een", "twee"], channel="group", chat="-4000001")
    report = asyncio.run(run(store, telegram, sleep=Sleeps()))
    assert report.sent == 2
    assert telegram.state.texts(-1004000001) == ["een", "twee"]
    assert len(telegram.state.calls_to("sendMessage")) == 3, "the old id was tried once"
    assert store.channel_chat("group", -4000001) == "-1004000001"
    assert store.channel_chat("group", "@a_new_chat_in_the_config") == \
        "@a_new_chat_in_the_config", "a changed config still wins"


def test_a_message_telegram_cannot_parse_is_sent_as_plain_text(store, telegram):
    broken = ('<b>Bad <i>nesting</b></i> &amp; &nbsp; '
              '<a href="https://x.example/1?id=1&amp;notify=1&amp;copy=2">link</a>')
    queue(store, [broken])
    report = asyncio.run(run(store, telegram, sleep=Sleeps()))
    assert report.sent == 1
    sent = telegram.state.sent
    assert [s.parse_mode for s in sent] == [None]
    assert sent[0].text == "Bad nesting & \xa0 link (https://x.example/1?id=1&notify=1&copy=2)"


LONG_LINES = [f'<a href="https://example.com/{n:03}?a=1&amp;not=2">Kop nummer {n}</a> — bron'
              for n in range(140)]
LONG_BROKEN = "<b>kapot\n" + "\n".join(LONG_LINES)  # no closing tag; with addresses > 4096
LONG_PLAIN = "kapot\n" + "\n".join(f"Kop nummer {n} (https://example.com/{n:03}?a=1&not=2)"
                                    " — bron" for n in range(140))


def test_a_too_long_unparsable_message_is_sent_as_plain_text_in_parts(store, telegram):
    queue(store, [LONG_BROKEN])
    report = asyncio.run(run(store, telegram, sleep=Sleeps()))
    assert report.sent == 1
    parts = telegram.state.texts()
    assert len(parts) == 2
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "\n".join(parts) == LONG_PLAIN, "nothing dropped"


def test_plain_text_parts_that_wait_go_on_from_the_part_they_got_to(tmp_path, telegram):
    db = tmp_path / "bot.db"
    first = Store(db)
    queue(first, [LONG_BROKEN, "daarna"])
    # the HTML is refused, part 1 goes, part 2 gets a 429 for an hour
    telegram.state.faults.append(Fault(429, "Too Many Requests: retry after 3600",
                                       {"retry_after": 3600}, skip=2))
    clock = Clock()
    report = asyncio.run(run(first, telegram, clock=clock, sleep=Sleeps()))
    assert (report.sent, report.failed) == (0, 1)
    [one] = telegram.state.texts()
    first.close()

    again = Store(db)  # a restart in between: where it got to is in SQLite
    clock.now += timedelta(hours=1, seconds=1)
    report = asyncio.run(run(again, telegram, clock=clock, sleep=Sleeps()))
    assert report.sent == 2
    assert telegram.state.texts() == [one, LONG_PLAIN[len(one) + 1:], "daarna"], \
        "part 1 once, then part 2, then the next message"
    assert [s.parse_mode for s in telegram.state.sent] == [None, None, "HTML"]
    assert again.pending() == []
    again.close()


def test_a_message_telegram_refuses_is_recorded_and_skipped_not_blocking_the_channel(
        store, telegram):
    queue(store, ["<b></b>", "een", "twee"])  # nothing to show: "message text is empty"
    refused = "Bad Request: replied message not found"  # about the message, not the chat
    telegram.state.faults += [Fault(400, refused, skip=1), Fault(400, refused)]  # een, twice
    report = asyncio.run(run(store, telegram, sleep=Sleeps()))
    assert report.blocked == [] and not store.channel_info("main").get("blocked")
    assert telegram.state.texts() == ["twee"]
    assert (report.sent, report.rejected) == (1, 2)
    rows = store.db.execute("SELECT text, status, error FROM outbox ORDER BY id").fetchall()
    assert [(text, status) for text, status, _ in rows] == [
        ("<b></b>", "failed"), ("een", "failed"), ("twee", "sent")]
    assert "message text is empty; nothing to send" in rows[0][2].lower()
    assert "replied message not found" in rows[1][2].lower()


@pytest.mark.parametrize(("description", "kind"), [
    ("Bad Request: chat not found", ChatRejected),
    ("Bad Request: not enough rights to send text messages to the chat", ChatRejected),
    ("Bad Request: have no rights to send a message", ChatRejected),
    ("Bad Request: CHAT_WRITE_FORBIDDEN", ChatRejected),
    ("Bad Request: need administrator rights in the channel chat", ChatRejected),
    ("Bad Request: message text is empty", MessageRejected),
    ("Bad Request: some answer we have never seen", MessageRejected),
    ("Bad Request: can't parse entities: Unsupported start tag", Unparsable),
    ("Bad Request: message is too long", Unparsable),
])
def test_only_a_400_about_the_chat_counts_against_the_chat(description, kind):
    assert type(translate(BadRequest(description))) is kind


def test_plain_text_parts_are_never_empty():
    assert plain_parts("<b></b>") == []
    assert plain_parts("<b> </b>\n\n") == []
    assert plain_parts("één\n" + " " * 5000 + "\ntwee", limit=100) == ["één", "twee"]


def test_a_stop_lets_the_message_in_flight_finish_and_starts_no_other(store, telegram):
    queue(store, ["een", "twee"])
    gate = telegram.state.gate = Gate()
    stop = asyncio.Event()

    async def stopped_in_flight():
        bot = notifier(telegram)
        await bot.start()
        try:
            sending = asyncio.create_task(deliver(store, bot, sleep=Sleeps(), stop=stop))
            assert await asyncio.to_thread(gate.arrived.wait, 15), "'een' is with Telegram"
            stop.set()
            gate.release()
            return await sending
        finally:
            await bot.stop()
    report = asyncio.run(stopped_in_flight())
    assert telegram.state.texts() == ["een"]
    assert report.sent == 1 and report.stopped
    assert [m.text for m in store.pending()] == ["twee"], "'een' is recorded as sent"


def test_a_stop_ends_a_wait_for_a_retry_at_once(store, telegram):
    queue(store, ["een"])
    telegram.state.faults.append(Fault(429, "Too Many Requests: retry after 30",
                                       {"retry_after": 30}))
    stop = asyncio.Event()

    async def stop_while_waiting(seconds: float) -> None:
        stop.set()
        await asyncio.sleep(0)
    report = asyncio.run(run(store, telegram, sleep=stop_while_waiting, stop=stop))
    assert report.stopped and report.sent == 0 and telegram.state.texts() == []
    [waiting] = store.pending()
    assert (waiting.text, waiting.attempts) == ("een", 0), "not counted as a failure"


def test_a_lost_answer_is_the_only_way_to_a_double(store, telegram):
    telegram.state.faults.append(Fault(500, "Internal Server Error", accept=True))
    queue(store, ["een", "twee"])
    asyncio.run(run(store, telegram, sleep=Sleeps()))
    assert telegram.state.texts() == ["een", "een", "twee"]


def test_a_crash_in_the_middle_of_a_digest_loses_nothing(tmp_path, telegram):
    db = tmp_path / "bot.db"
    first = Store(db)
    texts = [f"deel {n}" for n in range(1, 7)]
    queue(first, texts)
    bot = CrashAfterAccept(notifier(telegram), at=3)
    with pytest.raises(Crash):
        asyncio.run(run(first, telegram, bot=bot, sleep=Sleeps()))
    first.close()

    again = Store(db)
    asyncio.run(run(again, telegram, sleep=Sleeps()))
    sent = telegram.state.texts()
    assert set(sent) == set(texts), "nothing lost"
    assert len(sent) - len(set(sent)) == 1, "only the message in flight was sent twice"
    assert sent == texts[:3] + texts[2:]
    again.close()


def test_only_one_sender_works_through_the_outbox_at_a_time(store, telegram):
    telegram.state.latency = 0.05
    queue(store, ["een", "twee", "drie"])

    async def both():
        bot = notifier(telegram)
        await bot.start()
        try:
            return await asyncio.gather(deliver(store, bot, sleep=Sleeps()),
                                        deliver(store, bot, sleep=Sleeps()))
        finally:
            await bot.stop()
    first, second = asyncio.run(both())
    assert (first.busy, second.busy) == (False, True)
    assert telegram.state.texts() == ["een", "twee", "drie"]


def test_a_rejected_token_stops_delivery_with_a_clear_error(store, telegram):
    queue(store, ["een"])

    async def revoked() -> None:
        bot = notifier(telegram)
        await bot.start()
        telegram.state.token = "987654321:RevokedRevokedRevokedRevokedRevoked"  # @BotFather
        try:
            await deliver(store, bot, sleep=Sleeps())
        finally:
            await bot.stop()
    with pytest.raises(FatalNotifyError, match="TELEGRAM_BOT_TOKEN"):
        asyncio.run(revoked())
    assert [m.text for m in store.pending()] == ["een"]


def test_the_token_never_reaches_the_database_or_our_log(tmp_path, telegram, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    store = Store(tmp_path / "bot.db")
    telegram.state.blocked.add(telegram.state.chat_id("@gone_channel"))
    telegram.state.faults += [Fault(502, "Bad Gateway", chat="@privacy_alerts")] * 4
    queue(store, ["een"], channel="gone", chat="@gone_channel")
    queue(store, ["twee"])
    report = asyncio.run(run(store, telegram, sleep=Sleeps(), retry=Retry(attempts=2)))
    store.close()
    secret = TOKEN.split(":")[1]
    for path in tmp_path.glob("bot.db*"):
        assert secret.encode() not in path.read_bytes()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot"))
    assert "403" in ours and "Bad Gateway" in ours
    assert secret not in ours and secret not in " ".join(report.errors)


def test_a_channel_waiting_for_its_flood_limit_does_not_hold_up_another(store, telegram):
    from bot.ratelimit import RateLimiter
    from tests.test_ratelimit import FakeClock
    clock = FakeClock()
    bot = TelegramNotifier(TOKEN, api_url=telegram.url,
                           limiter=RateLimiter(RateLimits(), clock=clock, sleep=clock.sleep))
    queue(store, [f"digest {n}" for n in range(22)], channel="big", chat="@big_channel")
    queue(store, ["alert"], channel="other", chat="@other_channel")
    asyncio.run(run(store, telegram, bot=bot, sleep=Sleeps()))
    sent = telegram.state.texts()
    assert len(sent) == 23
    assert sent.index("alert") < sent.index("digest 20"), "not stuck behind the 20/min limit"
    assert [t for t in sent if t != "alert"] == [f"digest {n}" for n in range(22)]


def test_articles_claimed_by_another_sender_are_not_queued_twice(store):
    from tests.builders import add, story
    first, second = add(store, story("Een"), story("Twee"))
    assert store.queue("main", "@privacy_alerts", "digest", [("een", (first.id,))], NOW)
    assert store.queue("main", "@privacy_alerts", "digest",
                       [("beide", (first.id, second.id))], NOW) is None
    assert [m.text for m in store.pending()] == ["een"]
    assert [a.id for a in store.undelivered("main", since=None)] == [second.id]

"""`python -m bot run` as a real process: polling feeds and answering commands in one loop,
stopping cleanly on SIGINT and SIGTERM (a message in flight is finished, not sent twice),
never writing the bot token to its logs.

Everything is on loopback: the feed server and the fake Bot API. Waiting is for a condition
(a reply arrived, the heartbeat exists) with a generous deadline, never a timed assertion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.store import Store
from tests.builders import NOW
from tests.fakes.feed_server import Route
from tests.fakes.telegram_server import Fault, Gate

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "feeds"
DEADLINE = 60.0  # seconds; only reached when something is broken


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def bot_process(tmp_path: Path, config: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`python -m bot run -v`, its output in files; stopped with SIGINT at the end."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "BOT_"))}
    out = (tmp_path / "stdout.log").open("wb")
    err = (tmp_path / "stderr.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "-v", "--config", str(config)], cwd=ROOT,
        env={**base, "BOT_DB": str(tmp_path / "data" / "bot.db"), **env}, stdout=out, stderr=err)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.close()
        err.close()


def _config(feeds, write_config) -> Path:
    entries = []
    for name, file, lang in [("Tweakers", "tweakers.xml", "nl"),
                             ("The Verge", "theverge.xml", "en")]:
        url = feeds.add(f"/{file}", Route(body=(SAMPLES / file).read_bytes()))
        entries.append({"name": name, "url": url, "language": lang})
    return write_config({"admins": [111], "feeds": entries,
                         "channels": [{"name": "main", "chat": "@privacy_alerts",
                                       "digest": "manual"}]})


def _message(n: int, text: str, *, chat_id: int = 42, user_id: int = 42) -> dict:
    chat = {"id": chat_id, "type": "private", "first_name": "T"} if chat_id > 0 else \
        {"id": chat_id, "type": "supergroup", "title": "Group"}
    return {"message": {"message_id": n, "date": int(time.time()), "chat": chat,
                        "from": {"id": user_id, "is_bot": False, "first_name": "T",
                                 "language_code": "nl"},
                        "text": text, "entities": [{"type": "bot_command", "offset": 0,
                                                    "length": len(text.split()[0])}]}}


def test_run_answers_a_command_session_and_never_logs_the_token(feeds, telegram, tmp_path,
                                                               write_config, run_cli):
    config = _config(feeds, write_config)
    state = telegram.state
    state.chat_admins[-1001234] = {42}
    heartbeat = tmp_path / "data" / "heartbeat"
    env = {**telegram.env, "BOT_ADMINS": "222", "TELEGRAM_RATE_SCALE": "0"}  # answers at once
    with bot_process(tmp_path, config, env) as process:
        wait_for(heartbeat.exists, "the first polling round")
        wait_for(lambda: state.calls_to("getUpdates") != [], "polling Telegram")
        state.faults.append(Fault(502, "Bad Gateway", method="getUpdates"))  # a hiccup
        session = ["/start", "/help", "/language en", "/subscribe biometrics ai-training",
                   "/topics", "/languages nl en", "/digest weekdays 07:30", "/latest 3",
                   "/search privacybeleid", "/search AND (", "/why 1",
                   "/why https://example.org/nope", "/unsubscribe ai-training", "/status",
                   "/feeds"]
        for n, text in enumerate(session, 1):
            state.push_update(_message(n, text))
        state.push_update(_message(90, "/status", chat_id=222, user_id=222))
        state.push_update(_message(91, "/latest@privacy_alert_test_bot 2", chat_id=-1001234))
        state.push_update(_message(92, "/subscribe health", chat_id=-1001234, user_id=43))
        wait_for(lambda: len(state.texts(42)) == len(session) and len(state.texts(222)) == 1
                 and len(state.texts(-1001234)) == 2, "every reply")
        assert run_cli("health", "--config", str(config),
                       env={"BOT_DB": str(tmp_path / "data" / "bot.db")}).code == 0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE) == 0

    replies = state.texts(42)
    assert "Privacynieuws-bot" in replies[1] and "English" in replies[2]
    assert "only for the bot's administrators" in replies[-2]   # 42 is no bot admin
    assert "FEED" in state.texts(222)[0]                         # 222 is, through BOT_ADMINS
    assert "Alleen beheerders van deze chat" in state.texts(-1001234)[1]  # 43 is a member
    assert state.commands[":default"] and state.commands["nl:default"]
    logs = (tmp_path / "stderr.log").read_text() + (tmp_path / "stdout.log").read_text()
    assert "answering commands as @privacy_alert_test_bot" in logs   # the logs were written
    assert telegram.token not in logs
    assert telegram.token.split(":")[1] not in logs
    assert "Traceback" not in logs


def test_run_without_a_token_prints_and_stops_cleanly_on_sigint(feeds, tmp_path, write_config):
    config = _config(feeds, write_config)
    heartbeat = tmp_path / "data" / "heartbeat"
    with bot_process(tmp_path, config, {}) as process:
        wait_for(heartbeat.exists, "the first polling round")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE) == 0
    logs = (tmp_path / "stderr.log").read_text()
    assert "no TELEGRAM_BOT_TOKEN" in logs
    assert "Traceback" not in logs


def test_run_stops_with_a_clear_message_when_another_instance_polls_the_token(
        feeds, telegram, tmp_path, write_config):
    config = _config(feeds, write_config)
    telegram.state.faults.append(Fault(409, "Conflict: terminated by other getUpdates request; "
                                       "make sure that only one bot instance is running",
                                       method="getUpdates"))
    with bot_process(tmp_path, config, telegram.env) as process:
        assert process.wait(timeout=DEADLINE) == 3
    logs = (tmp_path / "stderr.log").read_text()
    assert "error: another instance is polling with this bot token; stop it first" in logs
    assert telegram.token not in logs and "Traceback" not in logs


def test_run_with_a_token_telegram_rejects_stops_at_once_and_does_not_print_it(
        telegram, write_config, run_cli):
    config = write_config({"feeds": []})
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken_xyz"
    result = run_cli("run", "--config", str(config),
                     env={"TELEGRAM_BOT_TOKEN": wrong, "TELEGRAM_API_URL": telegram.url})
    assert result.code == 3
    assert "Telegram rejected the bot token" in result.err
    assert wrong not in result.out + result.err and wrong.split(":")[1] not in result.err


def test_sigterm_while_a_message_is_with_telegram_finishes_it_and_sends_nothing_twice(
        telegram, tmp_path, write_config, run_cli):
    config = write_config({"channels": [{"name": "main", "chat": "@privacy_alerts",
                                         "digest": "manual"}]})
    db = tmp_path / "data" / "bot.db"
    store = Store(db)
    store.queue("main", "@privacy_alerts", "digest", [("een", ()), ("twee", ())], NOW)
    store.close()
    gate = telegram.state.gate = Gate()  # 'een' is held before Telegram accepts it
    stderr = tmp_path / "stderr.log"
    with bot_process(tmp_path, config, telegram.env) as process:
        wait_for(lambda: gate.arrived.is_set() or process.poll() is not None,
                 "'een' to be with Telegram")
        process.send_signal(signal.SIGTERM)  # docker stop
        wait_for(lambda: process.poll() is not None or "stopping" in stderr.read_text(),
                 "the service to begin stopping")
        gate.release()
        assert process.wait(timeout=DEADLINE) == 0, stderr.read_text()

    store = Store(db)
    assert [m.text for m in store.pending()] == ["twee"], \
        "'een' is recorded as sent; 'twee' was not started\n" + stderr.read_text()
    store.close()
    telegram.state.gate = None
    restart = run_cli("digest", "--config", str(config), env={**telegram.env, "BOT_DB": str(db)})
    assert restart.code == 0, restart.out + restart.err
    assert telegram.state.texts() == ["een", "twee"], "nothing sent twice"
    assert telegram.state.undelivered == []


def test_run_takes_telegram_rate_scale_as_every_other_command_does(telegram, tmp_path,
                                                                  write_config):
    config = write_config({"feeds": []})
    with bot_process(tmp_path, config, {**telegram.env, "TELEGRAM_RATE_SCALE": "fast"}) \
            as process:
        code = process.wait(timeout=DEADLINE)
    logs = (tmp_path / "stderr.log").read_text()
    assert code == 2, logs
    assert "TELEGRAM_RATE_SCALE='fast': use a number from 0" in logs

"""The service's jobs (bot/scheduler.py Service) keep the event loop free: the bot commands are
answered on it, so clustering, queueing and the outbox's database work run in worker threads
while another thread (the StoreWriter) holds the store. Against the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.config import load_config
from bot.notify import TelegramNotifier
from bot.ratelimit import RateLimits
from bot.scheduler import Service
from bot.store import Store
from tests.builders import NOW, add, channel, story
from tests.fakes.telegram_server import TOKEN

HOLD = 10.0  # seconds the busy thread keeps the store at most; only reached when broken


@pytest.mark.parametrize("job", ["digest", "deliver"])
def test_a_job_waiting_for_a_busy_store_does_not_stop_the_event_loop(job, tmp_path, telegram,
                                                                      write_config):
    config = load_config(write_config({"channels": [channel(digest="manual")]}))
    store = Store(tmp_path / "bot.db")
    add(store, story("Meta past privacybeleid aan", orgs=("Meta",)))
    if job == "deliver":
        store.queue("main", "@privacy_alerts", "digest", [("al in de wachtrij", ())], NOW)
    busy, loop_ran = threading.Event(), threading.Event()
    answered_while_busy: list[bool] = []

    def writer() -> None:  # the StoreWriter's thread, in the middle of a transaction
        with store.transaction():
            busy.set()
            answered_while_busy.append(loop_ran.wait(HOLD))

    async def main() -> None:
        notifier = TelegramNotifier(TOKEN, api_url=telegram.url, limits=RateLimits().scaled(0))
        await notifier.start()
        service = Service(config, store, notifier, clock=lambda: NOW)
        thread = threading.Thread(target=writer)
        thread.start()
        await asyncio.to_thread(busy.wait)
        running = asyncio.create_task(service.digest(config.channels[0]) if job == "digest"
                                      else service.deliver())
        await asyncio.sleep(0.2)  # the job gets to the store, which it has to wait for
        loop_ran.set()            # ... while this loop goes on (a command is answered)
        await running
        await asyncio.to_thread(thread.join)
        await notifier.stop()

    asyncio.run(main())
    store.close()
    assert answered_while_busy == [True], "the loop ran while the store was busy"
    assert len(telegram.state.texts()) == 1, "and the job did its work after"

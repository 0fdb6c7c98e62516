"""The long-running service: one asyncio loop that ticks a `schedule.Scheduler`.

Jobs: a polling tick every 30 s (each feed's own interval, backoff and Retry-After decide
whether it is fetched), each channel's digest on its schedule in its timezone, each chat's
own digest (subscribed with the bot commands, bot/commands.py) likewise, and an outbox
tick that sends what is queued (and retries what failed). The bot commands' Application
polls Telegram in the same loop (cmd_run); `refresh_chat` reschedules a chat whose
settings changed, `fail` stops the service on a fatal Telegram error. Every job runs as an
asyncio task wrapped so that one failure is logged, not fatal; a job still running is not
started twice.
feedparser and the classifier run in a worker thread (pipeline.poll_round), and so do
clustering and queueing digests and alerts and the outbox's database work (the Store is
thread-safe; another thread may hold it for a while), so the loop never stalls and Telegram
commands stay responsive; the Telegram sends themselves run on the loop.
On stop (SIGTERM, SIGINT) polling and digest jobs are cancelled, but a message that is with
Telegram is finished and recorded as sent (for at most STOP_GRACE seconds), so a restart
does not send it again; the rest of the outbox goes at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import schedule

from bot.chats import channel_for, channel_name
from bot.config import ChannelConfig, Config
from bot.delivery import queue_all_alerts, queue_digest
from bot.errors import FatalNotifyError
from bot.notify import Notifier
from bot.outbox import deliver
from bot.pipeline import Clock, Poller, utcnow
from bot.store import Store

log = logging.getLogger(__name__)

POLL_TICK = 30      # seconds between looks at which feeds are due
DELIVER_TICK = 20   # seconds between looks at the outbox
STOP_GRACE = 20     # seconds a stop waits for the message in flight (docker: 30 s, deploy/)


def add_digest_jobs(scheduler: schedule.Scheduler, channel: ChannelConfig, timezone: str,
                    job: Callable[[], object]) -> list[schedule.Job]:
    """Register a channel's digest schedule ('daily 08:00', 'weekdays 07:30', ...)."""
    spec = channel.digest
    jobs: list[schedule.Job] = []
    if spec.manual:
        return jobs
    if spec.every is not None:
        minutes = int(spec.every.total_seconds() // 60)
        jobs.append(scheduler.every(minutes).minutes.do(job))
    else:
        for day in spec.days or ("day",):
            for at in spec.times:
                unit = getattr(scheduler.every(), day)
                jobs.append(unit.at(at, timezone).do(job))
    for j in jobs:
        j.tag(f"digest:{channel.name}")
    return jobs


class Service:
    def __init__(self, config: Config, store: Store, notifier: Notifier, *,
                 clock: Clock = utcnow, heartbeat: Path | None = None) -> None:
        self.config, self.store, self.notifier, self.clock = config, store, notifier, clock
        self.heartbeat = heartbeat
        self.scheduler = schedule.Scheduler()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._fatal: BaseException | None = None
        self._sending = asyncio.Lock()  # one outbox sender at a time: no message sent twice
        self._delivery: asyncio.Task[None] | None = None  # the outbox round now running
        self.stopping = asyncio.Event()  # set by run() on stop: no new message is started
        self.poller = Poller(config)  # one fetcher and parse pool for the service's lifetime

    def setup(self) -> None:
        self.scheduler.clear()
        self.scheduler.every(POLL_TICK).seconds.do(self.spawn, "poll", self.poll)
        self.scheduler.every(DELIVER_TICK).seconds.do(self.spawn, "deliver", self.deliver)
        for channel in self.config.channels:
            if channel.enabled:
                add_digest_jobs(self.scheduler, channel, self.config.channel_timezone(channel),
                                self._digest_job(channel))
        for settings in self.store.all_chat_settings():
            self.refresh_chat(settings.chat_id)

    def refresh_chat(self, chat_id: int) -> None:
        """(Re)schedule the digest of a chat subscribed with the bot commands."""
        name = channel_name(chat_id)
        self.scheduler.clear(f"digest:{name}")
        settings = self.store.chat_settings(chat_id)
        if settings is None or not settings.subscribed:
            return
        channel = channel_for(settings)

        def job() -> None:
            self.spawn(f"digest:{name}", lambda: self.chat_digest(chat_id))
        add_digest_jobs(self.scheduler, channel, self.config.channel_timezone(channel), job)

    async def chat_digest(self, chat_id: int) -> None:
        """A chat's digest with its settings as they are now; none when it unsubscribed."""
        settings = await asyncio.to_thread(self.store.chat_settings, chat_id)
        if settings is not None and settings.subscribed:
            await self.digest(channel_for(settings))

    def fail(self, exc: BaseException) -> None:
        """Stop at the next tick and raise `exc` from run() (e.g. 409 from the updater)."""
        log.critical("%s", exc)
        self._fatal = exc

    def _digest_job(self, channel: ChannelConfig) -> Callable[[], None]:
        def job() -> None:
            self.spawn(f"digest:{channel.name}", lambda: self.digest(channel))
        return job

    def spawn(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        running = self._running.get(name)
        if running and not running.done():
            log.info("%s is still running; not starting it again", name)
            return
        self._running[name] = asyncio.get_running_loop().create_task(self._guard(name, job))

    async def _guard(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except FatalNotifyError as exc:
            log.critical("%s: %s", name, exc)
            self._fatal = exc
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed; the service goes on", name)

    async def poll(self) -> None:
        report = await self.poller.poll(self.store, clock=self.clock)
        if report.outcomes:
            log.info("%s", report.summary())
        if self.heartbeat:
            self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
            self.heartbeat.write_text(datetime.now(UTC).isoformat(timespec="seconds"))
        # issue 5: instant alerts go out right after the round that found them
        if report.relevant and await asyncio.to_thread(queue_all_alerts, self.config,
                                                       self.store, now=self.clock()):
            await self.deliver()

    async def digest(self, channel: ChannelConfig) -> None:
        messages = await asyncio.to_thread(queue_digest, self.config, self.store, channel,
                                           now=self.clock())
        log.info("digest for %s: %d messages queued", channel.name, len(messages))
        await self.deliver()

    async def deliver(self) -> None:
        """Send what is queued. The round is a task of its own: a caller cancelled because
        the service stops does not cancel a send that is with Telegram (run() waits for it)."""
        async with self._sending:
            if self.stopping.is_set():
                return
            self._delivery = asyncio.get_running_loop().create_task(self._deliver_round())
            await asyncio.shield(self._delivery)

    async def _deliver_round(self) -> None:
        report = await deliver(self.store, self.notifier, clock=self.clock, stop=self.stopping)
        for old, new in report.moved_chats:  # a group became a supergroup: its digest moves
            self.refresh_chat(old)
            self.refresh_chat(new)
        if report.sent or report.failed or report.rejected:
            log.info("sent %d messages, %d failed, %d refused", report.sent, report.failed,
                     report.rejected)

    async def _stop_jobs(self) -> None:
        """Cancel polling and digests; let the outbox finish the message in flight, for at
        most STOP_GRACE seconds (cancelled later, it may be sent again after a restart)."""
        self.stopping.set()
        delivery = self._delivery
        busy = delivery is not None and not delivery.done()
        log.info("stopping%s", f": finishing the message being sent (at most {STOP_GRACE} s)"
                 if busy else "")
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        if delivery is not None and busy:
            done, _ = await asyncio.wait({delivery}, timeout=STOP_GRACE)
            if not done:
                log.warning("the message being sent did not finish within %d s; it may be "
                            "sent again after the restart", STOP_GRACE)
                delivery.cancel()
            results = await asyncio.gather(delivery, return_exceptions=True)
            if isinstance(results[0], FatalNotifyError) and self._fatal is None:
                self._fatal = results[0]

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the scheduler until `stop` is set or a fatal Telegram error occurs."""
        self.setup()
        self.spawn("poll", self.poll)  # don't wait 30 s for the first round
        self.spawn("deliver", self.deliver)  # what a previous run left in the outbox
        while not stop.is_set() and self._fatal is None:
            self.scheduler.run_pending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        await self._stop_jobs()
        await self.poller.aclose()  # its connections and parse workers, once polling stopped
        if self._fatal is not None:
            raise self._fatal

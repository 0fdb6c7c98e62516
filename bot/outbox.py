"""The outbox sender: queued messages go out in order, each marked sent with its message id.

A digest or alert is first written to the outbox (store.queue, which also claims its
articles, in one transaction); `deliver` sends what is pending, per channel in order, and
records each message's Telegram id in the transaction that marks it sent. After `kill -9` at
any moment nothing is lost: a message is sent again only if the process died between
Telegram accepting it and that commit. One sender at a time: an advisory lock beside the
database keeps a `digest` command and the service from sending the same message twice (the
kernel drops the lock when a process dies).

Telegram's answers decide what happens next (shared/telegram.md, bot/notify.py):

    RateLimited   429: wait `retry_after` and send again; a wait longer than
                  `Retry.max_inline_wait` is kept in the outbox (not_before) instead
    Transient     5xx, timeouts, connection errors: retried with capped exponential backoff
                  (tenacity); after `Retry.attempts` tries the message stays queued until
                  base * 2^n seconds later (at most `Retry.cap`), across restarts too
    ChatMoved     the group became a supergroup: the new id is stored and the message resent
                  (a chat subscribed with the bot commands takes its settings along)
    ChatBlocked   403, and ChatRejected (chat not found, no rights): the channel is marked
                  blocked (logged, shown by `status`); its messages stay queued and the first
                  is tried again every `Retry.recheck`, or at once by `digest`
    Unparsable    Telegram could not parse our HTML (or refused the message for another
    MessageRejected  reason of its own, 400): sent again as plain text, in parts if it is too
                  long; the parts and how many went out are stored, so a wait in between
                  goes on with the next part. Refused as plain text too, the message is
                  recorded as failed (`status`) and the channel goes on: never blocked by it

When the service stops (`stop`), the message in flight is finished and recorded, no other is
started, and a wait for a retry ends at once: what is left goes at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential, wait_random

from bot.chats import channel_name, chat_of
from bot.digest import plain_parts
from bot.errors import FatalNotifyError, NotifyError
from bot.models import OutboxMessage
from bot.notify import (
    ChatBlocked,
    ChatMoved,
    ChatRejected,
    MessageRejected,
    Notifier,
    RateLimited,
    Transient,
    Unparsable,
)
from bot.pipeline import Clock, utcnow
from bot.store import Store

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """How long to keep trying (shared/telegram.md, "Errors and what to do")."""

    attempts: int = 4                 # tries in a row for a network error or 5xx
    base: float = 2.0                 # first backoff, seconds; doubles each time ...
    cap: float = 300.0                # ... up to this
    max_inline_wait: float = 60.0     # a longer 429 wait is kept in the outbox instead
    max_rate_limited: int = 20        # 429s in a row for one message before it waits
    max_moves: int = 3                # ChatMigrated answers in a row (a loop is a bug)
    recheck: timedelta = timedelta(hours=1)  # how often a blocked channel is tried again

    def delay(self, failures: int) -> float:
        """Seconds until the next round may try a message that failed `failures` times."""
        return min(self.cap, self.base * 2 ** max(failures - 1, 0))


class Outcome(Enum):
    SENT = "sent"
    SKIPPED = "skipped"     # refused for good (recorded as failed); later messages go on
    WAITING = "waiting"     # kept in the outbox for later; later messages wait too
    BLOCKED = "blocked"
    STOPPED = "stopped"     # the service is stopping; the message waits for the next start


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0           # messages that could not go now (they stay queued)
    rejected: int = 0         # messages Telegram refused for good (status 'failed')
    blocked: list[str] = field(default_factory=list)
    unblocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    moved_chats: list[tuple[int, int]] = field(default_factory=list)  # (old id, new id)
    busy: bool = False        # another sender holds the outbox
    stopped: bool = False     # asked to stop before everything went


class _Stopping(Exception):
    """A wait (backoff, 429) was cut short: the service is stopping."""


async def _db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A store call off the event loop: another thread (the StoreWriter) may hold the store
    for a while, and Telegram commands are answered on this loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def deliver(store: Store, notifier: Notifier, *, clock: Clock = utcnow,
                  retry: Retry = Retry(), channels: Sequence[str] | None = None,
                  sleep: Sleep = asyncio.sleep, probe_blocked: bool = False,
                  stop: asyncio.Event | None = None) -> DeliveryReport:
    """Send what is pending, per channel in order; messages queued meanwhile go too.
    One message is in flight at a time, so a crash can double at most that one; between
    channels, the one whose next message the flood limits let go soonest goes first.
    `probe_blocked`: try a blocked channel now instead of at its next recheck. `stop`: once
    set, the message in flight is finished (and recorded) and no other is started; a wait
    for a retry ends at once."""
    report = DeliveryReport()
    with _sender_lock(store.path) as locked:
        if not locked:
            report.busy = True
            log.info("another sender is working through the outbox; leaving it to that one")
            return report
        sender = _Sender(store, notifier, clock=clock, retry=retry, sleep=sleep,
                         report=report, stop=stop or asyncio.Event())
        seen: set[int] = set()
        for _ in range(5):  # new messages queued meanwhile (alerts after a poll) go too
            pending = [m for m in await _db(store.pending) if m.id not in seen
                       and (channels is None or m.channel in channels)]
            if not pending or sender.stopping:
                break
            seen.update(m.id for m in pending)
            await sender.send_pending(pending, probe_blocked=probe_blocked)
        report.stopped = sender.stopping and bool(await _db(store.pending))
    return report


@dataclass
class _Progress:
    """Where one message is: its chat, its parts (the HTML text, or the plain-text
    fallback), how many of them Telegram has, and the answers so far."""

    message: OutboxMessage
    chat: str
    parts: list[str]
    html: bool = True
    done: int = 0
    message_id: int = 0
    rate_limited: int = 0
    moves: int = 0


@dataclass
class _Sender:
    """One delivery: what its messages share."""

    store: Store
    notifier: Notifier
    clock: Clock
    retry: Retry
    sleep: Sleep
    report: DeliveryReport
    stop: asyncio.Event
    moved: dict[str, str] = field(default_factory=dict)     # chat -> its supergroup
    renamed: dict[str, str] = field(default_factory=dict)   # chat:OLD -> chat:NEW

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    async def wait(self, seconds: float) -> None:
        """`sleep`, cut short by a stop (then _Stopping: nothing more is sent)."""
        waiting = asyncio.ensure_future(self.sleep(seconds))
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopped.cancel()
        if self.stopping:
            raise _Stopping
        waiting.result()  # a sleep that failed says so

    async def send_pending(self, pending: list[OutboxMessage], *, probe_blocked: bool) -> None:
        queues: dict[str, deque[OutboxMessage]] = {}
        for message in pending:
            queues.setdefault(message.channel, deque()).append(message)
        blocked = set()
        for name in list(queues):
            info = await _db(self.store.channel_info, name)
            if info.get("blocked"):
                retry_at = info.get("retry_at")
                if not probe_blocked and retry_at and \
                        datetime.fromisoformat(retry_at) > self.clock():
                    del queues[name]  # stays queued; `status` shows the channel as blocked
                else:
                    blocked.add(name)
        order = {name: n for n, name in enumerate(queues)}
        while queues and not self.stopping:
            name = min(queues, key=lambda n: (self.ready_in(queues[n][0]), order[n]))
            message = queues[name].popleft()
            if message.not_before and message.not_before > self.clock():
                del queues[name]  # keep the order: later messages wait too
                continue
            outcome = await self.send_one(message)
            if outcome not in (Outcome.SENT, Outcome.SKIPPED) or not queues[name]:
                del queues[name]
            if outcome is Outcome.SENT and name in blocked:
                blocked.discard(name)
                await _db(self.store.unblock_channel, self.renamed.get(name, name))
                self.report.unblocked.append(name)
                log.warning("channel %s: the bot can post there again; sending what waited",
                            name)

    def ready_in(self, message: OutboxMessage) -> float:
        return self.notifier.ready_in(self.moved.get(message.chat, message.chat))

    async def send_one(self, message: OutboxMessage) -> Outcome:
        """One message, in HTML or (after Telegram did not take it) as plain-text parts,
        going on from the part a previous round got to."""
        message = replace(message, channel=self.renamed.get(message.channel, message.channel))
        at = _Progress(message, self.moved.get(message.chat, message.chat), [message.text])
        if message.parts:
            at.parts, at.html, at.done = list(message.parts), False, message.parts_sent
        try:
            while True:
                try:
                    await self.send_parts(at)
                except FatalNotifyError:
                    raise
                except NotifyError as exc:
                    outcome = await self.react(at, exc)
                    if outcome is None:
                        continue  # send again now
                    return outcome
                break
        except _Stopping:  # a wait for a retry was cut short
            return Outcome.STOPPED
        if at.done < len(at.parts):
            return Outcome.STOPPED  # between parts: where it got to is stored
        await _db(self.store.mark_sent, at.message.id, at.message_id, self.clock())
        self.report.sent += 1
        return Outcome.SENT

    async def send_parts(self, at: _Progress) -> None:
        while at.done < len(at.parts) and not (at.done and self.stopping):
            at.message_id = await _send_with_backoff(self.notifier, at.chat, at.parts[at.done],
                                                     at.html, retry=self.retry, sleep=self.wait)
            at.done += 1
            if at.done < len(at.parts):
                await _db(self.store.mark_parts_sent, at.message.id, at.done)

    async def react(self, at: _Progress, exc: NotifyError) -> Outcome | None:
        """What Telegram's answer means for this message; None: send it again now."""
        message, retry = at.message, self.retry
        if isinstance(exc, RateLimited):
            at.rate_limited += 1
            if exc.retry_after > retry.max_inline_wait or \
                    at.rate_limited > retry.max_rate_limited:
                return await self.later(message, str(exc), exc.retry_after)
            log.warning("chat %s: %s", at.chat, exc)
            await self.wait(exc.retry_after)
            return None
        if isinstance(exc, ChatMoved):
            at.moves += 1
            if at.moves > retry.max_moves:
                return await self.later(message, str(exc), retry.delay(message.attempts + 1))
            at.message = await self.move(message, at.chat, exc)
            at.chat = self.moved[at.chat]
            return None
        if isinstance(exc, Unparsable | MessageRejected):
            return await self.as_plain_text(at, exc)
        if isinstance(exc, ChatBlocked | ChatRejected):
            return await self.block(message, at.chat, exc)
        return await self.later(message, f"{exc} (kept, will retry)",  # Transient
                                retry.delay(message.attempts + 1))

    async def as_plain_text(self, at: _Progress, exc: NotifyError) -> Outcome | None:
        """Telegram did not take the HTML: the plain text, in parts (stored with the message);
        refused as plain text too, the message is skipped."""
        if not at.html:
            return await self.skip(at.message, str(exc))
        log.error("message %d: Telegram did not take its HTML (%s); sending it as plain "
                  "text", at.message.id, exc)
        at.parts, at.html, at.done = plain_parts(at.message.text), False, 0
        if not at.parts:
            return await self.skip(at.message, f"{exc}; nothing to send as plain text")
        await _db(self.store.start_plain_parts, at.message.id, at.parts)
        return None

    async def move(self, message: OutboxMessage, chat: str, exc: ChatMoved) -> OutboxMessage:
        """The group became a supergroup: send there from now on. A chat subscribed with
        the bot commands takes its settings and the stories it had along (chat:NEW)."""
        new_chat = str(exc.new_chat_id)
        log.warning("channel %s: %s; sending there from now on", message.channel, exc)
        old_id = chat_of(message.channel)
        if old_id is None:
            await _db(self.store.move_channel, message.channel, chat, new_chat)
        else:
            new_name = channel_name(exc.new_chat_id)
            await _db(self.store.move_chat, old_id, exc.new_chat_id,
                      old_channel=message.channel, new_channel=new_name)
            self.renamed[message.channel] = new_name
            self.report.moved_chats.append((old_id, exc.new_chat_id))
            message = replace(message, channel=new_name)
        self.moved[message.chat] = self.moved[chat] = new_chat
        return message

    async def block(self, message: OutboxMessage, chat: str, exc: Exception) -> Outcome:
        log.error("channel %s (chat %s): %s; nothing more goes there until it works "
                  "again (tried every %s, or now with `digest --channel %s`); see `status`",
                  message.channel, chat, exc, self.retry.recheck, message.channel)
        now = self.clock()
        await _db(self.store.block_channel, message.channel, str(exc), now=now,
                  retry_at=now + self.retry.recheck)
        await _db(self.store.mark_attempt, message.id, str(exc), None)
        self.report.blocked.append(message.channel)
        self.report.errors.append(f"{message.channel}: {exc}")
        return Outcome.BLOCKED

    async def skip(self, message: OutboxMessage, error: str) -> Outcome:
        """Telegram refuses this message, also as plain text: record it and go on with the
        channel's next one (the channel itself is fine)."""
        log.error("channel %s: message %d is not sent: %s", message.channel, message.id, error)
        await _db(self.store.mark_failed, message.id, error)
        self.report.rejected += 1
        self.report.errors.append(f"{message.channel}: {error}")
        return Outcome.SKIPPED

    async def later(self, message: OutboxMessage, error: str, seconds: float) -> Outcome:
        not_before = self.clock() + timedelta(seconds=seconds)
        log.warning("channel %s: message %d waits until %s: %s", message.channel, message.id,
                    f"{not_before:%Y-%m-%d %H:%M:%S} UTC", error)
        await _db(self.store.mark_attempt, message.id, error, not_before)
        self.report.failed += 1
        self.report.errors.append(f"{message.channel}: {error}")
        return Outcome.WAITING


async def _send_with_backoff(notifier: Notifier, chat: str, text: str, html_mode: bool, *,
                             retry: Retry, sleep: Sleep) -> int:
    """notifier.send, retried on Transient with capped exponential backoff and jitter."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Transient), reraise=True,
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential(multiplier=retry.base, max=retry.cap)
        + wait_random(0, retry.base / 2),
        sleep=sleep,
        before_sleep=lambda state: log.warning(
            "chat %s: %s; try %d of %d", chat,
            state.outcome.exception() if state.outcome else "?", state.attempt_number + 1,
            retry.attempts))
    async for attempt in retrying:
        with attempt:
            return await notifier.send(chat, text, html=html_mode)
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


@contextlib.contextmanager
def _sender_lock(db_path: Path) -> Iterator[bool]:
    """An exclusive, non-blocking flock beside the database; yields whether we hold it."""
    if str(db_path) == ":memory:":
        yield True
        return
    handle: IO[str] = open(f"{db_path}.send-lock", "a")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()

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
    ChatBlocked   403, and ChatRejected (chat not found, no rights): the channel is marked
                  blocked (logged, shown by `status`); its messages stay queued and the first
                  is tried again every `Retry.recheck`, or at once by `digest`
    Unparsable    Telegram could not parse our HTML: sent again as plain text, in parts if
                  it is too long, so the message is never dropped
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import IO

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential, wait_random

from bot.digest import plain_parts
from bot.errors import FatalNotifyError
from bot.models import OutboxMessage
from bot.notify import (
    ChatBlocked,
    ChatMoved,
    ChatRejected,
    Notifier,
    RateLimited,
    Transient,
    Unparsable,
)
from bot.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    WAITING = "waiting"     # kept in the outbox for later; later messages wait too
    BLOCKED = "blocked"


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0           # messages that could not go now (they stay queued)
    blocked: list[str] = field(default_factory=list)
    unblocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    busy: bool = False        # another sender holds the outbox


async def deliver(store: Store, notifier: Notifier, *, clock: Clock = utcnow,
                  retry: Retry = Retry(), channels: Sequence[str] | None = None,
                  sleep: Sleep = asyncio.sleep, probe_blocked: bool = False) -> DeliveryReport:
    """Send what is pending, per channel in order; messages queued meanwhile go too.
    One message is in flight at a time, so a crash can double at most that one; between
    channels, the one whose next message the flood limits let go soonest goes first.
    `probe_blocked`: try a blocked channel now instead of at its next recheck."""
    report = DeliveryReport()
    with _sender_lock(store.path) as locked:
        if not locked:
            report.busy = True
            log.info("another sender is working through the outbox; leaving it to that one")
            return report
        seen: set[int] = set()
        for _ in range(5):  # new messages queued meanwhile (alerts after a poll) go too
            pending = [m for m in store.pending() if m.id not in seen
                       and (channels is None or m.channel in channels)]
            if not pending:
                break
            seen.update(m.id for m in pending)
            await _send_pending(store, notifier, pending, clock=clock, retry=retry,
                                sleep=sleep, report=report, probe_blocked=probe_blocked)
    return report


async def _send_pending(store: Store, notifier: Notifier, pending: list[OutboxMessage], *,
                        clock: Clock, retry: Retry, sleep: Sleep, report: DeliveryReport,
                        probe_blocked: bool) -> None:
    queues: dict[str, deque[OutboxMessage]] = {}
    for message in pending:
        queues.setdefault(message.channel, deque()).append(message)
    blocked = set()
    for name in list(queues):
        info = store.channel_info(name)
        if info.get("blocked"):
            retry_at = info.get("retry_at")
            if not probe_blocked and retry_at and datetime.fromisoformat(retry_at) > clock():
                del queues[name]  # stays queued; `status` shows the channel as blocked
            else:
                blocked.add(name)
    moved: dict[str, str] = {}  # groups that became supergroups while we were at it
    order = {name: n for n, name in enumerate(queues)}
    ready_in = getattr(notifier, "ready_in", None)
    while queues:
        name = min(queues, key=lambda n: (ready_in(moved.get(queues[n][0].chat,
                                                             queues[n][0].chat))
                                          if ready_in else 0.0, order[n]))
        message = queues[name].popleft()
        if message.not_before and message.not_before > clock():
            del queues[name]  # keep the order: later messages wait too
            continue
        outcome = await _send_one(store, notifier, message, clock=clock, retry=retry,
                                  sleep=sleep, report=report, moved=moved)
        if outcome is not Outcome.SENT or not queues[name]:
            del queues[name]
        if outcome is Outcome.SENT and name in blocked:
            blocked.discard(name)
            store.unblock_channel(name)
            report.unblocked.append(name)
            log.warning("channel %s: the bot can post there again; sending what waited", name)


async def _send_one(store: Store, notifier: Notifier, message: OutboxMessage, *,
                    clock: Clock, retry: Retry, sleep: Sleep, report: DeliveryReport,
                    moved: dict[str, str]) -> Outcome:
    chat, parts, html_mode = moved.get(message.chat, message.chat), [message.text], True
    rate_limited = moves = done = message_id = 0
    while True:
        try:
            while done < len(parts):  # more than one part only for the plain-text fallback
                message_id = await _send_with_backoff(notifier, chat, parts[done], html_mode,
                                                      retry=retry, sleep=sleep)
                done += 1
        except RateLimited as exc:
            rate_limited += 1
            if exc.retry_after > retry.max_inline_wait or rate_limited > retry.max_rate_limited:
                return _wait(store, message, report, str(exc),
                             clock() + timedelta(seconds=exc.retry_after))
            log.warning("chat %s: %s", chat, exc)
            await sleep(exc.retry_after)
            continue
        except ChatMoved as exc:
            moves += 1
            if moves > retry.max_moves:
                return _wait(store, message, report, str(exc),
                             clock() + timedelta(seconds=retry.delay(message.attempts + 1)))
            log.warning("channel %s: %s; sending there from now on", message.channel, exc)
            store.move_channel(message.channel, chat, str(exc.new_chat_id))
            moved[message.chat] = moved[chat] = str(exc.new_chat_id)
            chat = str(exc.new_chat_id)
            continue
        except Unparsable as exc:
            if not html_mode:
                return _wait(store, message, report, str(exc),
                             clock() + timedelta(seconds=retry.delay(message.attempts + 1)))
            log.error("message %d could not be parsed by Telegram (%s); sending it as plain "
                      "text", message.id, exc)
            parts, html_mode, done = plain_parts(message.text), False, 0
            continue
        except (ChatBlocked, ChatRejected) as exc:
            log.error("channel %s (chat %s): %s; nothing more goes there until it works "
                      "again (tried every %s, or now with `digest --channel %s`); see `status`",
                      message.channel, chat, exc, retry.recheck, message.channel)
            store.block_channel(message.channel, str(exc), now=clock(),
                                retry_at=clock() + retry.recheck)
            store.mark_attempt(message.id, str(exc), None)
            report.blocked.append(message.channel)
            report.errors.append(f"{message.channel}: {exc}")
            return Outcome.BLOCKED
        except Transient as exc:
            failures = message.attempts + 1
            return _wait(store, message, report, f"{exc} (kept, will retry)",
                         clock() + timedelta(seconds=retry.delay(failures)))
        except FatalNotifyError:
            raise
        store.mark_sent(message.id, message_id, clock())
        report.sent += 1
        return Outcome.SENT


def _wait(store: Store, message: OutboxMessage, report: DeliveryReport, error: str,
          not_before: datetime) -> Outcome:
    log.warning("channel %s: message %d waits until %s: %s", message.channel, message.id,
                f"{not_before:%Y-%m-%d %H:%M:%S} UTC", error)
    store.mark_attempt(message.id, error, not_before)
    report.failed += 1
    report.errors.append(f"{message.channel}: {error}")
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

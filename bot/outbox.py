"""The outbox sender: queued messages go out in order, each marked sent with its message id.

Telegram's answers decide what happens next (shared/telegram.md, bot/notify.py): wait on 429,
follow a migrated group, stop a blocked chat and record it, resend an unparsable message as
plain text, back off on network errors; what cannot be sent now stays queued for the next try,
across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.digest import plain_text
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


def utcnow() -> datetime:
    return datetime.now(UTC)



@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pacing:
    """Telegram's guides (shared/telegram.md): ~1 message/s per chat; backoff on errors."""

    per_chat: float = 1.0
    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 300.0


async def deliver(store: Store, notifier: Notifier, *, clock: Clock = utcnow,
                  pacing: Pacing = Pacing(), channels: Sequence[str] | None = None,
                  sleep: Callable[[float], object] = asyncio.sleep) -> DeliveryReport:
    """Send pending messages in order; stop a chat at its first unsendable message."""
    report = DeliveryReport()
    pending = store.pending()
    stopped: set[str] = set()
    last_sent: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    for message in pending:
        if channels is not None and message.channel not in channels:
            continue
        if message.channel in stopped:
            continue
        if store.channel_info(message.channel).get("blocked"):
            stopped.add(message.channel)
            continue
        if message.not_before and message.not_before > clock():
            stopped.add(message.channel)  # keep the order: later messages wait too
            continue
        wait = pacing.per_chat - (loop.time() - last_sent.get(message.chat, -1e9))
        if wait > 0:
            await sleep(wait)  # type: ignore[misc]
        ok = await _send_one(store, notifier, message, clock=clock, pacing=pacing,
                             sleep=sleep, report=report)
        last_sent[message.chat] = loop.time()
        if not ok:
            stopped.add(message.channel)
    return report


async def _send_one(store: Store, notifier: Notifier, message: OutboxMessage, *,
                    clock: Clock, pacing: Pacing, sleep: Callable[[float], object],
                    report: DeliveryReport) -> bool:
    chat, html_mode, attempts = message.chat, True, message.attempts
    text = message.text
    while True:
        try:
            message_id = await notifier.send(chat, text, html=html_mode)
        except RateLimited as exc:
            log.warning("chat %s: %s", chat, exc)
            await sleep(exc.retry_after)  # type: ignore[misc]
            continue
        except ChatMoved as exc:
            log.warning("channel %s: %s; sending there from now on", message.channel, exc)
            chat = str(exc.new_chat_id)
            store.set_channel(message.channel, chat=chat)
            continue
        except Unparsable as exc:
            if not html_mode:
                return _give_up(store, message.id, str(exc), report)
            log.error("message %d could not be parsed by Telegram (%s); resending as plain "
                      "text", message.id, exc)
            text, html_mode = plain_text(text), False
            continue
        except ChatBlocked as exc:
            log.error("channel %s (chat %s): %s; no more messages go there until the bot is "
                      "added back and `status` is cleared", message.channel, chat, exc)
            store.set_channel(message.channel, blocked=1, blocked_reason=str(exc))
            store.mark_attempt(message.id, str(exc), None)
            report.blocked.append(message.channel)
            return False
        except ChatRejected as exc:
            log.error("channel %s (chat %s): %s", message.channel, chat, exc)
            store.mark_attempt(message.id, str(exc), None)
            report.errors.append(f"{message.channel}: {exc}")
            report.failed += 1
            return False
        except Transient as exc:
            attempts += 1
            delay = min(pacing.backoff_cap, pacing.backoff_base * 2 ** (attempts - 1))
            delay *= 1 + random.random() * 0.2
            if attempts >= pacing.max_attempts:
                store.mark_attempt(message.id, str(exc),
                                   clock() + timedelta(seconds=delay))
                report.errors.append(f"{message.channel}: {exc} (kept, will retry)")
                report.failed += 1
                return False
            log.warning("chat %s: %s; retrying in %.0f s", chat, exc, delay)
            await sleep(delay)  # type: ignore[misc]
            continue
        except FatalNotifyError:
            raise
        store.mark_sent(message.id, message_id, clock())
        report.sent += 1
        return True


def _give_up(store: Store, outbox_id: int, error: str, report: DeliveryReport) -> bool:
    store.mark_attempt(outbox_id, error, None, status="failed")
    report.errors.append(error)
    report.failed += 1
    return False



"""Sending messages: to Telegram through python-telegram-bot's Bot, or to stdout.

The only module that imports telegram. Every message waits for its slot in Telegram's flood
limits first (bot/ratelimit.py; one limiter per notifier, shared by all senders). Telegram's
answers become our own exceptions so the sender (bot/outbox.py) can act on them as
shared/telegram.md says:

    RetryAfter        -> RateLimited(retry_after)   wait, then send again
    ChatMigrated      -> ChatMoved(new_chat_id)     store the new id, send there
    Forbidden         -> ChatBlocked                stop sending to that chat, report it
    BadRequest parse  -> Unparsable                 resend as plain text
    BadRequest chat   -> ChatRejected               chat not found, no rights: a configuration
                                                    error; report it, don't retry
    BadRequest other  -> MessageRejected            something about this one message (e.g.
                                                    "message text is empty"): resend it as
                                                    plain text or skip it, never block the chat
    InvalidToken      -> FatalNotifyError           stop with a clear message
    NetworkError      -> Transient                  retry with capped backoff
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TextIO

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.digest import visible_text
from bot.errors import FatalNotifyError, NotifyError, redact
from bot.ratelimit import RateLimiter, RateLimits

log = logging.getLogger(__name__)


class RateLimited(NotifyError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Telegram asks to wait {retry_after:g} s (429)")
        self.retry_after = retry_after


class ChatMoved(NotifyError):
    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"the group became a supergroup with id {new_chat_id}")
        self.new_chat_id = new_chat_id


class ChatBlocked(NotifyError):
    """403: the bot was removed, blocked, or is not a member."""


class ChatRejected(NotifyError):
    """400 for the chat itself: not found, not enough rights."""


class MessageRejected(NotifyError):
    """Any other 400: about this message, not the chat; the chat's other messages go on."""


class Unparsable(NotifyError):
    """400 can't parse entities / too long: our bug; the sender falls back to plain text."""


class Transient(NotifyError):
    """5xx, timeouts, connection errors: try again later."""


class Notifier(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(self, chat: str, text: str, *, html: bool = True) -> int: ...
    def ready_in(self, chat: str) -> float:
        """Seconds until the flood limits let a message to `chat` go (0: now)."""
        ...


@dataclass
class ConsoleNotifier:
    """No token: print what would be posted, as the chat would show it (`digest --dry-run`
    prints the HTML itself), so every command is usable offline."""

    stream: TextIO = sys.stdout
    _next_id: int = 1

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def ready_in(self, chat: str) -> float:
        return 0.0

    async def send(self, chat: str, text: str, *, html: bool = True) -> int:
        shown = visible_text(text) if html else text
        self.stream.write(f"--- to {chat} ---\n{shown}\n\n")
        self.stream.flush()
        self._next_id += 1
        return self._next_id - 1


class TelegramNotifier:
    """python-telegram-bot's Bot; `api_url` points it at a self-hosted or fake Bot API."""

    def __init__(self, token: str = "", *, api_url: str | None = None,
                 timeout: float = 30.0, bot: Bot | None = None,
                 limits: RateLimits | None = None, limiter: RateLimiter | None = None) -> None:
        use_timedelta_periods()
        self.username: str | None = None
        self.limiter = limiter or RateLimiter(limits or RateLimits())
        # The Application's Bot runs every request through its rate limiter too
        # (bot/application.py, sharing this notifier's limiter): this notifier waits for its
        # slot itself and handles 429 itself, so it tells that one to let its messages pass.
        self._limited_here: dict[str, Any] = {}
        if bot is not None:  # the bot commands' Application: one Bot, one connection pool
            self.bot = bot
            if getattr(bot, "rate_limiter", None) is not None:
                self._limited_here = {"rate_limit_args": True}
            return
        base = f"{api_url.rstrip('/')}/bot" if api_url else "https://api.telegram.org/bot"
        request = HTTPXRequest(connection_pool_size=8, read_timeout=timeout,
                               write_timeout=timeout, connect_timeout=min(timeout, 10.0))
        self.bot = Bot(token, base_url=base, request=request)

    async def start(self) -> None:
        try:
            await self.bot.initialize()  # getMe: fails fast on a wrong token
        except InvalidToken:
            raise FatalNotifyError("Telegram rejected the bot token (TELEGRAM_BOT_TOKEN): "
                                   "check it with @BotFather") from None
        except TelegramError as exc:
            raise NotifyError(f"cannot reach Telegram: {redact(str(exc))}") from None
        self.username = self.bot.username

    async def stop(self) -> None:
        try:
            await self.bot.shutdown()
        except TelegramError as exc:  # shutting down must never fail the command
            log.warning("closing the Telegram connection: %s", redact(str(exc)))

    def ready_in(self, chat: str) -> float:
        """Seconds until the flood limits let a message to `chat` go."""
        return self.limiter.delay(chat)

    async def send(self, chat: str, text: str, *, html: bool = True) -> int:
        chat_id: str | int = int(chat) if chat.lstrip("-").isdigit() else chat
        await self.limiter.wait(chat)
        try:
            message = await self.bot.send_message(
                chat_id=chat_id, text=text, parse_mode=ParseMode.HTML if html else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True), **self._limited_here)
        except Exception as exc:
            raise translate(exc) from None
        return message.message_id


# 400 descriptions that are about the chat, not the message (Bot API answers; the upper-case
# ones are MTProto error names Telegram passes on), lower-cased.
CHAT_ERRORS = (
    "chat not found", "chat_id is empty", "not enough rights", "have no rights",
    "need administrator rights", "bot is not a member", "chat_write_forbidden",
    "chat_restricted", "chat_admin_required", "chat_send_plain_forbidden", "peer_id_invalid",
    "channel_private", "user_banned_in_channel", "chat was deactivated",
    "group chat was deleted",
)


def use_timedelta_periods() -> None:
    """Opt in to python-telegram-bot's coming behaviour: time periods such as
    RetryAfter.retry_after as timedelta. Without it, PTB 22.2+ emits a deprecation warning from
    inside its own RetryAfter on every 429. Called before a Bot is made; a user's own setting
    of PTB_TIMEDELTA is left as it is (retry_after_seconds reads both kinds)."""
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for, whether PTB gives it as seconds or as a timedelta."""
    wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def translate(exc: BaseException) -> NotifyError:
    """A python-telegram-bot exception as one of ours (BadRequest before NetworkError)."""
    text = redact(str(exc))
    if isinstance(exc, RetryAfter):
        return RateLimited(retry_after_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return ChatMoved(int(exc.new_chat_id))
    if isinstance(exc, InvalidToken):
        return FatalNotifyError("Telegram rejected the bot token (TELEGRAM_BOT_TOKEN)")
    if isinstance(exc, Conflict):
        return FatalNotifyError("another instance is polling with this bot token; stop it first")
    if isinstance(exc, Forbidden):
        return ChatBlocked(f"Telegram refused (403): {text}")
    if isinstance(exc, BadRequest):
        lowered = text.lower()
        if "parse entities" in lowered or "too long" in lowered or "entity" in lowered:
            return Unparsable(f"Telegram could not parse the message: {text}")
        if any(cue in lowered for cue in CHAT_ERRORS):
            return ChatRejected(f"Telegram refused the chat (400): {text}")
        return MessageRejected(f"Telegram refused the message (400): {text}")
    if isinstance(exc, NetworkError | TimedOut):
        return Transient(f"Telegram unreachable: {text}")
    if isinstance(exc, TelegramError):
        return Transient(f"Telegram error: {text}")
    return Transient(f"{type(exc).__name__}: {text}")

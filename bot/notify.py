"""Sending messages: to Telegram through python-telegram-bot's Bot, or to stdout.

The only module that imports telegram. Every message waits for its slot in Telegram's flood
limits first (bot/ratelimit.py; one limiter per notifier, shared by all senders). Telegram's
answers become our own exceptions so the sender (bot/outbox.py) can act on them as
shared/telegram.md says:

    RetryAfter        -> RateLimited(retry_after)   wait, then send again
    ChatMigrated      -> ChatMoved(new_chat_id)     store the new id, send there
    Forbidden         -> ChatBlocked                stop sending to that chat, report it
    BadRequest parse  -> Unparsable                 resend as plain text
    BadRequest other  -> ChatRejected               configuration error: report, don't retry
    InvalidToken      -> FatalNotifyError           stop with a clear message
    NetworkError      -> Transient                  retry with capped backoff
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO

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


class Unparsable(NotifyError):
    """400 can't parse entities / too long: our bug; the sender falls back to plain text."""


class Transient(NotifyError):
    """5xx, timeouts, connection errors: try again later."""


class Notifier(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(self, chat: str, text: str, *, html: bool = True) -> int: ...


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
        self.username: str | None = None
        self.limiter = limiter or RateLimiter(limits or RateLimits())
        if bot is not None:  # the bot commands' Application: one Bot, one connection pool
            self.bot = bot
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
                link_preview_options=LinkPreviewOptions(is_disabled=True))
        except Exception as exc:
            raise translate(exc) from None
        return message.message_id


def translate(exc: BaseException) -> NotifyError:
    """A python-telegram-bot exception as one of ours (BadRequest before NetworkError)."""
    text = redact(str(exc))
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return RateLimited(seconds)
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
        return ChatRejected(f"Telegram refused the message (400): {text}")
    if isinstance(exc, NetworkError | TimedOut):
        return Transient(f"Telegram unreachable: {text}")
    if isinstance(exc, TelegramError):
        return Transient(f"Telegram error: {text}")
    return Transient(f"{type(exc).__name__}: {text}")

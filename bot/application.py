"""The python-telegram-bot Application inside `run`: built, commands registered, polling.

    limiter = RateLimiter(RateLimits.from_env(env))      # digests and replies share it
    app = build_application(token, api_url=env.get("TELEGRAM_API_URL"), limiter=limiter)
    notifier = TelegramNotifier(bot=app.bot, limiter=limiter)   # the outbox's sends
    commands.install_handlers(app, deps)                 # bot/commands.py
    async with polling(app, admins=admins, on_fatal=service.fail):
        await service.run(stop)                           # the same asyncio loop

Polling runs as a task of the Application's Updater in the loop that also ticks the
scheduler (bot/scheduler.py), so commands are answered while feeds are polled.

Every request of the Application's Bot passes `SharedLimits` (python-telegram-bot's
rate-limiter hook): a command's reply waits for its slot in the same limiter as the digests
(one bot, one set of Telegram flood limits, TELEGRAM_RATE_SCALE), and a 429 is waited out
and the reply sent again, instead of failing the command (shared/telegram.md). The outbox
waits for its own slots and handles its own 429s (bot/outbox.py); its sends pass straight on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import Conflict, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter
from telegram.request import HTTPXRequest

from bot.errors import FatalNotifyError, redact
from bot.i18n import ADMIN_COMMANDS, PUBLIC_COMMANDS
from bot.notify import retry_after_seconds, translate, use_timedelta_periods
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
ALLOWED_UPDATES = ("message", "channel_post", "callback_query")


# Methods that post into a chat: they take a slot of the chat's flood limits.
POSTING = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto",
                     "sendDocument", "copyMessage", "forwardMessage"})


class SharedLimits(BaseRateLimiter[bool]):
    """python-telegram-bot's rate-limiter hook around our RateLimiter (bot/ratelimit.py).

    A message into a chat waits for its slot; a 429 (RetryAfter) of at most `max_wait`
    seconds is waited out and the request sent again, up to `max_retries` times; a longer
    one, or one more, is raised (the handler fails; bot/commands.py does not answer that
    with yet another message). `rate_limit_args=True`: the caller waited for its slot and
    handles 429 itself (TelegramNotifier, for the outbox)."""

    def __init__(self, limiter: RateLimiter, *, max_retries: int = 2,
                 max_wait: float = 30.0) -> None:
        self.limiter, self.max_retries, self.max_wait = limiter, max_retries, max_wait

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
            self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
            kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
            rate_limit_args: bool | None) -> Any:
        if rate_limit_args:
            return await callback(*args, **kwargs)
        chat = data.get("chat_id")
        for attempt in range(self.max_retries + 1):
            if chat is not None and endpoint in POSTING:
                await self.limiter.wait(str(chat))
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                if attempt == self.max_retries or seconds > self.max_wait:
                    raise
                log.warning("%s to chat %s: Telegram asks to wait %g s (429); sending it "
                            "again then", endpoint, chat, seconds)
                await self.limiter.sleep(seconds)
        raise AssertionError("unreachable: the last attempt returns or raises")


def build_application(token: str, *, api_url: str | None = None,
                      limiter: RateLimiter | None = None) -> App:
    """The Application; `api_url` is a self-hosted Bot API server's root (or a test fake);
    `limiter`: the flood limits it shares with the outbox's notifier (default: Telegram's)."""
    use_timedelta_periods()
    base = f"{api_url.rstrip('/')}/bot" if api_url else "https://api.telegram.org/bot"
    return (ApplicationBuilder().token(token).base_url(base)
            .request(HTTPXRequest(connection_pool_size=8, connect_timeout=10.0,
                                  read_timeout=30.0, write_timeout=30.0))
            .get_updates_request(HTTPXRequest(connect_timeout=10.0, read_timeout=10.0))
            .rate_limiter(SharedLimits(limiter or RateLimiter()))
            .build())


async def register_commands(app: App, admins: frozenset[int]) -> None:
    """setMyCommands in English (the default) and Dutch; admins also see /status and /feeds
    in their private chat with the bot. Failing to register is not fatal."""
    for scope, entries in [(None, PUBLIC_COMMANDS)] + [
            (BotCommandScopeChat(a), PUBLIC_COMMANDS + ADMIN_COMMANDS) for a in sorted(admins)]:
        for language in (None, "nl"):
            commands = [BotCommand(c, nl if language == "nl" else en) for c, nl, en in entries]
            try:
                await app.bot.set_my_commands(commands, scope=scope, language_code=language)
            except TelegramError as exc:
                log.warning("could not register the bot commands%s: %s",
                            f" for admin {scope.chat_id}" if scope else "", redact(str(exc)))


@asynccontextmanager
async def polling(app: App, *, admins: frozenset[int],
                  on_fatal: Callable[[BaseException], None]) -> AsyncIterator[None]:
    """Initialize the Application, register the commands, long-poll until the block ends.
    Another instance polling with the same token (409 Conflict) is fatal."""
    def on_poll_error(exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            on_fatal(FatalNotifyError("another instance is polling with this bot token; "
                                      "stop it first"))
        else:
            log.warning("polling Telegram for commands: %s", redact(str(exc)))

    try:
        await app.initialize()  # getMe: fails fast on a wrong token
    except TelegramError as exc:
        await app.bot.request.shutdown()  # Bot.shutdown() skips a Bot that never initialized
        raise translate(exc) from None
    try:
        await register_commands(app, admins)
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES,
                                        error_callback=on_poll_error)
        await app.start()
        log.info("answering commands as @%s", app.bot.username)
        try:
            yield
        finally:
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
    finally:
        await app.shutdown()

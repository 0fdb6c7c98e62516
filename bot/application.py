"""The python-telegram-bot Application inside `run`: built, commands registered, polling.

    app = build_application(token, api_url=env.get("TELEGRAM_API_URL"))
    commands.install_handlers(app, deps)               # bot/commands.py
    async with polling(app, admins=admins, on_fatal=service.fail):
        await service.run(stop)                         # the same asyncio loop

Polling runs as a task of the Application's Updater in the loop that also ticks the
scheduler (bot/scheduler.py), so commands are answered while feeds are polled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import Conflict, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot.errors import FatalNotifyError, redact
from bot.i18n import ADMIN_COMMANDS, PUBLIC_COMMANDS
from bot.notify import translate

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
ALLOWED_UPDATES = ("message", "channel_post", "callback_query")


def build_application(token: str, *, api_url: str | None = None) -> App:
    """The Application; `api_url` is a self-hosted Bot API server's root (or a test fake)."""
    base = f"{api_url.rstrip('/')}/bot" if api_url else "https://api.telegram.org/bot"
    return (ApplicationBuilder().token(token).base_url(base)
            .request(HTTPXRequest(connection_pool_size=8, connect_timeout=10.0,
                                  read_timeout=30.0, write_timeout=30.0))
            .get_updates_request(HTTPXRequest(connect_timeout=10.0, read_timeout=10.0))
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

"""Drives the bot commands end to end: updates go into the fake Bot API's getUpdates queue,
python-telegram-bot (the real client) polls them, our handlers answer through sendMessage.

`run_bot(telegram, config, store, scenario)` wires the Application exactly as `run` does
(bot/cli_commands.py, cmd_run) and runs `scenario(session)` while it polls. Waiting is for a
condition (a reply arrived), with a generous deadline; nothing asserts how long it took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.application import build_application, polling
from bot.commands import Deps, install_handlers
from bot.config import Config
from bot.notify import TelegramNotifier
from bot.ratelimit import RateLimiter, RateLimits
from bot.scheduler import Service
from bot.store import Store
from tests.fakes.telegram_server import BOT_ID, Sent, TelegramState

DEADLINE = 15.0  # seconds; only reached when something is broken


def user(user_id: int, language: str | None = "en", name: str = "Tester") -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": name}
    if language:
        found["language_code"] = language
    return found


def private(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "Tester"}


def group(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "Privacy club"}


# Telegram's stand-in sender for a group's anonymous admins (their message has sender_chat)
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                   "username": "GroupAnonymousBot"}


def channel(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "channel", "title": "Privacy channel"}


@dataclass
class Session:
    state: TelegramState
    store: Store
    service: Service
    config: Config
    _message_id: int = 1000
    _seen: dict[int, int] = field(default_factory=dict)

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.02)

    def replies(self, chat_id: int) -> list[Sent]:
        with self.state.lock:
            return [s for s in self.state.sent if s.chat_id == chat_id]

    def _update(self, text: str, chat: dict[str, Any], sender: dict[str, Any] | None,
                sender_chat: dict[str, Any] | None) -> dict[str, Any]:
        self._message_id += 1
        word = text.split()[0] if text.split() else ""
        message: dict[str, Any] = {"message_id": self._message_id, "date": int(time.time()),
                                   "chat": chat, "text": text}
        if word.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
        if sender:
            message["from"] = sender
        if sender_chat:
            message["sender_chat"] = sender_chat
        kind = "channel_post" if chat["type"] == "channel" else "message"
        return {kind: message}

    async def send(self, text: str, *, chat: dict[str, Any] | None = None,
                   sender: dict[str, Any] | None = None,
                   sender_chat: dict[str, Any] | None = None) -> Sent:
        """Post `text` and return the bot's reply there. Default: user 42 (English) in a
        private chat; a channel post has no sender."""
        if sender is None and not (chat and chat["type"] == "channel"):
            sender = user(42)
        chat = chat or private(sender["id"] if sender else 42)
        before = len(self.replies(chat["id"]))
        self.state.push_update(self._update(text, chat, sender, sender_chat))
        await self.until(lambda: len(self.replies(chat["id"])) > before, f"a reply to {text!r}")
        return self.replies(chat["id"])[before]

    def service_message(self, chat: dict[str, Any], **fields: Any) -> None:
        """A message Telegram itself posts in a chat (e.g. migrate_to_chat_id)."""
        self._message_id += 1
        self.state.push_update({"message": {"message_id": self._message_id,
                                            "date": int(time.time()), "chat": chat, **fields}})

    async def ignored(self, text: str, *, chat: dict[str, Any],
                      sender: dict[str, Any] | None) -> bool:
        """Post `text`, then a bare /why as a marker: True when only the marker was answered
        (updates are handled in order, so an answer to `text` would come first)."""
        before = len(self.replies(chat["id"]))
        self.state.push_update(self._update(text, chat, sender, None))
        self.state.push_update(self._update("/why", chat, sender, None))
        await self.until(lambda: any("/why 123" in s.visible
                                     for s in self.replies(chat["id"])[before:]),
                         "the answer to the marker")
        return len(self.replies(chat["id"])) == before + 1

    async def press(self, data: str, *, chat: dict[str, Any], sender: dict[str, Any],
                    message_id: int) -> dict[str, Any]:
        """Press an inline button; returns the bot's answerCallbackQuery parameters."""
        before = len(self.state.calls_to("answerCallbackQuery"))
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                   "text": "topics", "from": {"id": BOT_ID, "is_bot": True,
                                              "first_name": "Privacy Alerts"}}
        self.state.push_update({"callback_query": {
            "id": f"cq{self._message_id}", "from": sender, "chat_instance": "1",
            "data": data, "message": message}})
        await self.until(lambda: len(self.state.calls_to("answerCallbackQuery")) > before,
                         f"an answer to the button {data!r}")
        return self.state.calls_to("answerCallbackQuery")[before]


Scenario = Callable[[Session], Awaitable[None]]


def run_bot(url: str, token: str, state: TelegramState, config: Config, store: Store,
            scenario: Scenario, *, admins: frozenset[int] = frozenset()) -> None:
    """The Application and the Service as `run` wires them, with `scenario` as the main loop."""
    async def main() -> None:
        limiter = RateLimiter(RateLimits().scaled(0))  # TELEGRAM_RATE_SCALE=0
        app = build_application(token, api_url=url, limiter=limiter)
        notifier = TelegramNotifier(bot=app.bot, limiter=limiter)
        service = Service(config, store, notifier)
        install_handlers(app, Deps(config, store, admins, service.refresh_chat))
        async with polling(app, admins=admins, on_fatal=service.fail):
            await scenario(Session(state, store, service, config))

    asyncio.run(main())

"""Bot commands: small typed handlers, one per command, and the table that wires them.

Commands work in private chats, in groups (also as /latest@botname) and in channels
(channel posts). Anyone may read (/start /help /latest /search /why /topics); only the
chat's own administrators change its settings (/topics buttons, /subscribe /unsubscribe
/languages /digest /language); only the bot's administrators (config `admins`, env
BOT_ADMINS) see /status and /feeds, everyone else gets a polite refusal. Stored per chat:
its id and settings, nothing else. Answers are Telegram HTML in the chat's language
(bot/i18n.py); bot/application.py runs the Application that calls these handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import chats, replies
from bot.application import App
from bot.config import LANGUAGES, Config
from bot.digest import escape
from bot.errors import redact
from bot.i18n import language_of, text
from bot.models import ChatSettings
from bot.parse import clean_url
from bot.pipeline import utcnow
from bot.status import feed_status, format_status
from bot.store import Store

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
Who = Literal["anyone", "chat admins", "bot admins"]
_BUTTON = "topic:"
MAX_ARTICLE_ID = 2**63 - 1  # SQLite's largest integer: a bigger number is no article


@dataclass(frozen=True)
class Deps:
    """What the handlers need; `on_change(chat_id)` reschedules that chat's digest."""

    config: Config
    store: Store
    admins: frozenset[int]
    on_change: Callable[[int], None]


@dataclass(frozen=True)
class Ask:
    """One command: who asks where, in which language, with which words."""

    deps: Deps
    chat_id: int
    language: str
    message: Message
    args: list[str]

    @property
    def settings(self) -> ChatSettings:
        return self.deps.store.chat_settings(self.chat_id) or ChatSettings(self.chat_id)

    async def reply(self, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
        await self.message.reply_text(html, parse_mode=ParseMode.HTML, reply_markup=markup,
                                      link_preview_options=LinkPreviewOptions(is_disabled=True))

    async def say(self, key: str, **values: object) -> None:
        await self.reply(text(self.language, key, **values))


def _deps(context: Context) -> Deps:
    return cast(Deps, context.bot_data["deps"])


def _language(deps: Deps, update: Update, chat_id: int) -> str:
    """The chat's chosen language (/language), else the user's Telegram language."""
    settings = deps.store.chat_settings(chat_id)
    if settings and settings.ui_language:
        return settings.ui_language
    user = update.effective_user
    return language_of(user.language_code if user else None)


def _ask(update: Update, context: Context) -> Ask:
    message, chat = update.effective_message, update.effective_chat
    assert message is not None and chat is not None  # a command always comes in a message
    deps = _deps(context)
    return Ask(deps, chat.id, _language(deps, update, chat.id), message, list(context.args or []))


async def _is_chat_admin(update: Update, context: Context, *, button: bool = False) -> bool:
    """May this sender change this chat's settings? Private: the user; channel posts: only
    admins can post; a group's anonymous admin posts as the group; else ask Telegram."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    if chat is None:
        return False
    if not button:
        if chat.type == ChatType.CHANNEL:
            return True
        if message and message.sender_chat and message.sender_chat.id == chat.id:
            return True
    if user is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return user.id == chat.id
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:
        log.warning("cannot check the admins of chat %s: %s", chat.id, redact(str(exc)))
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


def _save(ask: Ask, settings: ChatSettings) -> None:
    """Store a chat's settings (answer language: the one used now, unless chosen) and
    reschedule its digest."""
    if settings.ui_language is None:
        settings = replace(settings, ui_language=ask.language)
    ask.deps.store.save_chat_settings(settings)
    ask.deps.on_change(settings.chat_id)


def _welcome_back(ask: Ask) -> None:
    """The bot just answered in a chat it could not post to before (blocked, removed): it
    is back, so the chat's digest may be sent there again (bot/outbox.py stops at a blocked
    chat). Only a blocked chat is written to."""
    name = chats.channel_name(ask.chat_id)
    if ask.deps.store.channel_info(name).get("blocked"):
        log.info("chat %s is reachable again", ask.chat_id)
        ask.deps.store.unblock_channel(name)


def command(handler: Callable[[Ask], Awaitable[None]], who: Who = "anyone") -> Handler:
    """A handler for python-telegram-bot that lets only `who` through: the chat's admins
    change its settings; the bot's admins see the host (everyone else learns nothing)."""
    async def guarded(update: Update, context: Context) -> None:
        ask = _ask(update, context)
        if who == "chat admins" and not await _is_chat_admin(update, context):
            await ask.say("not_admin")
        elif who == "bot admins" and (update.effective_user is None or
                                      update.effective_user.id not in ask.deps.admins):
            await ask.say("admin_only")
        else:
            await handler(ask)
        _welcome_back(ask)  # the answer went out: the bot can post there
    guarded.__name__ = handler.__name__
    return guarded


# --------------------------------------------------------------------------- reading


async def start(ask: Ask) -> None:
    settings = ask.deps.store.chat_settings(ask.chat_id)
    await ask.say("start", help=text(ask.language, "help"),
                  state=replies.chat_state(settings, ask.deps.config, ask.language))


async def help_(ask: Ask) -> None:
    await ask.say("help")


async def latest(ask: Ask) -> None:
    taxonomy = ask.deps.config.taxonomy
    try:
        topic, count = chats.parse_latest(ask.args, taxonomy)
    except ValueError:
        await ask.say("latest_usage", max=chats.MAX_LATEST)
        return
    articles = ask.deps.store.latest_relevant(topic=topic, languages=ask.settings.languages,
                                              limit=count)
    label = f" — {escape(taxonomy.label(topic, ask.language))}" if topic else ""
    if not articles:
        await ask.say("latest_none", topic=label)
        return
    title = text(ask.language, "latest_title", topic=label)
    await ask.reply(replies.article_list(title, articles, language=ask.language))


async def search(ask: Ask) -> None:
    if not ask.args:
        await ask.say("search_usage")
        return
    query = escape(" ".join(ask.args))
    try:
        found = ask.deps.store.search_articles(ask.args, limit=chats.MAX_LATEST)
    except ValueError:  # nothing to search for (the words themselves are never logged)
        await ask.say("search_bad")
        return
    if not found:
        await ask.say("search_none", query=f"<i>{query}</i>")
        return
    title = text(ask.language, "search_title", query=f"<i>{query}</i>")
    await ask.reply(replies.article_list(title, found, language=ask.language))


async def why(ask: Ask) -> None:
    if len(ask.args) != 1:
        await ask.say("why_usage")
        return
    word = ask.args[0].lstrip("#")
    store = ask.deps.store
    if word.isascii() and word.isdigit():  # not '²' or '٣': str.isdigit takes those too
        number = int(word)
        found = store.articles([number]) if number <= MAX_ARTICLE_ID else []
        article = found[0] if found else None
    elif word.startswith(("http://", "https://")):
        try:  # the canonical form links were stored in (tracking parameters removed)
            canonical = clean_url(word)
        except ValueError:  # 'http://[::1': not a URL at all
            await ask.say("why_bad_link")
            return
        article = store.article_by_url(canonical) or store.article_by_url(word)
    else:
        await ask.say("why_usage")
        return
    if article is None:
        await ask.say("why_unknown")
        return
    await ask.reply(replies.explanation(article, ask.deps.config.taxonomy, ask.language))


# --------------------------------------------------------------------------- settings


def _keyboard(settings: ChatSettings, deps: Deps, language: str) -> InlineKeyboardMarkup:
    taxonomy = deps.config.taxonomy
    buttons = [InlineKeyboardButton(
        f"{'✅' if t in settings.topics else '▫️'} {spec.emoji} {taxonomy.label(t, language)}",
        callback_data=f"{_BUTTON}{t}")
        for t, spec in taxonomy.topics.items()
        if len(f"{_BUTTON}{t}".encode()) <= 64]  # Telegram's limit for callback_data
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def topics(ask: Ask) -> None:
    """Anyone may look; the buttons check who presses them (on_topic_button)."""
    await ask.reply(text(ask.language, "topics_title"),
                    _keyboard(ask.settings, ask.deps, ask.language))


async def _topic_args(ask: Ask, usage: str) -> list[str] | None:
    """The topics named in the arguments; None (after saying why) when there are none or
    one is unknown: then nothing changes."""
    taxonomy = ask.deps.config.taxonomy
    found, unknown = chats.resolve_topics(ask.args, taxonomy)
    if not ask.args:
        await ask.say(usage, known=replies.topic_ids(taxonomy))
        return None
    if unknown:
        await ask.say("unknown_topics", unknown=escape(", ".join(unknown)),
                      known=replies.topic_ids(taxonomy))
        return None
    return found


async def subscribe(ask: Ask) -> None:
    taxonomy = ask.deps.config.taxonomy
    found = await _topic_args(ask, "subscribe_usage")
    if found is None:
        return
    settings = chats.subscribe(ask.settings, found, taxonomy)
    _save(ask, settings)
    await ask.say("subscribed", topics=replies.topic_names(settings.topics, taxonomy,
                                                            ask.language),
                  digest=escape(settings.digest),
                  timezone=escape(chats.timezone_of(settings, ask.deps.config)))


async def unsubscribe(ask: Ask) -> None:
    taxonomy = ask.deps.config.taxonomy
    found = await _topic_args(ask, "unsubscribe_usage")
    if found is None:
        return
    settings = chats.unsubscribe(ask.settings, found)
    _save(ask, settings)
    if not settings.subscribed:
        await ask.say("unsubscribed_all")
        return
    await ask.say("unsubscribed", topics=replies.topic_names(settings.topics, taxonomy,
                                                              ask.language))


async def languages(ask: Ask) -> None:
    current = " ".join(ask.settings.languages)
    if not ask.args:
        await ask.say("languages_usage", languages=current)
        return
    try:
        chosen = chats.parse_languages(ask.args)
    except ValueError as exc:
        await ask.say("bad_language", value=escape(str(exc) or " ".join(ask.args)))
        return
    _save(ask, replace(ask.settings, languages=chosen))
    await ask.say("languages_set", languages=" ".join(chosen))


async def digest(ask: Ask) -> None:
    settings = ask.settings
    timezone = escape(chats.timezone_of(settings, ask.deps.config))
    if not ask.args:
        await ask.say("digest_usage", digest=escape(settings.digest), timezone=timezone)
        return
    try:
        schedule = chats.parse_digest(ask.args)
    except ValueError:
        await ask.say("bad_schedule", value=escape(" ".join(ask.args)))
        return
    settings = replace(settings, digest=schedule)
    _save(ask, settings)
    if chats.digest_off(settings):
        await ask.say("digest_off")
        return
    answer = text(ask.language, "digest_set", digest=escape(schedule), timezone=timezone)
    if not settings.subscribed:
        answer += "\n" + text(ask.language, "digest_needs_topics")
    await ask.reply(answer)


async def set_language(ask: Ask) -> None:
    if len(ask.args) != 1 or ask.args[0].lower() not in LANGUAGES:
        await ask.say("language_usage")
        return
    chosen = ask.args[0].lower()
    _save(ask, replace(ask.settings, ui_language=chosen))
    await ask.reply(text(chosen, "language_set"))


async def on_topic_button(update: Update, context: Context) -> None:
    """A /topics button: toggle that topic for the chat the keyboard is in."""
    query, chat = update.callback_query, update.effective_chat
    if query is None:
        return
    deps = _deps(context)
    topic = (query.data or "").removeprefix(_BUTTON)
    if chat is None or query.message is None or topic not in deps.config.taxonomy.topics:
        await query.answer()
        return
    language = _language(deps, update, chat.id)
    if not await _is_chat_admin(update, context, button=True):
        await query.answer(text(language, "not_admin"), show_alert=True)
        return
    ask = Ask(deps, chat.id, language, cast(Message, query.message), [])
    settings = chats.toggle(ask.settings, topic, deps.config.taxonomy)
    _save(ask, settings)
    label = deps.config.taxonomy.label(topic, language)
    await query.answer(text(language, "topic_on" if topic in settings.topics else "topic_off",
                            topic=label))
    await query.edit_message_reply_markup(_keyboard(settings, deps, language))


# --------------------------------------------------------------------------- bot admins


async def status(ask: Ask) -> None:
    data = feed_status(ask.deps.config, ask.deps.store, now=utcnow())
    await ask.reply(replies.preformatted(format_status(data)))


async def feeds(ask: Ask) -> None:
    await ask.reply(replies.feed_list(ask.deps.config, ask.language))


async def on_error(update: object, context: Context) -> None:
    """A handler failed: log it (the log formatter redacts the token) and say so briefly."""
    if isinstance(context.error, RetryAfter | Forbidden):  # another message would not help
        log.warning("could not answer a bot command: %s", redact(str(context.error)))
        return
    log.error("a bot command failed: %s", redact(repr(context.error)), exc_info=context.error)
    if isinstance(update, Update) and update.effective_message and update.effective_chat:
        language = _language(_deps(context), update, update.effective_chat.id)
        try:
            await update.effective_message.reply_text(text(language, "error"))
        except TelegramError as exc:
            log.warning("could not report the failure: %s", redact(str(exc)))


async def on_migrate(update: Update, context: Context) -> None:
    """A group became a supergroup (Telegram's service message, in the old group with
    `migrate_to_chat_id` and in the new one with `migrate_from_chat_id`): its settings, its
    outbox and the stories it had go along, and its digest is rescheduled."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    deps = _deps(context)
    if deps.store.move_chat(old, new, old_channel=chats.channel_name(old),
                            new_channel=chats.channel_name(new)):
        log.info("chat %s became supergroup %s; its settings moved along", old, new)
        deps.on_change(old)
        deps.on_change(new)


# --------------------------------------------------------------------------- wiring

HANDLERS: dict[str, Handler] = {
    "start": command(start), "help": command(help_), "latest": command(latest),
    "search": command(search), "why": command(why), "topics": command(topics),
    "subscribe": command(subscribe, "chat admins"),
    "unsubscribe": command(unsubscribe, "chat admins"),
    "languages": command(languages, "chat admins"), "digest": command(digest, "chat admins"),
    "language": command(set_language, "chat admins"),
    "status": command(status, "bot admins"), "feeds": command(feeds, "bot admins"),
}


def install_handlers(app: App, deps: Deps) -> None:
    app.bot_data["deps"] = deps
    where = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST  # not edits
    for name, callback in HANDLERS.items():
        app.add_handler(CommandHandler(name, callback, filters=where))
    app.add_handler(CallbackQueryHandler(on_topic_button, pattern=f"^{_BUTTON}"))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migrate))
    app.add_error_handler(on_error)

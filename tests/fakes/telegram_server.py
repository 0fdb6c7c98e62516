"""A loopback fake of the Telegram Bot API that answers like the documented API.

python-telegram-bot talks to it as the real client (`TELEGRAM_API_URL=<server.url>`): form-
encoded POSTs to /bot<token>/<method>. What it checks the way Telegram does (shared/telegram.md):
HTML parse mode with only Telegram's tags and entities, nesting, the 4096-character limit after
entity parsing (UTF-16), unknown tokens (401). Faults on demand (one `Fault` per call it
answers; a list of them makes a storm; optionally for one chat): 429 with retry_after, 5xx,
a blocked chat (403), a migrated group (400 with migrate_to_chat_id). Updates can be queued for
getUpdates, so bot commands run end to end.

A `Gate` holds one sendMessage before Telegram "accepts" it, until the test releases it: a
moment to stop or kill the sender while its message is in flight. `undelivered` counts the
messages Telegram accepted whose answer never reached the sender (it was gone, or its
connection was reset before it read the answer): each is a message the sender cannot know
went out, the only way to a message sent twice.
"""

from __future__ import annotations

import html
import http.server
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmno"
BOT_ID = 123456789
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityError(ValueError):
    pass


class _Checker(HTMLParser):
    """Telegram's HTML rules: known tags only, nested and closed, four named entities."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            raise EntityError("Can't find href in the a tag")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            raise EntityError('Tag "span" must have class "tg-spoiler"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityError(f'Unsupported start tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f'Unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for char in "<>&":
            if char in data:
                raise EntityError(f"Unescaped {char!r} in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            raise EntityError(f'Unsupported HTML entity "&{name};"')
        self.text.append(NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        code = int(name[1:], 16) if name.lower().startswith("x") else int(name)
        self.text.append(chr(code))

    def unknown_decl(self, data: str) -> None:
        raise EntityError("Unsupported declaration")

    def handle_comment(self, data: str) -> None:
        raise EntityError("Unsupported comment")


def parse_html(text: str) -> str:
    """The text Telegram would show, or EntityError saying why it would refuse."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.rawdata:  # an unterminated tag or entity stays in the buffer
        raise EntityError("Unterminated tag or entity")
    if checker.stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"')
    return "".join(checker.text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Sent:
    chat_id: int
    text: str            # as sent (HTML when parse_mode is HTML)
    visible: str         # after entity parsing
    parse_mode: str | None
    no_preview: bool
    message_id: int
    reply_markup: Any = None


@dataclass
class Fault:
    """Answer the next matching call with this error instead."""

    status: int
    description: str
    parameters: dict[str, Any] | None = None
    method: str = "sendMessage"
    accept: bool = False  # store the message first, then fail (a lost answer)
    chat: int | str | None = None  # only calls to this chat ('@name' or id); None: any
    skip: int = 0  # let this many matching calls through first


@dataclass
class Gate:
    """Holds the sendMessage that comes once `at` messages were accepted, before it is
    accepted, until `release()` (or `timeout` seconds, so that a failing test ends)."""

    at: int = 0
    timeout: float = 30.0
    arrived: threading.Event = field(default_factory=threading.Event)  # it is held now
    finished: threading.Event = field(default_factory=threading.Event)  # answered (or not)
    _released: threading.Event = field(default_factory=threading.Event)
    _thread: int | None = None

    def release(self) -> None:
        self._released.set()

    def hold(self) -> None:
        self._thread = threading.get_ident()
        self.arrived.set()
        self._released.wait(self.timeout)

    def done(self) -> None:
        """Called by each request's thread when it has answered."""
        if self._thread == threading.get_ident():
            self.finished.set()


@dataclass
class TelegramState:
    token: str = TOKEN
    username: str = "privacy_alert_test_bot"
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, Any] = field(default_factory=dict)
    chat_admins: dict[int, set[int]] = field(default_factory=dict)
    handlers: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    latency: float = 0.0  # seconds each sendMessage takes (a window to crash in)
    gate: Gate | None = None
    undelivered: list[Sent] = field(default_factory=list)  # accepted, answer never read
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: dict[int, int] = field(default_factory=dict)
    _names: dict[str, int] = field(default_factory=dict)
    _update_id: int = 0

    def chat_id(self, value: str) -> int:
        """'@channel' gets a stable negative id, like a channel's -100... id."""
        if value.lstrip("-").isdigit():
            return int(value)
        return self._names.setdefault(value, -1001000000000 - len(self._names))

    def texts(self, chat: int | str | None = None) -> list[str]:
        with self.lock:
            want = None if chat is None else self.chat_id(str(chat))
            return [s.text for s in self.sent if want is None or s.chat_id == want]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for m, p in self.calls if m == method]

    def push_update(self, update: dict[str, Any]) -> int:
        with self.lock:
            self._update_id += 1
            self.updates.append({"update_id": self._update_id, **update})
            return self._update_id

    def next_message_id(self, chat_id: int) -> int:
        self._ids[chat_id] = self._ids.get(chat_id, 0) + 1
        return self._ids[chat_id]


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _error(status: int, description: str,
           parameters: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


def _chat(chat_id: int) -> dict[str, Any]:
    kind = "channel" if chat_id < -1000000000000 else "group" if chat_id < 0 else "private"
    return {"id": chat_id, "type": kind, "title": "Test chat"} if chat_id < 0 else \
        {"id": chat_id, "type": kind, "first_name": "Tester"}


def handle(state: TelegramState, method: str, params: dict[str, Any]) -> tuple[int, dict]:
    with state.lock:
        state.calls.append((method, params))
        fault = next((f for f in state.faults if f.method == method and (
            f.chat is None or state.chat_id(str(f.chat)) == state.chat_id(
                str(params.get("chat_id", ""))))), None)
        if fault and fault.skip:
            fault.skip -= 1
            fault = None
        if fault and not fault.accept:
            state.faults.remove(fault)
            return _error(fault.status, fault.description, fault.parameters)
    if method in state.handlers:
        return _ok(state.handlers[method](params))
    if method == "getMe":
        return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Privacy Alerts",
                    "username": state.username, "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False})
    if method == "sendMessage":
        return _send_message(state, params, fault)
    if method == "getUpdates":
        return _get_updates(state, params)
    if method in ("deleteWebhook", "setMyCommands", "deleteMyCommands", "answerCallbackQuery",
                  "setChatMenuButton", "close", "logOut"):
        if method == "setMyCommands":
            scope = params.get("scope", "default")
            key = f"{params.get('language_code', '')}:{scope}"
            with state.lock:
                state.commands[key] = json.loads(params.get("commands", "[]"))
        return _ok(True)
    if method == "getMyCommands":
        with state.lock:
            return _ok(state.commands.get(f"{params.get('language_code', '')}:default", []))
    if method in ("editMessageText", "editMessageReplyMarkup"):
        return _ok(True)
    if method == "getChatMember":
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        admins = state.chat_admins.get(chat_id, set())
        status = "administrator" if user_id in admins else "member"
        member: dict[str, Any] = {"status": status, "user": {"id": user_id, "is_bot": False,
                                                            "first_name": "User"}}
        if status == "administrator":
            member.update({"can_be_edited": False, "is_anonymous": False,
                           "can_manage_chat": True, "can_delete_messages": True,
                           "can_manage_video_chats": True, "can_restrict_members": True,
                           "can_promote_members": False, "can_change_info": True,
                           "can_invite_users": True, "can_post_stories": False,
                           "can_edit_stories": False, "can_delete_stories": False})
        return _ok(member)
    return _error(404, f"Not Found: method {method} not found")


def _send_message(state: TelegramState, params: dict[str, Any],
                  fault: Fault | None) -> tuple[int, dict]:
    if state.latency:
        time.sleep(state.latency)
    gate = state.gate
    with state.lock:
        held = gate is not None and not gate.arrived.is_set() and len(state.sent) >= gate.at
    if held and gate is not None:
        gate.hold()
    chat_id = state.chat_id(str(params.get("chat_id", "")))
    text = params.get("text", "")
    if chat_id in state.blocked:
        return _error(403, "Forbidden: bot was kicked from the channel chat")
    if chat_id in state.migrated:
        return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                      {"migrate_to_chat_id": state.migrated[chat_id]})
    parse_mode = params.get("parse_mode")
    if parse_mode == "HTML":
        try:
            visible = parse_html(text)
        except EntityError as exc:
            return _error(400, f"Bad Request: can't parse entities: {exc}")
    else:
        visible = text
    if not visible.strip():
        return _error(400, "Bad Request: message text is empty")
    if utf16_len(visible) > 4096:
        return _error(400, "Bad Request: message is too long")
    preview = json.loads(params.get("link_preview_options", "{}") or "{}")
    no_preview = bool(preview.get("is_disabled")) or \
        params.get("disable_web_page_preview") in ("true", "True")
    with state.lock:
        message_id = state.next_message_id(chat_id)
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
        state.sent.append(Sent(chat_id, text, visible, parse_mode, no_preview, message_id,
                               markup))
        if fault and fault.accept:  # Telegram kept it, but the answer never arrives
            state.faults.remove(fault)
            return _error(fault.status, fault.description, fault.parameters)
    return _ok({"message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id),
                "text": visible})


def _get_updates(state: TelegramState, params: dict[str, Any]) -> tuple[int, dict]:
    offset = int(params.get("offset", 0) or 0)
    deadline = time.monotonic() + min(float(params.get("timeout", 0) or 0), 1.0)
    while True:
        with state.lock:
            if offset:
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            ready = list(state.updates)
        if ready or time.monotonic() >= deadline:
            return _ok(ready)
        time.sleep(0.05)


def _peer_gone(connection: socket.socket) -> bool:
    """The client closed its end (it died): nothing we write reaches it."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: TelegramState
    answered: Sent | None = None  # the message of this connection's last answer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def handle_one_request(self) -> None:
        """A client that dies resets its connection: that ends the connection, it is no
        error of ours. If it had not read our last answer yet, that message is undelivered."""
        try:
            super().handle_one_request()
        except ConnectionError:
            self.close_connection = True
            self._undelivered()
        else:
            if not self.raw_requestline and self.answered is not None:
                self.answered = None  # it read the answer, then closed: delivered

    def _undelivered(self) -> None:
        if self.answered is not None:
            with self.state.lock:
                if all(sent is not self.answered for sent in self.state.undelivered):
                    self.state.undelivered.append(self.answered)
            self.answered = None

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        kind = self.headers.get("Content-Type", "")
        if raw and "json" in kind:
            params.update({k: v if isinstance(v, str) else json.dumps(v)
                           for k, v in json.loads(raw).items()})
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            status, body = _error(404, "Not Found")
        elif segments[0][3:] != self.state.token:
            status, body = _error(401, "Unauthorized")
        else:
            status, body = handle(self.state, segments[1], params)
        payload = json.dumps(body).encode()
        self.answered = None
        result = body.get("result")
        if segments[-1] == "sendMessage" and isinstance(result, dict) and "chat" in result:
            key = (result["chat"]["id"], result["message_id"])
            with self.state.lock:  # the message this answer is about
                self.answered = next((s for s in reversed(self.state.sent)
                                      if (s.chat_id, s.message_id) == key), None)
        gate = self.state.gate
        try:
            if _peer_gone(self.connection):
                raise BrokenPipeError
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except ConnectionError:
            self.close_connection = True
            self._undelivered()
        finally:
            if gate is not None:
                gate.done()


@contextmanager
def telegram_server(state: TelegramState | None = None) -> Iterator[tuple[str, TelegramState]]:
    """Yields (root URL for TELEGRAM_API_URL, state)."""
    state = state or TelegramState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def unescape(text: str) -> str:
    return html.unescape(text)

"""The one exception tree of the project.

    BotError                  anything the CLI turns into a clean message and exit code
    ├── ConfigError           feeds.yaml / topics are invalid: names file, line and key
    ├── FetchError            a feed could not be fetched (recorded on the feed, never fatal)
    ├── ParseError            a feed body could not be parsed (recorded on the feed)
    └── NotifyError           Telegram refused or could not be reached
        └── FatalNotifyError  the token is wrong or another instance polls with it

Secrets never reach these messages: `redact` is applied where text from the outside
(URLs, HTTP errors) is put into one.
"""

from __future__ import annotations

import re

# A Telegram bot token: "<bot id>:<35 characters>" (shared/telegram.md).
TOKEN_RE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


def redact(text: str) -> str:
    """Replace anything that looks like a bot token."""
    return TOKEN_RE.sub("<token>", text)


class BotError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ConfigError(BotError):
    """The configuration is invalid; the message says where."""

    exit_code = 2

    def __init__(self, message: str, *, file: str = "", line: int | None = None,
                 key: str = "") -> None:
        self.file, self.line, self.key, self.reason = file, line, key, message
        where = file
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        parts = [p for p in (where, key) if p]
        super().__init__(": ".join([*parts, message]))


class FetchError(BotError):
    """A feed could not be fetched."""


class ParseError(BotError):
    """A feed body held no usable feed."""


class NotifyError(BotError):
    """Sending to Telegram failed."""


class FatalNotifyError(NotifyError):
    """Telegram rejected the token, or another instance uses it: stop, don't retry."""

    exit_code = 3

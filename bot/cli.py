"""Command line: `python -m bot COMMAND [options]` (console script: `alertbot`).

    poll                    one polling round over every enabled feed
    digest [--channel NAME] [--dry-run]
                            build and send the digest of relevant articles not yet delivered
    classify [FILE]         JSON lines in (stdin or FILE), classified JSON lines out
    check                   validate the configuration
    status [--json]         feed health and delivery state
    eval FILE...            precision / recall of the classifier on labeled JSON lines
    preview --html FILE     the digest that would be sent, as an HTML page
    run                     the long-running service
    health [--max-age 10m]  exit 0 when `run` completed a polling round recently
    demo                    the whole pipeline once, offline, on the shipped sample feeds

Every command takes --config (env BOT_CONFIG, default ./feeds.yaml) and --db (env BOT_DB,
default from the config, else ./data/bot.db). Without TELEGRAM_BOT_TOKEN, messages that would
be posted are printed instead. Thin: it parses arguments, loads the config, calls the
pipeline and turns a BotError into a clean message and exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot import __version__
from bot.config import DEFAULT_DB, Config, load_config
from bot.errors import BotError, redact
from bot.notify import ConsoleNotifier, Notifier, TelegramNotifier
from bot.ratelimit import RateLimiter, RateLimits
from bot.store import Store

log = logging.getLogger("bot")


class RedactingFormatter(logging.Formatter):
    """No bot token in any log line, traceback included (httpx logs request URLs)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record comes, not when the handler was made
    (a test harness or daemon may have replaced it since)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        return None


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 \
        else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                            "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp", "telegram", "apscheduler", "hpack"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="configuration file (env BOT_CONFIG, default ./feeds.yaml)")
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help="SQLite database (env BOT_DB, default from the config)")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="alertbot", parents=[common],
        description="Bilingual (Dutch/English) privacy-news and regulatory alert bot.")
    parser.add_argument("--version", action="version", version=f"alertbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("poll", parents=[common], help="one polling round over every enabled feed")
    p = sub.add_parser("digest", parents=[common], help="build and send digests now")
    p.add_argument("--channel", help="only this channel")
    p.add_argument("--dry-run", action="store_true", help="print, send and mark nothing")
    p = sub.add_parser("classify", parents=[common], help="classify JSON lines")
    p.add_argument("file", nargs="?", help="JSON lines file (default: stdin)")
    sub.add_parser("check", parents=[common], help="validate the configuration")
    p = sub.add_parser("status", parents=[common], help="feed health and delivery state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("eval", parents=[common], help="measure the classifier")
    p.add_argument("files", nargs="+", help="labeled JSON lines files")
    p.add_argument("--errors", action=argparse.BooleanOptionalAction, default=True,
                   help="list misclassified items (default: yes)")
    p = sub.add_parser("preview", parents=[common], help="the digest as an HTML page")
    p.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    p.add_argument("--channel", help="only this channel")
    sub.add_parser("run", parents=[common], help="the long-running service")
    p = sub.add_parser("health", parents=[common],
                       help="exit 0 when `run` polled recently (for a HEALTHCHECK)")
    p.add_argument("--max-age", default="10m", metavar="DURATION",
                   help="how old the last polling round may be (default 10m)")
    sub.add_parser("demo", parents=[common], help="the pipeline once, offline, on sample feeds")
    return parser


def config_path(args: argparse.Namespace, env: dict[str, str]) -> Path:
    return Path(getattr(args, "config", None) or env.get("BOT_CONFIG") or "feeds.yaml")


def db_path(args: argparse.Namespace, config: Config | None, env: dict[str, str]) -> Path:
    explicit = getattr(args, "db", None) or env.get("BOT_DB")
    if explicit:
        return Path(explicit)
    if config is not None and config.db:
        db = Path(config.db)
        return db if db.is_absolute() else config.path.parent / db
    return Path(DEFAULT_DB)


def rate_limiter(env: dict[str, str]) -> RateLimiter:
    """Telegram's flood limits, on the clock TELEGRAM_RATE_SCALE sets (every command that
    sends, `run` too)."""
    return RateLimiter(RateLimits.from_env(env))


def make_notifier(env: dict[str, str], stream: TextIO) -> Notifier:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        return ConsoleNotifier(stream)
    return TelegramNotifier(token, api_url=env.get("TELEGRAM_API_URL") or None,
                            limiter=rate_limiter(env))


def main(argv: Sequence[str] | None = None, *, env: dict[str, str] | None = None,
         stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    env = dict(os.environ if env is None else env)
    stdout = stdout or sys.stdout
    args = build_parser().parse_args(argv)
    verbosity = -1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0)
    if args.command in ("classify", "check", "eval", "status", "preview", "health") and \
            not getattr(args, "verbose", 0):
        verbosity = -1  # output commands: only warnings on stderr
    setup_logging(verbosity)
    from bot import cli_commands  # the command bodies; imported late to keep --help fast
    try:
        return cli_commands.dispatch(args, env=env, stdin=stdin or sys.stdin, stdout=stdout)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def load(args: argparse.Namespace, env: dict[str, str]) -> tuple[Config, Path]:
    config = load_config(config_path(args, env), env)
    return config, db_path(args, config, env)


def open_store(path: Path) -> Store:
    return Store(path)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # not possible outside the main thread (tests run the service in one)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def dump_json(obj: Any, stream: TextIO) -> None:
    stream.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")

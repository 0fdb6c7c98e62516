"""The bodies of the CLI commands (bot/cli.py parses the arguments and calls these)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from bot import language
from bot.classify import classify
from bot.cli import (
    dump_json,
    install_signal_handlers,
    load,
    make_notifier,
    open_store,
    rate_limiter,
)
from bot.config import Config
from bot.delivery import queue_all_alerts, queue_digest
from bot.errors import BotError, ConfigError
from bot.notify import ConsoleNotifier, Notifier
from bot.outbox import deliver
from bot.pipeline import poll_round, utcnow
from bot.store import Store

log = logging.getLogger("bot")


def dispatch(args: argparse.Namespace, *, env: dict[str, str], stdin: TextIO,
             stdout: TextIO) -> int:
    command = args.command
    if command == "classify":
        return cmd_classify(args, env=env, stdin=stdin, stdout=stdout)
    if command == "eval":
        return cmd_eval(args, env=env, stdout=stdout)
    if command == "demo":
        from bot.demo import run_demo
        return run_demo(stdout=stdout, env=env)
    config, db = load(args, env)
    if command == "check":
        return cmd_check(config, stdout)
    if command == "health":
        return cmd_health(db, max_age=args.max_age, stdout=stdout)
    store = open_store(db)
    try:
        if command == "poll":
            return asyncio.run(cmd_poll(config, store, stdout, env=env))
        if command == "digest":
            return asyncio.run(cmd_digest(config, store, env=env, stdout=stdout,
                                          channel=args.channel, dry_run=args.dry_run))
        if command == "status":
            from bot.status import feed_status, format_status
            data = feed_status(config, store, now=utcnow())
            if args.json:
                dump_json(data, stdout)
            else:
                stdout.write(format_status(data))
            return 0
        if command == "preview":
            from bot.preview import write_preview
            path = write_preview(config, store, Path(args.html), now=utcnow(),
                                 channel=args.channel)
            stdout.write(f"wrote {path}\n")
            return 0
        if command == "run":
            return asyncio.run(cmd_run(config, store, env=env, stdout=stdout, db=db))
    finally:
        store.close()
    raise BotError(f"unknown command {command!r}")


def cmd_check(config: Config, stdout: TextIO) -> int:
    enabled = sum(f.enabled for f in config.feeds)
    stdout.write(f"{config.path}: OK: {len(config.feeds)} feeds ({enabled} enabled), "
                 f"{len(config.channels)} channels, {len(config.taxonomy.topics)} topics\n")
    return 0


async def cmd_poll(config: Config, store: Store, stdout: TextIO,
                   env: dict[str, str] | None = None) -> int:
    report = await poll_round(config, store, manual=True)
    for outcome in report.outcomes:
        mark = "✗" if outcome.error else "✓"
        detail = outcome.error or f"{outcome.new} new, {outcome.relevant} relevant"
        stdout.write(f"{mark} {outcome.feed}: {outcome.status}: {detail}\n")
    for feed, why in report.skipped:
        stdout.write(f"- {feed}: skipped: {why}\n")
    stdout.write(report.summary() + "\n")
    # issue 5: instant alerts go out right after the round that found them
    if report.relevant and queue_all_alerts(config, store, now=utcnow()):
        alerting = [c.name for c in config.channels if c.enabled and c.alerts]
        return await _deliver_all(store, make_notifier(env or {}, stdout), alerting, stdout)
    return 0


async def cmd_digest(config: Config, store: Store, *, env: dict[str, str], stdout: TextIO,
                     channel: str | None, dry_run: bool) -> int:
    channels = [c for c in config.channels if c.enabled]
    if channel:
        found = config.channel(channel)
        if found is None:
            known = ", ".join(c.name for c in config.channels) or "none"
            raise ConfigError(f"no channel named {channel!r} (channels: {known})",
                              file=str(config.path), key="channels")
        channels = [found]
    now = utcnow()
    if dry_run:
        from bot.preview import dry_run_text
        stdout.write(dry_run_text(config, store, channels, now=now))
        return 0
    notifier = make_notifier(env, stdout)
    for ch in channels:
        queued = queue_digest(config, store, ch, now=now)
        log.info("channel %s: %d message(s) queued", ch.name, len(queued))
    return await _deliver_all(store, notifier, [c.name for c in channels], stdout)


async def _deliver_all(store: Store, notifier: Notifier, channels: list[str],
                       stdout: TextIO) -> int:
    await notifier.start()
    try:
        report = await deliver(store, notifier, channels=channels, probe_blocked=True)
    finally:
        await notifier.stop()
    if not isinstance(notifier, ConsoleNotifier) or report.failed or report.rejected:
        stdout.write(f"sent {report.sent} message(s)"
                     + (f", {report.failed} failed" if report.failed else "")
                     + (f", {report.rejected} refused by Telegram (see `status`)"
                        if report.rejected else "") + "\n")
    for error in report.errors:
        stdout.write(f"error: {error}\n")
    for channel in report.blocked:
        stdout.write(f"channel {channel} is blocked: the bot cannot post there (its messages "
                     "stay queued; see `status`)\n")
    if report.busy:
        stdout.write("another alertbot process is sending the outbox; it sends these too\n")
    return 1 if report.failed or report.rejected or report.blocked else 0


async def cmd_run(config: Config, store: Store, *, env: dict[str, str], stdout: TextIO,
                  db: Path) -> int:
    """One asyncio loop: the scheduler's ticks and, with a token, the bot commands'
    Application polling Telegram; digests go out through the Application's Bot."""
    from bot.scheduler import Service
    stop = asyncio.Event()
    install_signal_handlers(stop)
    heartbeat = db.parent / HEARTBEAT
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        service = Service(config, store, ConsoleNotifier(stdout), heartbeat=heartbeat)
        log.info("alertbot running: %d feeds, %d channels (no TELEGRAM_BOT_TOKEN: printing "
                 "messages, no bot commands)", len(config.feeds), len(config.channels))
        await service.run(stop)
        return 0
    from bot.application import build_application, polling
    from bot.chats import admin_ids
    from bot.commands import Deps, install_handlers
    from bot.notify import TelegramNotifier
    admins = admin_ids(config, env)
    # one limiter for the digests and the command replies: one bot, one set of flood limits
    limiter = rate_limiter(env)
    app = build_application(token, api_url=env.get("TELEGRAM_API_URL") or None,
                            limiter=limiter)
    notifier = TelegramNotifier(bot=app.bot, limiter=limiter)
    service = Service(config, store, notifier, heartbeat=heartbeat)
    install_handlers(app, Deps(config, store, admins, service.refresh_chat))
    # getMe first: a wrong token stops here with a clear message; the Bot closes at the end
    async with polling(app, admins=admins, on_fatal=service.fail):
        log.info("alertbot running: %d feeds, %d channels, %d subscribed chats",
                 len(config.feeds), len(config.channels),
                 sum(c.subscribed for c in store.all_chat_settings()))
        await service.run(stop)
    return 0


HEARTBEAT = "heartbeat"  # beside the database; `run` writes it after every polling round


def cmd_health(db: Path, *, max_age: str, stdout: TextIO) -> int:
    """Exit 0 when `run` completed a polling round within `max_age` (Docker HEALTHCHECK)."""
    from bot.config import format_duration, parse_duration
    try:
        limit = parse_duration(max_age)
    except ValueError as exc:
        raise BotError(f"--max-age: {exc}") from None
    path = db.parent / HEARTBEAT
    try:
        beat = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        stdout.write(f"unhealthy: no heartbeat yet ({path})\n")
        return 1
    except (OSError, ValueError) as exc:
        stdout.write(f"unhealthy: unreadable heartbeat {path}: {exc}\n")
        return 1
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    seconds = int((utcnow() - beat).total_seconds())
    if seconds > limit.total_seconds():
        stdout.write(f"unhealthy: last polling round {seconds}s ago "
                     f"(limit {format_duration(limit)})\n")
        return 1
    stdout.write(f"ok: last polling round {max(0, seconds)}s ago\n")
    return 0


def cmd_classify(args: argparse.Namespace, *, env: dict[str, str], stdin: TextIO,
                 stdout: TextIO) -> int:
    """JSON lines in, JSON lines out; a bad line gets an error object, the rest go on."""
    taxonomy = _taxonomy(args, env)
    source = open(args.file, encoding="utf-8") if args.file else stdin  # noqa: SIM115
    try:
        for n, line in enumerate(source, 1):
            if line.strip():
                dump_json(classify_line(line, n, taxonomy), stdout)
                stdout.flush()
    finally:
        if args.file:
            source.close()
    return 0


def _taxonomy(args: argparse.Namespace, env: dict[str, str]) -> Any:
    """feeds.yaml's topic overrides apply when a config is there; else the packaged topics."""
    from bot.cli import config_path
    from bot.taxonomy import load_taxonomy
    path = config_path(args, env)
    explicit = getattr(args, "config", None) or env.get("BOT_CONFIG")
    if explicit or path.exists():
        from bot.config import load_config
        return load_config(path, env).taxonomy
    return load_taxonomy()


def classify_line(line: str, n: int, taxonomy: Any) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"line {n}: not JSON: {exc.msg}", "line": n}
    if not isinstance(item, dict):
        return {"error": f"line {n}: expected a JSON object", "line": n}
    title, summary = item.get("title"), item.get("summary", "")
    if not isinstance(title, str) or not isinstance(summary, str | None):
        return {"error": f"line {n}: 'title' (and 'summary') must be strings", "line": n,
                **({"id": item["id"]} if "id" in item else {})}
    summary = summary or ""
    published: date | None = None
    if item.get("published"):
        try:
            published = datetime.fromisoformat(str(item["published"])).date()
        except ValueError:
            return {"error": f"line {n}: 'published' is not an ISO date", "line": n,
                    **({"id": item["id"]} if "id" in item else {})}
    lang = language.detect(f"{title}. {summary}",
                           declared_language=item.get("language") or None)
    result = classify(title, summary, taxonomy=taxonomy, language=lang, published=published)
    return {**item, "language": result.language, "relevant": result.relevant,
            "score": result.score, "topics": list(result.topics),
            "matches": {k: list(v) for k, v in result.matches.items()},
            "orgs": list(result.orgs), "regulators": list(result.regulators),
            "laws": list(result.laws),
            "effective_date": result.effective_date.isoformat()
            if result.effective_date else None}


def cmd_eval(args: argparse.Namespace, *, env: dict[str, str], stdout: TextIO) -> int:
    from bot.evaluate import evaluate, format_report, load_items
    taxonomy = _taxonomy(args, env)
    items: list[dict[str, Any]] = []
    for name in args.files:
        try:
            items += load_items(Path(name))
        except (OSError, ValueError) as exc:
            raise BotError(str(exc)) from None
    report = evaluate(items, taxonomy)
    stdout.write(format_report(report, show_errors=args.errors,
                               topic_order=list(taxonomy.topics)) + "\n")
    return 0



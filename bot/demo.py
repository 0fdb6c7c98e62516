"""`make demo`: the whole pipeline once, offline, on the sample feeds shipped in samples/.

The feeds are served on loopback by a small HTTP server (with Last-Modified, so the second
round shows conditional GET answered 304), into a throwaway database; the digests are printed
as they would be posted. No token and no network are needed.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from bot.config import load_config
from bot.delivery import queue_digest
from bot.errors import BotError
from bot.notify import ConsoleNotifier
from bot.outbox import deliver
from bot.pipeline import poll_round, utcnow
from bot.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {".xml": "application/xml", "": "application/octet-stream"}

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) for as long as the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_demo(*, stdout: TextIO, env: dict[str, str]) -> int:
    if not (SAMPLES / "demo.yaml").exists():
        raise BotError(f"the sample feeds are not here ({SAMPLES}); run the demo from a "
                       "checkout of the repository")
    with serve(SAMPLES / "feeds") as base, tempfile.TemporaryDirectory() as tmp:
        config = load_config(SAMPLES / "demo.yaml", {**env, "DEMO_FEEDS": base})
        store = Store(Path(tmp) / "demo.db")
        try:
            return asyncio.run(_demo(config, store, stdout))
        finally:
            store.close()


async def _demo(config: Any, store: Store, out: TextIO) -> int:
    out.write(f"alertbot demo: {len(config.feeds)} sample feeds served on loopback\n\n")
    first = await poll_round(config, store, manual=True)
    out.write("Polling round 1\n")
    for o in first.outcomes:
        out.write(f"  {o.feed:<13} HTTP {o.status}  {o.new:>2} new, {o.relevant} relevant"
                  + (f"  ({o.error})" if o.error else "") + "\n")
    out.write(f"  {first.summary()}\n\n")
    notifier = ConsoleNotifier(out)
    for channel in config.channels:
        messages = queue_digest(config, store, channel, now=utcnow())
        out.write(f"Digest for channel '{channel.name}' ({channel.chat}): "
                  f"{len(messages)} message(s)\n\n")
        await deliver(store, notifier, channels=[channel.name], sleep=_no_wait)
    second = await poll_round(config, store, manual=True)
    out.write(f"Polling round 2 (conditional GET): {second.summary()}\n")
    again = sum(len(queue_digest(config, store, c, now=utcnow())) for c in config.channels)
    out.write(f"Digest again: {again} new message(s): every story was delivered once.\n")
    return 0


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)

"""Polling benchmark: a polite concurrent round against a naive feedparser loop.

    python bench/poll.py [--feeds 1000] [--items 30] [--latency 0.2] [--origins 100]

Serves N generated feeds (half Dutch, half English; about one story in six about privacy)
on loopback from a separate process, spread over many origins (127.0.0.x addresses, one
port each) so that the per-origin limit applies as it would on the internet, every answer
delayed by the injected latency. Then, in one run, side by side:

  first round    poll_round over every feed into a fresh SQLite file: fetch, parse,
                 classify, store
  second round   the same feeds unchanged: every request conditional, answered 304
  naive loop     feedparser.parse(url) for each feed in turn (stock feedparser, without
                 bot.parse_speedups); time-boxed: it runs on a sample of the feeds and the
                 figures are extrapolated (the output says so)

and prints wall time, CPU time (this process and its parse workers), bytes received and
peak memory (RSS of this process plus its workers). Figures, not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

# Only the standard library at the top: parse worker processes (spawned) import this module
# again as __mp_main__, and should not carry the bot's or the benchmark's other imports.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ------------------------------------------------------------------ generated feeds

COMPANIES = ["Meta", "Google", "Apple", "Microsoft", "Samsung", "Bol", "Coolblue", "KPN",
             "Ziggo", "Philips", "ING", "Rabobank", "TikTok", "Amazon", "Spotify", "Booking"]
NL_NEWS = ["{c} brengt nieuwe smartphone uit met grotere accu",
           "Review: de nieuwe laptop van {c} is snel maar duur",
           "{c} opent datacenter in de Eemshaven",
           "Storing bij {c}: klanten kunnen urenlang niet inloggen",
           "{c} verhoogt prijzen van abonnementen per maart",
           "Kwartaalcijfers: {c} groeit harder dan verwacht",
           "{c} stopt met oude app voor tablets",
           "Nieuwe update voor {c}-router verhelpt wifi-problemen"]
NL_PRIVACY = ["{c} past privacybeleid aan: biometrische gegevens voor advertenties",
              "Autoriteit Persoonsgegevens beboet {c} voor doorverkopen van klantgegevens",
              "{c} gaat berichten van gebruikers gebruiken om AI te trainen",
              "{c} wijzigt privacyverklaring: locatiegegevens worden langer bewaard"]
EN_NEWS = ["{c} unveils a foldable phone with a brighter screen",
           "Review: {c}'s new earbuds are good, not great",
           "{c} shares rise after strong holiday sales",
           "{c} outage leaves customers unable to log in for hours",
           "{c} raises subscription prices again",
           "Hands-on with {c}'s latest smart speaker",
           "{c} is shutting down its old tablet app",
           "{c} hires a new chief executive"]
EN_PRIVACY = ["{c} updates its privacy policy to train AI on user posts",
              "Regulators fine {c} over sale of location data",
              "{c} changes its terms to share health data with insurers",
              "FTC opens probe into {c}'s handling of children's data"]
NL_TEXT = ["Het bedrijf maakte dat dinsdag bekend in een verklaring.",
           "De wijziging gaat op 1 september in voor alle klanten in Nederland en België.",
           "Volgens analisten past de stap in een bredere trend in de sector.",
           "Gebruikers kunnen de instelling zelf uitzetten in de app.",
           "Critici wijzen op de gevolgen voor consumenten.",
           "Het apparaat is vanaf volgende week in de winkels te koop.",
           "Een woordvoerder wilde niet reageren op vragen van deze site."]
EN_TEXT = ["The company announced the change in a blog post on Tuesday.",
           "The new rules take effect on September 1 for users in Europe.",
           "Analysts say the move follows a broader trend in the industry.",
           "Users can turn the setting off in the app.",
           "Critics point to the consequences for consumers.",
           "The device goes on sale next week in the US and Europe.",
           "A spokesperson declined to comment."]


def feed_xml(n: int, items: int) -> bytes:
    """Feed number n: RSS 2.0 with `items` items, HTML descriptions, a declared language."""
    rng = random.Random(n)
    dutch = n % 2 == 0
    news, privacy, text = (NL_NEWS, NL_PRIVACY, NL_TEXT) if dutch else \
        (EN_NEWS, EN_PRIVACY, EN_TEXT)
    host = f"site{n}.example.{'nl' if dutch else 'com'}"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
           f"<title>Feed {n}</title><link>https://{host}/</link>"
           f"<description>Generated feed {n}</description>"
           f"<language>{'nl-nl' if dutch else 'en-us'}</language>"]
    for i in range(items):
        title = rng.choice(privacy if rng.random() < 1 / 6 else news).format(
            c=rng.choice(COMPANIES))
        body = " ".join(rng.sample(text, 3))
        when = format_datetime(start - timedelta(hours=i * 3 + n % 3))
        out.append(f"<item><title>{title}</title><link>https://{host}/{i}/story-{n}-{i}</link>"
                   f"<description>&lt;p&gt;{body}&lt;/p&gt;</description>"
                   f"<pubDate>{when}</pubDate>"
                   f'<guid isPermaLink="false">{host}/{i}</guid></item>')
    out.append("</channel></rss>\n")
    return "\n".join(out).encode()


# ------------------------------------------------------------------ the server process


def hosts(origins: int) -> list[str]:
    """127.0.0.1 ... 127.0.0.N when this machine binds them (Linux does), else 127.0.0.1."""
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError:
        return ["127.0.0.1"] * origins  # distinct ports still make distinct origins
    return [f"127.0.0.{1 + i % 254}" for i in range(origins)]


def serve(conn: multiprocessing.connection.Connection, feeds: int, items: int,
          latency: float, origins: int) -> None:
    """The feed server: one port per origin, HTTP/1.1 keep-alive, ETags, injected latency."""
    bodies = [feed_xml(n, items) for n in range(feeds)]
    stats = {"requests": 0, "not_modified": 0, "bytes": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                n = int(path.rsplit("/", 1)[1].split(".")[0])
                await asyncio.sleep(latency)
                etag = f'"v1-{n}"'
                stats["requests"] += 1
                if headers.get("if-none-match") == etag:
                    stats["not_modified"] += 1
                    reply = f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
                else:
                    reply = (f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; "
                             f"charset=utf-8\r\nETag: {etag}\r\n"
                             f"Content-Length: {len(bodies[n])}\r\n\r\n").encode() + bodies[n]
                stats["bytes"] += len(reply)
                writer.write(reply)
                await writer.drain()
        writer.close()

    async def main() -> None:
        urls: list[str] = []
        servers = []
        for host in hosts(origins):
            server = await asyncio.start_server(handle, host, 0, backlog=512)
            servers.append(server)
            urls.append(f"http://{host}:{server.sockets[0].getsockname()[1]}")
        conn.send([f"{urls[n % origins]}/feed/{n}.xml" for n in range(feeds)])
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                return
            conn.send(dict(stats))
            stats.update(requests=0, not_modified=0, bytes=0)

    asyncio.run(main())


# ------------------------------------------------------------------ measuring


@dataclass
class Figures:
    wall: float
    cpu: float
    received: int   # bytes the feed server sent: status lines, headers and bodies
    peak_rss: int
    peak_pss: int


class Meter:
    """CPU and peak memory of this process and its children (parse workers), not the feed
    server's. RSS is sampled every 0.2 s and summed (shared pages counted once per process,
    so an upper bound); PSS (shared pages split between processes) and the list of worker
    processes once a second, since reading them walks /proc and costs this process CPU that
    would otherwise be counted as the round's."""

    def __init__(self, exclude: int) -> None:
        import psutil
        self.psutil = psutil
        self.me = psutil.Process()
        self.exclude = exclude
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._procs: list[Any] = []
        self._found = 0.0

    def processes(self, fresh: bool = True) -> list[Any]:
        if fresh or time.monotonic() - self._found > 1.0:
            kids = [p for p in self.me.children(recursive=True) if p.pid != self.exclude]
            self._procs, self._found = [self.me, *kids], time.monotonic()
        return self._procs

    def cpu(self) -> dict[int, float]:
        out = {}
        for p in self.processes():
            with contextlib.suppress(self.psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    def memory(self, *, pss: bool) -> tuple[int, int]:
        rss_sum = pss_sum = 0
        for p in self.processes(fresh=False):
            with contextlib.suppress(self.psutil.Error):
                if pss:
                    info = p.memory_full_info()
                    rss_sum += info.rss
                    pss_sum += getattr(info, "pss", info.rss)
                else:
                    rss_sum += p.memory_info().rss
        return rss_sum, pss_sum

    def _sample(self, *, pss: bool = True) -> None:
        rss, pss_now = self.memory(pss=pss)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss_now)

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        self.peak_rss = self.peak_pss = 0
        self._sample()
        self._stop.clear()

        def sample() -> None:
            n = 0
            while not self._stop.wait(0.2):
                n += 1
                self._sample(pss=n % 5 == 0)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()
            self._sample()


def cpu_delta(before: dict[int, float], after: dict[int, float],
              only: int | None = None) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items()
               if only is None or pid == only)


async def polite_round(config: Any, store: Any, analyzer: Any, meter: Meter,
                       server: multiprocessing.connection.Connection) -> tuple[Figures, dict]:
    from bot.pipeline import make_fetcher, poll_round
    before, started = meter.cpu(), time.perf_counter()
    with meter.sampling():
        fetcher = make_fetcher(config)
        try:
            report = await poll_round(config, store, manual=True, fetcher=fetcher,
                                      analyzer=analyzer(), rng=random.Random(1))
        finally:
            await fetcher.aclose()
    wall = time.perf_counter() - started
    after = meter.cpu()
    cpu = cpu_delta(before, after)
    server.send("stats")
    stats = server.recv()
    stats.update(fetched=report.count("200"), unchanged=report.count("304"),
                 failed=len(report.failed), new=report.new, relevant=report.relevant,
                 main_cpu=cpu_delta(before, after, only=meter.me.pid))
    return Figures(wall, cpu, stats["bytes"], meter.peak_rss, meter.peak_pss), stats


def naive_loop(urls: list[str], meter: Meter,
               server: multiprocessing.connection.Connection) -> tuple[Figures, int]:
    import feedparser

    from bot import parse_speedups
    before, started = meter.cpu(), time.perf_counter()
    entries = 0
    # stock feedparser, as a naive user runs it: not with bot.parse_speedups' shortcuts,
    # which the rounds before have put in place in this process
    with meter.sampling(), parse_speedups.stock():
        for url in urls:
            entries += len(feedparser.parse(url).entries)
    wall = time.perf_counter() - started
    cpu = cpu_delta(before, meter.cpu())
    server.send("stats")
    stats = server.recv()
    return Figures(wall, cpu, stats["bytes"], meter.peak_rss, meter.peak_pss), entries


# ------------------------------------------------------------------ main


def write_config(folder: Path, urls: list[str], concurrency: int, per_origin: int) -> Path:
    import yaml
    feeds = [{"name": f"feed-{n:05d}", "url": url,
              "language": "nl" if n % 2 == 0 else "en"} for n, url in enumerate(urls)]
    data = {"fetch": {"concurrency": concurrency, "per_origin": per_origin},
            "feeds": feeds, "channels": []}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def main() -> int:
    import feedparser

    from bot.config import load_config
    from bot.ingest import Analyzer, default_processes, tune_gc
    from bot.store import Store

    cores = default_processes()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--origins", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="fetch.concurrency (default 200)")
    parser.add_argument("--per-origin", type=int, default=2, help="fetch.per_origin")
    parser.add_argument("--workers", type=int, default=cores,
                        help="parse worker processes (default: one per core)")
    parser.add_argument("--sample", type=int, default=40,
                        help="feeds the naive loop fetches; the rest is extrapolated")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs, args.feeds, args.items,
                                                 args.latency, args.origins), daemon=True)
    server.start()
    urls: list[str] = ours.recv()
    meter = Meter(exclude=server.pid or -1)
    origins = min(args.origins, args.feeds)
    print(f"alertbot polling benchmark: {args.feeds} feeds x {args.items} items on {origins} "
          f"origins ({urls[0].split('/')[2]} ... {urls[origins - 1].split('/')[2]}), "
          f"{args.latency * 1000:.0f} ms latency per answer")
    print(f"{cores} cores; fetch.concurrency {args.concurrency}, fetch.per_origin "
          f"{args.per_origin}; parse workers: {args.workers}; Python "
          f"{sys.version.split()[0]}, feedparser {feedparser.__version__}; load average "
          f"{os.getloadavg()[0]:.2f} before the run\n")

    server_cpu = meter.psutil.Process(server.pid).cpu_times()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_config(Path(tmp), urls, args.concurrency, args.per_origin))
        store = Store(Path(tmp) / "bench.db")
        tune_gc()  # as `alertbot poll` and `run` do at start (bot.console)
        held: list[Any] = []

        def analyzer() -> Any:  # started inside the first round's measurement
            if not held:
                held.append(Analyzer(config.taxonomy, processes=args.workers))
            return held[0]

        try:
            first, s1 = asyncio.run(polite_round(config, store, analyzer, meter, ours))
            second, s2 = asyncio.run(polite_round(config, store, analyzer, meter, ours))
        finally:
            for a in held:
                a.close()
            store.close()
    served = meter.psutil.Process(server.pid).cpu_times()
    server_cpu_s = served.user + served.system - server_cpu.user - server_cpu.system
    sample = urls[: max(1, min(args.sample, args.feeds))]
    part, entries = naive_loop(sample, meter, ours)
    scale = args.feeds / len(sample)
    naive = Figures(part.wall * scale, part.cpu * scale, int(part.received * scale),
                    part.peak_rss, part.peak_pss)
    ours.send("stop")
    server.join(5)

    rows = [("first round", first, f"{s1['fetched']} x 200, {s1['failed']} failed; "
             f"{s1['new']} articles stored, {s1['relevant']} relevant; CPU "
             f"{s1['main_cpu']:.1f} s here, {first.cpu - s1['main_cpu']:.1f} s in workers"),
            ("second round", second, f"{s2['unchanged']} x 304 of {s2['requests']} requests"),
            ("naive loop (*)", naive, f"{entries} entries from {len(sample)} feeds")]
    print(f"{'':<15}{'wall':>9}{'CPU':>9}{'received':>11}{'peak RSS':>10}{'peak PSS':>10}"
          f"  answers")
    for name, f, note in rows:
        print(f"{name:<15}{f.wall:>8.2f}s{f.cpu:>8.2f}s{mb(f.received):>11}"
              f"{mb(f.peak_rss):>10}{mb(f.peak_pss):>10}  {note}")
    print(f"(*) naive loop: stock feedparser.parse(url) on {len(sample)} of {args.feeds} "
          f"feeds in turn ({part.wall:.1f} s wall, {part.cpu:.2f} s CPU, "
          f"{part.cpu / len(sample) * 1000:.1f} ms CPU per feed), extrapolated x{scale:g}; "
          f"it stores and classifies nothing")
    print(f"CPU: this process and its parse workers; the feed server used another "
          f"{server_cpu_s:.2f} s of the same cores during the two rounds. Peak RSS sums the "
          f"processes (shared pages counted in each); PSS splits them.\n")
    speedup = naive.wall / first.wall
    share_304 = s2["unchanged"] / max(1, args.feeds)
    cpu_share = second.cpu / first.cpu if first.cpu else 0.0
    peak = max(first.peak_rss, second.peak_rss)
    checks = [
        (f"first round wall: {first.wall:.2f} s", "< 10 s", first.wall < 10),
        (f"first round vs naive loop: {speedup:.1f}x faster", ">= 20x", speedup >= 20),
        (f"second round answered 304: {share_304:.1%}", ">= 95%", share_304 >= 0.95),
        (f"second round CPU: {cpu_share:.1%} of the first round's", "<= 10%",
         cpu_share <= 0.10),
        (f"peak RSS: {mb(peak)} (this process + parse workers)", "< 250 MB", peak < 250e6),
    ]
    for text, target, ok in checks:
        print(f"  {text:<56} target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

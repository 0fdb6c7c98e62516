"""HTTP client benchmark: the CPU one feed request costs, for the clients we could use.

    python bench/fetch.py [--feeds 1000] [--origins 100] [--latency 0.2] [--rounds 3]

bot/fetch.py uses aiohttp. A polling round of a thousand feeds is CPU-bound (bench/poll.py),
so the client's CPU per request counts; this compares, on the same loopback feed server as
bench/poll.py (generated 30-item feeds, one port per origin, injected latency), with the
same limits (200 requests at once, 2 per origin):

  Fetcher        bot.fetch.Fetcher (aiohttp), as the bot runs it: redirects by hand, size
                 cap, time budget, keep-alive only while a request to the origin waits
  httpx          httpx.AsyncClient (the client python-telegram-bot uses), one per run: its
                 pool looks at every pooled connection for every request
  httpx/origin   one httpx.AsyncClient per origin, 2 connections kept alive each, one TLS
                 context for all (close to what bot/fetch.py did before it moved to aiohttp)
  aiohttp        a bare aiohttp.ClientSession loop: the floor

Each runs a round of 200s (full bodies), then a round of 304s (conditional, no body), and the
clients take turns, several times (the machine is shared: compare figures of one run). Prints
CPU milliseconds per request of this process (the server runs in another). Figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Round = Callable[[list[str], dict[str, str]], Awaitable[int]]


async def with_fetcher(urls: list[str], etags: dict[str, str]) -> int:
    from bot.fetch import Fetcher

    async with Fetcher(concurrency=200, per_origin=2) as fetcher:
        async def one(i: int, url: str) -> int:
            result = await fetcher.fetch(str(i), url, etag=etags.get(url))
            assert result.error is None, result.error
            etags[url] = result.headers.get("etag", "")
            return len(result.body)
        return sum(await asyncio.gather(*(one(i, u) for i, u in enumerate(urls))))


def _limits() -> tuple[asyncio.Semaphore, defaultdict[str, asyncio.Semaphore]]:
    return asyncio.Semaphore(200), defaultdict(lambda: asyncio.Semaphore(2))


async def with_httpx(urls: list[str], etags: dict[str, str]) -> int:
    import httpx

    total, per_origin = _limits()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        async def one(url: str) -> int:
            async with per_origin[url.rsplit("/feed", 1)[0]], total:
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                response = await client.get(url, headers=headers)
                etags[url] = response.headers.get("etag", "")
                return len(response.content)
        return sum(await asyncio.gather(*(one(u) for u in urls)))


async def with_httpx_per_origin(urls: list[str], etags: dict[str, str]) -> int:
    import httpx

    total, per_origin = _limits()
    clients: dict[str, httpx.AsyncClient] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=2)
    tls = httpx.create_ssl_context()  # one for all: building one costs ~40 ms
    try:
        async def one(url: str) -> int:
            origin = url.rsplit("/feed", 1)[0]
            async with per_origin[origin], total:
                if origin not in clients:
                    clients[origin] = httpx.AsyncClient(limits=limits, verify=tls,
                                                        trust_env=False)
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                response = await clients[origin].get(url, headers=headers)
                etags[url] = response.headers.get("etag", "")
                return len(response.content)
        return sum(await asyncio.gather(*(one(u) for u in urls)))
    finally:
        for client in clients.values():
            await client.aclose()


async def with_aiohttp(urls: list[str], etags: dict[str, str]) -> int:
    import aiohttp

    total, per_origin = _limits()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(url: str) -> int:
            async with per_origin[url.rsplit("/feed", 1)[0]], total:
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                    etags[url] = response.headers.get("etag", "")
                    return len(body)
        return sum(await asyncio.gather(*(one(u) for u in urls)))


def main() -> int:
    from poll import serve  # bench/poll.py's feed server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--origins", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs, args.feeds, 30, args.latency,
                                                 args.origins), daemon=True)
    server.start()
    urls: list[str] = ours.recv()
    clients: dict[str, Round] = {"Fetcher": with_fetcher, "httpx": with_httpx,
                                 "httpx/origin": with_httpx_per_origin, "aiohttp": with_aiohttp}
    cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
    print(f"HTTP client benchmark: {args.feeds} feeds on {args.origins} origins, "
          f"{args.latency * 1000:.0f} ms latency; CPU ms per request of this process, "
          f"{args.rounds} turns each")
    for _turn in range(args.rounds):
        for name, run in clients.items():
            etags: dict[str, str] = {}
            for kind in ("200", "304"):
                gc.collect()
                started = time.process_time()
                received = asyncio.run(run(urls, etags))
                cpu[name, kind].append((time.process_time() - started) * 1000 / len(urls))
                assert (received > 0) == (kind == "200"), (name, kind, received)
    ours.send("stop")
    server.join(5)
    base = {kind: min(cpu["Fetcher", kind]) for kind in ("200", "304")}
    print(f"{'':<13}{'200 (body)':>22}{'304':>22}")
    for name in clients:
        cells = []
        for kind in ("200", "304"):
            best = min(cpu[name, kind])
            cells.append(f"{best:6.2f} ms ({best / base[kind]:4.1f}x)")
        print(f"{name:<13}" + "".join(f"{c:>22}" for c in cells))
    print("(best of the turns; in brackets, relative to Fetcher)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A scripted loopback HTTP/1.1 server for the fetcher's tests, in the test's own event loop.

Each request is answered by a handler: `Reply(status, body, headers, body_delay, endless)`, or
an awaitable of one (a handler may sleep, or count requests in flight). Keep-alive as a real
server does it, `Connection: close` honoured.

    async with serve(lambda req: Reply(body=FEED)) as base:   # one origin
        ...fetch base + "/feed"...
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from bot.fetch import Fetcher
from bot.models import FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body_delay: float = 0.0  # seconds between the head and the body
    endless: bool = False    # a chunked body of 1 KiB pieces, until the client goes


Handler = Callable[[Req], "Reply | Awaitable[Reply]"]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A loopback HTTP/1.1 server (keep-alive) in the test's own event loop; each request
    is answered by `handler`. Yields its base URL, one origin."""
    open_: set[asyncio.StreamWriter] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_.add(writer)
        try:
            await answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            open_.discard(writer)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, *rest = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = line.split(" ", 2)
            headers = {k.lower(): v.strip()
                       for k, _, v in (h.partition(":") for h in rest if h)}
            reply = handler(Req(method, path, headers))
            if inspect.isawaitable(reply):
                reply = await reply
            assert isinstance(reply, Reply)
            framing = {"Transfer-Encoding": "chunked"} if reply.endless else \
                {"Content-Length": str(len(reply.body))}
            head = f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in {**framing, **reply.headers}.items()) + "\r\n"
            writer.write(head.encode("latin-1"))
            await writer.drain()
            if reply.body_delay:
                await asyncio.sleep(reply.body_delay)
            while reply.endless:
                writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                await writer.drain()
            writer.write(reply.body)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return  # as RFC 9112 9.6 asks of a server

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in list(open_):  # answers still being written (delayed, endless)
            writer.close()


def fetch(handler: Handler, path: str = "/feed", **kw: object) -> FetchResult:
    """One fetch of `path` on a loopback server answering with `handler`."""
    fetcher_kw = {k: kw.pop(k) for k in list(kw) if k not in ("etag", "last_modified")}

    async def run() -> FetchResult:
        async with serve(handler) as base, Fetcher(**fetcher_kw) as f:  # type: ignore[arg-type]
            SERVED.append(base)
            return await f.fetch("f", base + path, **kw)  # type: ignore[arg-type]
    return asyncio.run(run())


SERVED: list[str] = []  # the base URL of each fetch()'s server, newest last


def redirects(chain: dict[str, tuple[int, str]]) -> Handler:
    """path -> (status, Location); a path not in `chain` answers 200 with a feed."""
    def handle(request: Req) -> Reply:
        hop = chain.get(request.path)
        if hop is None:
            return Reply(body=FEED)
        return Reply(hop[0], headers={"Location": hop[1]} if hop[1] else {})
    return handle

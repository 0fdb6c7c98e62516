"""One small HTTP connection pool per origin, for rounds that touch hundreds of servers.

httpx's connection pool (httpcore) looks at every pooled connection for every request it
places, and asks each socket whether it is still readable: with a pool as large as the round's
concurrency (200 connections to 100 origins), connection bookkeeping costs more CPU than
parsing the feeds. `OriginPools` is an httpx transport that keeps one httpcore pool per
(scheme, host, port), with at most `keepalive` idle connections kept, and closes the least
recently used idle pools past `keep` so that a round over a thousand origins does not hold
two thousand sockets open. It does not limit requests per origin: its caller does
(bot/fetch.py's Fetcher, which sends at most `per_origin` at once, so each request here
looks at two connections at most).

    transport = OriginPools(keepalive=2, keep=200)
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator

import httpx

Origin = tuple[str, str, int]


def origin_of(url: httpx.URL | str) -> Origin:
    """(scheme, host, port): the unit of the per-origin limit and of the pools here."""
    if isinstance(url, str):
        url = httpx.URL(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host.lower(), port


class OriginPools(httpx.AsyncBaseTransport):
    """Routes each request to its origin's own pool, which keeps `keepalive` connections."""

    def __init__(self, *, keepalive: int = 2, keep: int = 100,
                 keepalive_expiry: float = 5.0) -> None:
        self.keepalive = keepalive
        self.keep = max(1, keep)
        self.keepalive_expiry = keepalive_expiry
        self._pools: OrderedDict[Origin, httpx.AsyncHTTPTransport] = OrderedDict()
        self._busy: dict[Origin, int] = {}
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        # built once and shared: loading the CA bundle costs ~40 ms per context
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    def _pool(self, key: Origin) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(key)
        if pool is None:
            limits = httpx.Limits(max_connections=None,  # the caller limits requests
                                  max_keepalive_connections=self.keepalive,
                                  keepalive_expiry=self.keepalive_expiry)
            verify: ssl.SSLContext | bool = self._tls_context() if key[0] == "https" else False
            pool = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
            self._pools[key] = pool
        else:
            self._pools.move_to_end(key)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = origin_of(request.url)
        pool = self._pool(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            await self._release(key)
            raise
        response.stream = _Released(response.stream, self, key)
        return response

    async def _release(self, key: Origin) -> None:
        self._busy[key] -= 1
        if not self._busy[key]:
            del self._busy[key]
        while len(self._pools) > self.keep:
            idle = next((k for k in self._pools if k not in self._busy), None)
            if idle is None:
                break
            await self._pools.pop(idle).aclose()

    async def close_idle(self) -> None:
        """Close every pool with no request in flight (their kept-alive connections); new
        ones open as requests come, with the same TLS context."""
        for key in [k for k in self._pools if k not in self._busy]:
            await self._pools.pop(key).aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


class _Released(httpx.AsyncByteStream):
    """The response body; closing it hands the origin's pool back."""

    def __init__(self, stream: httpx.AsyncByteStream | httpx.SyncByteStream,
                 owner: OriginPools, key: Origin) -> None:
        self._stream = stream
        self._owner, self._key, self._closed = owner, key, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._stream, httpx.AsyncByteStream)
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if isinstance(self._stream, httpx.AsyncByteStream):
                await self._stream.aclose()
        finally:
            await self._owner._release(self._key)

"""Polite, bounded HTTP fetching of feeds (shared/fetching.md).

`Fetcher.fetch` never raises for one feed: it returns a FetchResult with `error` set, so one bad
server never stops a round. Every request is conditional when validators are stored; redirects
are followed by hand so that only an all-permanent chain (301/308) that ends in an answer moves
the stored URL; loops and more than `max_redirects` hops fail cleanly. At most `concurrency`
requests run at once, and `per_origin` per (scheme, host, port): this is the one place that
limits them. A 410 disables the feed only when reached without a temporary redirect. The body
is streamed and cut off past `max_bytes` (decoded, so a gzip bomb is cut off too); a 429/503
body is never read. Each fetch may spend `timeout` seconds talking to servers, all hops
together, counted from when it gets a free slot (a long queue does not time feeds out); each
connection `connect_timeout`. Whatever a broken or hostile server sends (garbage for a head, a
body cut short, a broken gzip stream, header bytes that are not UTF-8) comes back as a short
one-line error, or as text that can be stored and logged (bot/wire.py).

The client is aiohttp: a round of a thousand feeds is CPU-bound, and this fetcher spends about
a third of the CPU per request that httpx did with a client per origin (bench/fetch.py,
side by side on one loopback server: 0.44 against 1.34 ms per 200, 0.36 against 1.30 per 304).
A connection is kept alive only while another request to its origin waits for it (the last
one sends `Connection: close`): rounds come minutes apart, long after any server has closed an
idle connection, and a round over a thousand origins must not hold a thousand idle sockets.

`plan_next` is the pure decider: given a feed's state and a fetch result, when to fetch next,
with capped exponential backoff, Retry-After, Cache-Control max-age / Expires, <ttl> and jitter.
Every server-given wait is clamped before it becomes a timedelta, so no header value can
overflow it.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import aiohttp
import certifi
from aiohttp.http_exceptions import HttpProcessingError

from bot import USER_AGENT
from bot.errors import redact
from bot.models import FeedState, FetchResult
from bot.wire import (
    BadBody,
    Decoder,
    body_bytes,
    describe,
    header_text,
    location_url,
    shown,
    wake_on_close,
)

log = logging.getLogger(__name__)

MAX_WAIT = timedelta(hours=24)     # fetching.md: Retry-After / max-age capped at 24 hours
MAX_BACKOFF = timedelta(hours=12)
REDIRECTS = (301, 302, 303, 307, 308)
PERMANENT = (301, 308)
NEVER_READ = (429, 503)            # fetching.md: their bodies are never read
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
KEEPALIVE = 5.0                    # seconds an idle connection is kept, at most

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin:
    """(scheme, host, port): the unit of the per-origin limit. ValueError for a URL without
    a host or with a bad port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"no host in URL {shown(url)!r}")
    return parts.scheme, host, parts.port or (443 if parts.scheme == "https" else 80)


class Fetcher:
    """Fetches feeds with at most `concurrency` requests in total and `per_origin` per origin."""

    def __init__(self, *, concurrency: int = 20, per_origin: int = 2,
                 connect_timeout: float = 10.0, timeout: float = 30.0,
                 max_bytes: int = 10 * 1024 * 1024, max_redirects: int = 5,
                 user_agent: str | None = None) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._total = asyncio.Semaphore(concurrency)
        # the per-origin limit: taken before a slot of `concurrency` and before the clock of
        # `timeout` starts, so requests queued for one busy origin hold up neither the
        # other origins nor their own time limit
        self._origins: dict[Origin, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_origin))
        self._wanted: Counter[Origin] = Counter()  # requests per origin, queued or under way
        self._headers = {"User-Agent": user_agent or USER_AGENT, "Accept": ACCEPT,
                         "Accept-Encoding": "gzip, deflate"}
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The session, made at the first request (aiohttp wants a running event loop)."""
        if self._session is None or self._session.closed:
            if self._tls is None:  # built once: loading the CA bundle costs ~40 ms
                self._tls = ssl.create_default_context(cafile=certifi.where())
            # limit=0: this class limits requests; trust_env=False: no proxy from the
            # environment; no cookies: feeds get none; auto_decompress=False: Decoder
            connector = aiohttp.TCPConnector(limit=0, ssl=self._tls, keepalive_timeout=KEEPALIVE)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout))
        return self._session

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def close_idle(self) -> None:
        """Between rounds: close the connections still open (the TLS context is kept).
        Keep-alive expires after seconds, rounds come minutes apart."""
        if not self._wanted:  # no request under way
            await self.aclose()

    @asynccontextmanager
    async def _stream(self, url: str, headers: dict[str, str],
                      origin: Origin) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = {**self._headers, **headers}
        if self._wanted[origin] <= 1:
            # no other request waits for this origin: the server closes the connection
            # after answering (RFC 9112 9.6), so neither side keeps an idle socket
            headers["Connection"] = "close"
        response = await self._client().get(url, headers=headers, allow_redirects=False)
        wake_on_close(response)
        try:
            yield response
        finally:
            response.release()  # to the pool when read to its end and kept alive; else closed

    async def fetch(self, feed: str, url: str, *, etag: str | None = None,
                    last_modified: str | None = None) -> FetchResult:
        """Fetch one feed; every failure comes back as a result with `error` set."""
        budget = _Budget(self.timeout)
        try:
            result = await self._follow(feed, url, etag, last_modified, budget)
        except aiohttp.ConnectionTimeoutError:  # before TimeoutError: it is one
            result = _failure(feed, url, "timeout",
                              f"no connection within {self.connect_timeout:g} s")
        except TimeoutError:
            result = _failure(feed, url, "timeout",
                              f"no complete answer within {self.timeout:g} s")
        except (aiohttp.ClientError, HttpProcessingError, OSError, ValueError,
                BadBody) as exc:  # bad URLs, bad HTTP, resets, broken bodies
            result = _failure(feed, url, *describe(exc))
        return replace(result, bytes_received=result.bytes_received + budget.received)

    async def _follow(self, feed: str, url: str, etag: str | None,
                      last_modified: str | None, budget: _Budget) -> FetchResult:
        seen = {url}
        current, permanent = url, True
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _hop in range(self.max_redirects + 1):
            origin = origin_of(current)
            self._wanted[origin] += 1
            if _hop == 0:
                # fetches started together (a round's gather) all say which origin they
                # want before the first request goes out and decides on keep-alive
                await asyncio.sleep(0)
            try:
                # The time limit counts from when the request may start, not while it
                # waits for a free slot: a long queue must not time out feeds that were
                # never asked for.
                async with self._origins[origin], self._total, budget.running():
                    result = await self._get(feed, url, current, headers, budget, origin)
            finally:
                self._wanted[origin] -= 1
                if not self._wanted[origin]:
                    del self._wanted[origin]
            if result.status not in REDIRECTS:
                # fetching.md: store the new URL only when every hop was permanent and the
                # new place answered (a 301 to a dead page is no reason to move).
                moved = permanent and current != url and result.status in (200, 304) \
                    and result.error is None
                if result.error_kind == "gone" and not permanent:
                    # a 410 behind a temporary redirect says nothing about the feed's own
                    # address, which may answer again: an ordinary failure, with backoff
                    result = replace(result, error_kind="http")
                return replace(result, final_url=current,
                               permanent_url=current if moved else None)
            location = result.headers.get("location")
            if not location:
                return _failure(feed, url, "redirect", f"HTTP {result.status} without Location",
                                status=result.status)
            try:
                target = urljoin(current, location)
                if urlsplit(target).scheme in ("http", "https"):
                    origin_of(target)  # a host, a valid port
            except ValueError:  # http://[::1/x, a port past 65535, no host
                return _failure(feed, url, "redirect",
                                f"redirect to an invalid URL: {shown(location)}",
                                status=result.status)
            if urlsplit(target).scheme not in ("http", "https"):
                return _failure(feed, url, "redirect",
                                f"redirect to a non-http URL: {shown(target)}",
                                status=result.status)
            if target in seen:
                return _failure(feed, url, "redirect", f"redirect loop: {shown(target)} again",
                                status=result.status)
            seen.add(target)
            permanent = permanent and result.status in PERMANENT
            current = target
        return _failure(feed, url, "redirect",
                        f"more than {self.max_redirects} redirects (last: {shown(current)})")

    async def _get(self, feed: str, url: str, current: str, headers: dict[str, str],
                   budget: _Budget, origin: Origin) -> FetchResult:
        if urlsplit(current).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {shown(current)}")
        async with self._stream(current, headers, origin) as response:
            info: dict[str, str] = {}
            for key, value in response.headers.items():  # a repeated header: joined, RFC 9110
                key = key.lower()
                value = location_url(value) if key == "location" else header_text(value)
                info[key] = f"{info[key]}, {value}" if key in info else value
            status = response.status
            common = dict(feed=feed, url=url, status=status, headers=info,
                          max_age=cache_lifetime(info))
            try:
                if status != 200 and status not in NEVER_READ:
                    await _drain(response)  # so the connection can serve the next request
                if status in REDIRECTS or status == 304:
                    return FetchResult(**common)  # type: ignore[arg-type]
                if status != 200:
                    # fetching.md: a 429/503 body is never read (not even drained: its
                    # connection goes), let alone parsed. Retry-After as an HTTP-date counts
                    # from the server's own Date, as Expires does
                    retry = parse_retry_after(info.get("retry-after"),
                                              now=http_date(info.get("date"))) \
                        if status in NEVER_READ else None
                    error = f"HTTP {status} {header_text(response.reason or '')[:100]}".strip()
                    return FetchResult(**common, error=error,  # type: ignore[arg-type]
                                       error_kind="gone" if status == 410 else "http",
                                       retry_after=retry)
                declared = info.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    return FetchResult(**common, error=f"body of {declared} bytes is larger "  # type: ignore[arg-type]
                                       f"than the limit of {self.max_bytes}; not read",
                                       error_kind="too-large")
                decoder = Decoder.of(info.get("content-encoding"))
                body = bytearray()
                async for chunk in response.content.iter_any():
                    # decoded at most to one byte past the cap: a gzip bomb is cut off
                    body += decoder.decode(chunk, self.max_bytes + 1 - len(body)) \
                        if decoder else chunk
                    if len(body) > self.max_bytes:
                        return FetchResult(**common, error=f"body larger than {self.max_bytes} "  # type: ignore[arg-type]
                                           "bytes; stopped reading", error_kind="too-large")
                if decoder:
                    decoder.finish()
                return FetchResult(**common, body=bytes(body))  # type: ignore[arg-type]
            finally:
                budget.received += body_bytes(response.content)


DRAIN_LIMIT = 64 * 1024


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a body known to be small to its end (a 304 has none; a redirect or error page
    declares a little): closed before its end, a keep-alive connection is thrown away and the
    next request to that origin opens a new one. A body of unknown or larger size is not read;
    its connection goes. Never called for a 429/503 (NEVER_READ), whose body is not read at
    all. Nothing read here reaches the parser."""
    length = response.headers.get("content-length", "")
    if response.status in (204, 304) or response.content.is_eof():
        return  # nothing to read
    if length.isdigit() and int(length) <= DRAIN_LIMIT:
        async for _chunk in response.content.iter_any():
            pass


class _Budget:
    """The time a fetch may spend talking to servers (all its redirect hops together)."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.received = 0  # bytes on the wire, all hops

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(self.left, 0.001)):
                yield
        finally:
            self.left -= time.monotonic() - started


def _failure(feed: str, url: str, kind: str, message: str,
             status: int | None = None) -> FetchResult:
    return FetchResult(feed=feed, url=url, status=status, error=redact(header_text(message))[:300],
                       error_kind=kind)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110 10.2.3): delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def cache_lifetime(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Cache-Control max-age, else Expires, in seconds (RFC 9111 4.2.1, 5.3).

    Expires counts from the response's own Date when it has one, so a server whose clock
    is off still gets the lifetime it meant."""
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == "max-age" and value.isascii() and value.isdigit():
            return float(value)
    expires = http_date(headers.get("expires"))
    if expires is None:
        return None
    sent = http_date(headers.get("date")) or now or datetime.now(UTC)
    return max(0.0, (expires - sent).total_seconds())


def http_date(value: str | None) -> datetime | None:
    """An HTTP-date (RFC 9110 5.6.7) as an aware datetime; None when absent or invalid."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def plan_next(state: FeedState, result: FetchResult, *, now: datetime, interval: timedelta,
              jitter: float = 0.1, rng: random.Random | None = None,
              parse_error: str | None = None, ttl_minutes: int | None = None) -> FeedState:
    """The feed's state after this fetch (pure: `now` and `rng` are passed in).

    Success: next fetch after the interval, or later when Cache-Control max-age / Expires or
    the feed's <ttl> ask for it (capped at 24 h), plus up to `jitter` x interval at random so
    feeds drift apart. `ttl_minutes` is the <ttl> of the body just parsed (None: it has
    none); it is kept on the state, so that a 304 (no body) still honours it. A permanent
    redirect moves the feed only when the new place gave a feed (or a 304). Failure: capped
    exponential backoff with the same jitter, never sooner than a Retry-After (429/503).
    410 Gone (error_kind "gone": no temporary redirect on the way): disabled, never fetched
    again.
    """
    rng = rng or random.Random()
    spread = timedelta(seconds=interval.total_seconds() * jitter * rng.random())
    base = replace(state, last_fetch=now)
    error = result.error or parse_error
    if result.error_kind == "gone":
        return replace(base, last_status="410", last_error="410 Gone: the publisher removed "
                       "this feed; polling stopped (remove it from feeds.yaml or fix its URL)",
                       disabled=True, disabled_reason="410 Gone", failures=state.failures + 1,
                       next_due=None, retry_after_until=None)
    if error is None and result.status in (200, 304):
        etag, modified = result.headers.get("etag"), result.headers.get("last-modified")
        ttl = ttl_minutes
        if result.status == 304:  # keep the validators unless the 304 refreshes them
            etag, modified = etag or state.etag, modified or state.last_modified
            ttl = state.ttl_minutes  # a 304 has no body: the feed's <ttl> is as it was
        wait = max(interval, _capped(result.max_age), _capped(ttl * 60 if ttl else None))
        # fetch.py sets permanent_url only when every hop was 301/308 and the new place
        # answered; it is stored only now that what it answered parsed too (a 301 to an HTML
        # page is no reason to move)
        return replace(base, fetch_url=result.permanent_url or state.fetch_url, etag=etag,
                       last_modified=modified, last_status=str(result.status),
                       last_error=None, last_success=now, failures=0, ttl_minutes=ttl,
                       next_due=now + wait + spread, retry_after_until=None)
    failures = state.failures + 1
    # interval x 2^(n-1), capped; the exponent is bounded so a long outage cannot overflow
    cap = max(MAX_BACKOFF, interval)
    backoff = timedelta(seconds=min(interval.total_seconds() * 2 ** min(failures - 1, 16),
                                    cap.total_seconds()))
    backoff += timedelta(seconds=backoff.total_seconds() * jitter * rng.random())
    retry_until = None
    if result.retry_after is not None:
        retry_until = now + _capped(result.retry_after)
        backoff = max(backoff, retry_until - now)
    return replace(base, last_status=_status_label(result, parse_error), last_error=error,
                   failures=failures, next_due=now + backoff, retry_after_until=retry_until)


def _status_label(result: FetchResult, parse_error: str | None) -> str:
    """What the status table shows: the HTTP status, or what went wrong without one."""
    if result.error is None and parse_error is not None:
        return "not a feed" if "not a feed" in parse_error else "parse error"
    if result.status and result.error_kind in ("http", "gone"):
        return str(result.status)  # 404, 429, 503, ...
    kind = result.error_kind or "error"
    if kind in ("http", "internal"):
        return f"{kind} error"
    return kind  # timeout, connect, redirect, too-large


def _capped(seconds: float | None) -> timedelta:
    """A server-given wait in seconds as a timedelta of at most MAX_WAIT. Clamped before
    the timedelta is built: `max-age=99999999999999` or a <ttl> as large would overflow it."""
    if not seconds or not seconds > 0:  # None, 0, negative (and NaN)
        return timedelta(0)
    return timedelta(seconds=min(seconds, MAX_WAIT.total_seconds()))

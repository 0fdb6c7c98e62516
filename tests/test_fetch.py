"""bot/fetch.py: the pure decider plan_next (with `now` and a seeded rng passed in), the
header readers, and Fetcher against a loopback HTTP server in the test's own event loop, whose
handlers script each answer (what goes out, what comes back, and when). Politeness seen from
a real feed server's side is in test_polling.py."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import random
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot import PROJECT_URL, __version__
from bot.fetch import Fetcher, cache_lifetime, parse_retry_after, plan_next
from bot.models import FeedState, FetchResult
from tests.fakes.scripted_server import (
    FEED,
    SERVED,
    Handler,
    Reply,
    Req,
    fetch,
    redirects,
    serve,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)


def state(**kw: object) -> FeedState:
    return FeedState(name="f", url="http://a/feed", fetch_url="http://a/feed", **kw)  # type: ignore[arg-type]


def result(status: int | None = 200, **kw: object) -> FetchResult:
    return FetchResult(feed="f", url="http://a/feed", status=status, **kw)  # type: ignore[arg-type]


def plan(old: FeedState, res: FetchResult, *, jitter: float = 0.0, seed: int = 1,
         **kw: object) -> FeedState:
    return plan_next(old, res, now=NOW, interval=INTERVAL, jitter=jitter,
                     rng=random.Random(seed), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ plan_next


def test_success_is_next_due_after_the_interval_plus_at_most_the_jitter():
    dues = [plan(state(), result(), jitter=0.1, seed=s).next_due for s in range(50)]
    assert all(NOW + INTERVAL <= d <= NOW + INTERVAL * 1.1 for d in dues if d)


def test_jitter_spreads_feeds_fetched_in_the_same_second():
    dues = {plan(state(), result(), jitter=0.1, seed=s).next_due for s in range(50)}
    assert len(dues) == 50


def test_validators_are_stored_exactly_as_received():
    new = plan(state(), result(headers={"etag": 'W/"abc-1"',
                                        "last-modified": "Sat, 28 Nov 2026 10:00:00 GMT"}))
    assert new.etag == 'W/"abc-1"'
    assert new.last_modified == "Sat, 28 Nov 2026 10:00:00 GMT"


def test_304_keeps_the_stored_validators():
    new = plan(state(etag='"v1"', last_modified="x"), result(304))
    assert (new.etag, new.last_modified, new.last_status) == ('"v1"', "x", "304")


def test_304_with_new_validators_refreshes_them():
    new = plan(state(etag='"v1"'), result(304, headers={"etag": '"v2"'}))
    assert new.etag == '"v2"'


def test_max_age_longer_than_the_interval_postpones_the_next_fetch():
    new = plan(state(), result(max_age=3600))
    assert new.next_due == NOW + timedelta(hours=1)


def test_max_age_shorter_than_the_interval_never_brings_it_forward():
    assert plan(state(), result(max_age=60)).next_due == NOW + INTERVAL


def test_max_age_is_capped_at_24_hours():
    assert plan(state(), result(max_age=30 * 86400)).next_due == NOW + timedelta(hours=24)


def test_rss_ttl_postpones_the_next_fetch_capped_at_24_hours():
    assert plan(state(), result(), ttl_minutes=120).next_due == NOW + timedelta(hours=2)
    assert plan(state(), result(), ttl_minutes=9 * 1440).next_due == NOW + timedelta(hours=24)


def test_rss_ttl_is_kept_on_the_feed_and_honoured_after_a_304():
    after_200 = plan(state(), result(), ttl_minutes=120)
    assert after_200.ttl_minutes == 120
    after_304 = plan(after_200, result(304))
    assert after_304.ttl_minutes == 120 and after_304.next_due == NOW + timedelta(hours=2)


def test_a_body_without_ttl_forgets_the_old_one():
    new = plan(state(ttl_minutes=120), result())
    assert new.ttl_minutes is None and new.next_due == NOW + INTERVAL


def test_a_failure_keeps_the_stored_ttl():
    assert plan(state(ttl_minutes=120), result(500, error="x", error_kind="http")).ttl_minutes \
        == 120


@pytest.mark.parametrize("res", [
    result(max_age=1e20),
    result(max_age=float("9" * 400)),  # float() of 400 digits is inf
    result(429, error="HTTP 429", error_kind="http", retry_after=1e20),
    result(503, error="HTTP 503", error_kind="http", retry_after=float("inf")),
])
def test_huge_server_waits_are_capped_at_24_hours_not_overflowed(res):
    new = plan(state(), res)
    assert new.next_due == NOW + timedelta(hours=24)


def test_a_huge_ttl_is_capped_at_24_hours_not_overflowed():
    assert plan(state(), result(), ttl_minutes=10**18).next_due == NOW + timedelta(hours=24)
    assert plan(state(ttl_minutes=10**18), result(304)).next_due == NOW + timedelta(hours=24)


def test_failures_back_off_exponentially():
    old, waits = state(), []
    for _ in range(4):
        old = plan(old, result(500, error="HTTP 500", error_kind="http"))
        assert old.next_due is not None
        waits.append(old.next_due - NOW)
    assert waits == [INTERVAL, INTERVAL * 2, INTERVAL * 4, INTERVAL * 8]
    assert old.failures == 4 and old.last_status == "500"


def test_backoff_is_capped_and_a_long_outage_does_not_overflow():
    new = plan(state(failures=5000), result(None, error="timeout", error_kind="timeout"))
    assert new.next_due == NOW + timedelta(hours=12)


def test_backoff_has_jitter_within_its_share():
    waits = {plan(state(failures=2), result(500, error="x", error_kind="http"), jitter=0.1,
                  seed=s).next_due for s in range(20)}
    assert len(waits) == 20
    assert all(NOW + INTERVAL * 4 <= w <= NOW + INTERVAL * 4 * 1.1 for w in waits if w)


def test_retry_after_on_429_is_the_earliest_next_fetch():
    new = plan(state(), result(429, error="HTTP 429", error_kind="http", retry_after=7200))
    assert new.retry_after_until == NOW + timedelta(hours=2)
    assert new.next_due == NOW + timedelta(hours=2)
    assert new.last_status == "429"


def test_retry_after_is_capped_at_24_hours():
    new = plan(state(), result(503, error="HTTP 503", error_kind="http",
                               retry_after=10 * 86400))
    assert new.retry_after_until == NOW + timedelta(hours=24)


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it():
    new = plan(state(failures=3), result(429, error="x", error_kind="http", retry_after=5))
    assert new.next_due == NOW + INTERVAL * 8


def test_internal_error_backs_off_like_any_failure():
    old, waits = state(), []
    for _ in range(3):
        old = plan(old, result(None, error="internal error: KeyError", error_kind="internal"))
        assert old.next_due is not None
        waits.append(old.next_due - NOW)
    assert waits == [INTERVAL, INTERVAL * 2, INTERVAL * 4]
    assert old.last_status == "internal error" and old.failures == 3


def test_410_disables_the_feed_and_says_so():
    new = plan(state(), result(410, error="HTTP 410 Gone", error_kind="gone"))
    assert new.disabled and new.disabled_reason == "410 Gone"
    assert new.next_due is None
    assert "410 Gone" in (new.last_error or "") and "polling stopped" in (new.last_error or "")


def test_success_resets_failures_and_clears_errors():
    old = state(failures=4, last_error="timeout", retry_after_until=NOW)
    new = plan(old, result())
    assert (new.failures, new.last_error, new.retry_after_until) == (0, None, None)
    assert new.last_success == NOW


def test_parse_error_is_a_failure_that_keeps_the_old_validators():
    new = plan(state(etag='"old"'), result(headers={"etag": '"html"'}),
               parse_error="an HTML page, not a feed; the page names a feed: use http://a/x")
    assert new.failures == 1 and new.etag == '"old"'
    assert new.last_status == "not a feed"
    assert "use http://a/x" in (new.last_error or "")


def test_permanent_redirect_moves_the_fetch_url_but_not_the_configured_one():
    new = plan(state(), result(permanent_url="http://b/feed"))
    assert (new.fetch_url, new.url) == ("http://b/feed", "http://a/feed")


def test_permanent_redirect_to_something_that_is_no_feed_does_not_move_the_feed():
    new = plan(state(), result(permanent_url="http://b/page.html"),
               parse_error="an HTML page, not a feed")
    assert new.fetch_url == "http://a/feed" and new.failures == 1


def test_transport_errors_are_labelled_by_kind():
    for kind in ("timeout", "connect", "too-large", "redirect"):
        assert plan(state(), result(None, error="x", error_kind=kind)).last_status == kind


# ------------------------------------------------------------------ headers


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Sun, 29 Nov 2026 13:00:00 GMT", now=NOW) == 3600
    assert parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now=NOW) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None


def test_cache_lifetime_prefers_max_age_over_expires():
    headers = {"cache-control": "public, max-age=600",
               "expires": "Sun, 29 Nov 2026 15:00:00 GMT"}
    assert cache_lifetime(headers, now=NOW) == 600


def test_expires_counts_from_the_servers_own_date():
    headers = {"date": "Sun, 29 Nov 2026 08:00:00 GMT",
               "expires": "Sun, 29 Nov 2026 09:00:00 GMT"}
    assert cache_lifetime(headers, now=NOW) == 3600


def test_invalid_cache_headers_are_ignored():
    assert cache_lifetime({"cache-control": "max-age=soon", "expires": "0"}, now=NOW) is None


# ------------------------------------------------------------------ Fetcher on loopback

def test_user_agent_names_the_bot_its_version_and_project_and_gzip_is_accepted():
    seen: list[Req] = []
    fetch(lambda r: seen.append(r) or Reply(body=FEED))
    agent = seen[0].headers["user-agent"]
    assert "alertbot" in agent and __version__ in agent and PROJECT_URL in agent
    assert "gzip" in seen[0].headers["accept-encoding"]
    assert "cookie" not in seen[0].headers


def test_request_is_conditional_only_with_stored_validators():
    seen: list[Req] = []
    fetch(lambda r: seen.append(r) or Reply(304))
    fetch(lambda r: seen.append(r) or Reply(304), etag='W/"x"',
          last_modified="Sat, 28 Nov 2026 10:00:00 GMT")
    assert "if-none-match" not in seen[0].headers
    assert "if-modified-since" not in seen[0].headers
    assert seen[1].headers["if-none-match"] == 'W/"x"'
    assert seen[1].headers["if-modified-since"] == "Sat, 28 Nov 2026 10:00:00 GMT"


def test_gzip_body_is_decoded():
    res = fetch(lambda r: Reply(body=gzip.compress(FEED), headers={"Content-Encoding": "gzip"}))
    assert res.ok and res.body == FEED


def test_repeated_headers_are_joined():
    res = fetch(lambda r: Reply(body=FEED, headers={"Cache-Control": "public",
                                                    "cache-control": "max-age=600"}))
    assert res.headers["cache-control"] == "public, max-age=600" and res.max_age == 600


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("declared", [False, True])
def test_429_and_503_bodies_are_never_read_and_retry_after_is_kept(status, declared):
    """Not even a small one with a Content-Length, which other statuses have read to its end
    so that their connection can be reused (fetching.md: never read a 429/503 body). The
    body comes 5 s after the head: read, the fetch would time out after 1 s."""
    headers = {"Retry-After": "120"}
    res = fetch(lambda r: Reply(status, body=b"x" * 1024, headers=headers, body_delay=5,
                                endless=not declared), timeout=1)
    assert res.status == status and res.retry_after == 120 and res.body == b""
    assert res.error_kind == "http"


def test_a_small_error_page_is_read_to_its_end_and_the_connection_serves_the_next():
    ports: list[str] = []

    async def run() -> list[FetchResult]:
        def handle(r: Req) -> Reply:
            ports.append(r.headers.get("x-port", ""))
            return Reply(404, body=b"not here") if r.path == "/missing" else Reply(body=FEED)
        async with serve(handle) as base, Fetcher(per_origin=1) as f:
            return list(await asyncio.gather(f.fetch("a", base + "/missing"),
                                             f.fetch("b", base + "/feed")))
    missing, found = asyncio.run(run())
    assert missing.status == 404 and missing.error and found.ok


def test_huge_max_age_and_retry_after_headers_give_a_24_hour_wait():
    nines = "9" * 30
    res = fetch(lambda r: Reply(body=FEED, headers={"Cache-Control": f"max-age={nines}"}))
    assert plan(state(), res).next_due == NOW + timedelta(hours=24)
    res = fetch(lambda r: Reply(429, headers={"Retry-After": nines}))
    assert plan(state(), res).retry_after_until == NOW + timedelta(hours=24)


def test_body_past_the_size_cap_is_cut_off_while_streaming():
    res = fetch(lambda r: Reply(endless=True), max_bytes=10 * 1024, timeout=10)
    assert res.error_kind == "too-large" and "stopped reading" in (res.error or "")
    assert res.body == b""


def test_declared_length_past_the_cap_is_not_read_at_all():
    """The body comes 5 s after the head: read, the fetch would time out after 1 s."""
    res = fetch(lambda r: Reply(body=b"x" * 100 * 1024, body_delay=5),
                max_bytes=10 * 1024, timeout=1)
    assert res.error_kind == "too-large" and "not read" in (res.error or "")


def test_gzip_bomb_is_cut_off_after_decoding():
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    res = fetch(lambda r: Reply(body=bomb, headers={"Content-Encoding": "gzip"}),
                max_bytes=1024 * 1024)
    assert res.error_kind == "too-large" and len(bomb) < 1024 * 1024


def test_a_broken_gzip_body_is_an_error_result():
    res = fetch(lambda r: Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    assert res.error_kind == "http" and res.body == b""


def test_all_permanent_redirects_give_the_new_url():
    res = fetch(redirects({"/feed": (301, "/b"), "/b": (308, "/new")}))
    new = SERVED[-1] + "/new"
    assert res.ok and res.permanent_url == new and res.final_url == new


def test_a_redirect_to_an_absolute_url_on_another_origin_is_followed():
    async def run() -> FetchResult:
        async with serve(lambda r: Reply(body=FEED)) as other, \
                serve(lambda r: Reply(301, headers={"Location": other + "/new"})) as base, \
                Fetcher() as f:
            SERVED.append(other)
            return await f.fetch("f", base + "/feed")
    res = asyncio.run(run())
    assert res.ok and res.permanent_url == SERVED[-1] + "/new" and res.body == FEED


@pytest.mark.parametrize("status", [302, 307, 303])
def test_a_temporary_redirect_keeps_the_stored_url(status):
    res = fetch(redirects({"/feed": (status, "/elsewhere")}))
    assert res.ok and res.permanent_url is None and res.final_url == SERVED[-1] + "/elsewhere"


def test_permanent_then_temporary_keeps_the_stored_url():
    res = fetch(redirects({"/feed": (301, "/b"), "/b": (302, "/c")}))
    assert res.ok and res.permanent_url is None


def test_permanent_redirect_to_a_dead_page_keeps_the_stored_url():
    res = fetch(lambda r: Reply(301, headers={"Location": "/gone"}) if r.path == "/feed"
                else Reply(404))
    assert res.status == 404 and res.permanent_url is None


def gone_behind(status: int) -> Handler:
    return lambda r: Reply(status, headers={"Location": "/moved"}) if r.path == "/feed" \
        else Reply(410)


def test_410_behind_a_permanent_redirect_is_gone():
    res = fetch(gone_behind(301))
    assert (res.status, res.error_kind) == (410, "gone")
    assert plan(state(), res).disabled


@pytest.mark.parametrize("status", [302, 303, 307])
def test_410_behind_a_temporary_redirect_is_an_ordinary_failure(status):
    res = fetch(gone_behind(status))
    assert (res.status, res.error_kind) == (410, "http")
    new = plan(state(), res)
    assert not new.disabled and new.failures == 1 and new.next_due == NOW + INTERVAL
    assert new.last_status == "410"


def test_redirect_loop_fails_cleanly():
    res = fetch(redirects({"/feed": (301, "/b"), "/b": (301, "/feed")}))
    assert res.error_kind == "redirect" and "loop" in (res.error or "")


def test_five_redirects_are_followed_and_a_sixth_fails():
    five = {f"/{i}": (302, f"/{i + 1}") for i in range(5)}
    assert fetch(redirects(five), "/0").ok
    six = {f"/{i}": (302, f"/{i + 1}") for i in range(6)}
    res = fetch(redirects(six), "/0")
    assert res.error_kind == "redirect" and "more than 5 redirects" in (res.error or "")


def test_redirect_without_location_or_to_another_scheme_fails_cleanly():
    assert fetch(redirects({"/feed": (301, "")})).error_kind == "redirect"
    res = fetch(redirects({"/feed": (302, "file:///etc/passwd")}))
    assert res.error_kind == "redirect" and "non-http" in (res.error or "")


def test_connection_error_is_a_result_not_an_exception():
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    async def run() -> FetchResult:
        async with Fetcher() as f:
            return await f.fetch("f", f"http://127.0.0.1:{port}/feed")
    res = asyncio.run(run())
    assert res.error_kind == "connect" and res.status is None
    assert "cannot connect" in (res.error or "")


@pytest.mark.parametrize("url", ["http://[::1/feed", "http://127.0.0.1:99999/feed",
                                 "ftp://127.0.0.1/feed", "http:///feed"])
def test_a_bad_url_is_an_error_result(url):
    async def run() -> FetchResult:
        async with Fetcher() as f:
            return await f.fetch("f", url)
    res = asyncio.run(run())
    assert res.error_kind == "http" and res.status is None and res.error


def test_a_server_that_never_answers_times_out():
    async def hang(request: Req) -> Reply:
        await asyncio.sleep(30)
        return Reply(body=FEED)
    started = time.monotonic()
    res = fetch(hang, timeout=0.2)
    assert res.error_kind == "timeout" and "0.2 s" in (res.error or "")
    assert time.monotonic() - started < 5


def test_waiting_for_a_free_slot_does_not_count_against_the_timeout():
    async def slow(request: Req) -> Reply:
        await asyncio.sleep(0.05)
        return Reply(body=FEED)

    async def run() -> list[FetchResult]:
        # one slot, 20 requests of 0.05 s: the last waits ~1 s, far past its 0.5 s limit
        async with serve(slow) as base, Fetcher(concurrency=1, timeout=0.5) as f:
            return await asyncio.gather(*(f.fetch(str(i), f"{base}/feed{i}")
                                          for i in range(20)))
    assert all(r.ok for r in asyncio.run(run()))


def test_at_most_per_origin_requests_to_one_origin_and_concurrency_in_total():
    flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    def tracker(key: str) -> Handler:
        async def track(request: Req) -> Reply:
            flight[key] += 1
            flight["all"] += 1
            peak[key] = max(peak[key], flight[key])
            peak["all"] = max(peak["all"], flight["all"])
            await asyncio.sleep(0.02)
            flight[key] -= 1
            flight["all"] -= 1
            return Reply(body=FEED)
        return track

    async def run() -> list[FetchResult]:
        async with contextlib.AsyncExitStack() as stack:
            busy = await stack.enter_async_context(serve(tracker("busy")))
            others = [await stack.enter_async_context(serve(tracker(f"h{i}"))) for i in range(4)]
            f = await stack.enter_async_context(Fetcher(concurrency=5, per_origin=2))
            # half of them on one busy origin, queued first; the rest on four others
            urls = [f"{busy}/feed{i}" for i in range(20)] + \
                [f"{others[i % 4]}/feed{i}" for i in range(20)]
            return list(await asyncio.gather(*(f.fetch(str(i), u) for i, u in enumerate(urls))))
    assert all(r.ok for r in asyncio.run(run()))
    assert peak["all"] == 5 and peak["busy"] == 2
    assert max(v for k, v in peak.items() if k != "all") == 2


def test_connections_are_kept_alive_only_while_requests_to_their_origin_wait():
    seen: list[tuple[str, str, int]] = []

    async def run() -> None:
        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError), \
                    contextlib.closing(writer):
                while True:  # keeps every connection open, whatever the client says
                    head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
                    seen.append((head.split()[1], "connection: close" in head,
                                 writer.get_extra_info("peername")[1]))
                    await asyncio.sleep(0.01)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(FEED)
                                 + FEED)
                    await writer.drain()
        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with Fetcher(per_origin=1) as f:
            await asyncio.gather(*(f.fetch(str(i), f"{base}/{i}") for i in range(5)))
            await f.fetch("later", f"{base}/later")
        server.close()
    asyncio.run(run())
    # five queued requests share one connection; the last of them asks the server to close
    # it, as does the request that comes later, alone
    assert [(path, close) for path, close, _ in seen] == \
        [("/0", False), ("/1", False), ("/2", False), ("/3", False), ("/4", True),
         ("/later", True)]
    assert len({port for _, _, port in seen[:5]}) == 1

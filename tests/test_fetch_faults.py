"""bot/fetch.py and bot/wire.py against broken and hostile feed servers: each server here
writes exactly the bytes of a fault (garbage for a head, a body cut short, a broken gzip stream,
bytes that are not UTF-8, a TLS handshake that never ends...). Whatever it does, the fetch
returns a result (never raises) within its own time limit, with a short, one-line message that
names no URL (a feed URL may carry a password), and the other feeds of the round go on."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import random
import shutil
import socket
import ssl
import struct
import subprocess
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.fetch import Fetcher, plan_next
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

# ------------------------------------------------------------------ broken and hostile servers
# Each server below writes exactly the bytes of a fault a feed server can produce. Whatever it
# does, the fetch returns a result (never raises) within its own time limit, with a short,
# one-line message that names no URL (a feed URL may carry a password).

OK_HEAD = b"HTTP/1.1 200 OK\r\n"
FEED_ANSWER = OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(FEED) + FEED
SLACK = 0.5  # seconds a fault may take past its time limit (a slow CI machine)


@contextlib.asynccontextmanager
async def raw_server(*steps: bytes | float, read: bool | int = True, forever: bytes = b"",
                     reset: bool = False, seen: list[bytes] | None = None
                     ) -> AsyncIterator[str]:
    """A loopback server that answers every connection with exactly these bytes. It reads
    the request head first (read=True), or `read` bytes (a TLS client hello), or nothing;
    then each step is sent (bytes) or waited for (seconds); then `forever` is sent a piece
    every 0.2 s until the test ends; then it closes the connection (reset: with an RST).
    The request heads it read go to `seen`. Yields its base URL."""
    stop = asyncio.Event()
    handlers: set[asyncio.Task[None]] = set()

    async def pause(seconds: float) -> bool:
        """Wait, or return True at once when the test ends."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            if read is True:
                head = await reader.readuntil(b"\r\n\r\n")
                if seen is not None:
                    seen.append(head)
            elif read:
                await reader.read(read)
            for step in steps:
                if isinstance(step, float):
                    if await pause(step):
                        return
                else:
                    writer.write(step)
                    await writer.drain()
            while forever and not stop.is_set():
                writer.write(forever)
                await writer.drain()
                await pause(0.2)
            if reset:  # SO_LINGER 0: close() sends an RST, not a FIN
                writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        await asyncio.gather(*handlers, return_exceptions=True)


def fetch_raw(*steps: bytes | float, scheme: str = "http", read: bool | int = True,
              forever: bytes = b"", reset: bool = False, seen: list[bytes] | None = None,
              **fetcher_kw: object) -> tuple[FetchResult, float]:
    """One fetch from a raw_server: its result and the seconds it took."""
    async def run() -> tuple[FetchResult, float]:
        async with raw_server(*steps, read=read, forever=forever, reset=reset,
                              seen=seen) as base, \
                Fetcher(**fetcher_kw) as f:  # type: ignore[arg-type]
            url = base.replace("http", scheme, 1) + "/feed"
            started = time.monotonic()
            res = await f.fetch("f", url)
            return res, time.monotonic() - started
    return asyncio.run(run())


def assert_short_message(res: FetchResult, url: bool = False) -> str:
    """The error as status and the logs show it: one short line, storable text, no URL
    unless it is the point (`url`: a redirect's target)."""
    message = res.error or ""
    assert message and "\n" not in message and len(message) < 160, message
    if not url:
        assert "127.0.0.1" not in message or "cannot connect to" in message, message
        assert "http://" not in message and "url=" not in message, message
    message.encode()  # no lone surrogates: SQLite refuses them
    return message


@pytest.mark.parametrize("answer", [
    b"garbage garbage\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",                     # another protocol on the port
    b"<?xml version='1.0'?><rss/>",                  # HTTP/0.9: a body without a head
    b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    b"\x00\x00\x12\x04\x00\x00\x00\x00\x00",        # an HTTP/2 settings frame
], ids=["garbage", "ssh", "http09", "bad-status", "http2"])
def test_garbage_instead_of_an_http_answer_is_an_error_result(answer):
    res, took = fetch_raw(answer, timeout=5)
    assert (res.status, res.error_kind) == (None, "http") and res.body == b""
    assert assert_short_message(res) == "invalid HTTP response: Bad status line"
    assert took < 1


@pytest.mark.parametrize(("head", "reason"), [
    (OK_HEAD + b"X-Long: " + b"a" * 9000 + b"\r\n", "over 8 KiB"),
    (b"HTTP/1.1 200 " + b"O" * 9000 + b"\r\n", "over 8 KiB"),
    (OK_HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(200)), "Too many headers"),
    (OK_HEAD + b"X-Bad\x01: v\r\n", "Invalid header token"),
    (OK_HEAD + b"X-Bad: v\x00w\r\n", "header"),  # the wording varies with aiohttp's mode
    (OK_HEAD + b"no colon here\r\n", "Invalid header"),
    (OK_HEAD + b"X-Foo : 6\r\n", "Invalid header"),
], ids=["long-header", "long-status", "too-many", "name-char", "value-nul", "no-colon",
        "space-before-colon"])
def test_a_head_past_the_limits_or_with_invalid_characters_is_an_error_result(head, reason):
    res, took = fetch_raw(head + b"Content-Length: %d\r\n\r\n" % len(FEED) + FEED, timeout=5)
    assert (res.status, res.error_kind) == (None, "http")
    message = assert_short_message(res)
    assert message.startswith("invalid HTTP response: ") and reason in message
    assert took < 1


@pytest.mark.parametrize(("steps", "read", "reason"), [
    ((), False, ""),                                  # closed right after accepting
    ((), True, "without answering"),                  # closed after reading the request
    ((OK_HEAD + b"Content-Le",), True, "in the middle of its head"),
    ((OK_HEAD + b"Content-Length: 100\r\n\r\n" + FEED,), True, "cut off"),
    ((OK_HEAD + b"Content-Length: 100\r\n\r\n", 0.05, FEED), True, "of 100 bytes)"),
    ((OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n6\r\n<rss/>\r\n10\r\nabc",), True,
     "before its last chunk"),
], ids=["accepting", "request-read", "mid-head", "mid-body", "mid-body-later", "mid-chunk"])
def test_a_server_that_closes_early_gives_an_error_result_at_once(steps, read, reason):
    res, took = fetch_raw(*steps, read=read, timeout=5)
    assert (res.status, res.error_kind) == (None, "http") and res.body == b""
    assert reason in assert_short_message(res)
    assert took < 1


def test_a_reset_mid_body_is_an_error_result():
    res, took = fetch_raw(OK_HEAD + b"Content-Length: 100\r\n\r\n" + FEED, 0.05, reset=True,
                          timeout=5)
    assert res.error_kind == "http" and "cut off" in assert_short_message(res)
    assert took < 1


@pytest.mark.parametrize("later", [False, True], ids=["with-the-head", "after-a-chunk"])
def test_a_bad_chunk_size_fails_at_once_not_at_the_timeout(later):
    """After the first chunk, aiohttp 3.14 closes the connection but leaves the body's
    reader waiting (fetch.py's _wake_on_close): it used to time out, 5 s here."""
    head = OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n6\r\n<rss/>\r\n"
    steps = (head, 0.05, b"zz\r\nabc\r\n0\r\n\r\n") if later else \
        (head + b"zz\r\nabc\r\n0\r\n\r\n",)
    res, took = fetch_raw(*steps, timeout=5)
    assert (res.status, res.error_kind) == (None, "http")
    assert "Invalid character in chunk size" in assert_short_message(res)
    assert took < 1


@pytest.mark.parametrize(("framing", "reason"), [
    (b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n<rss/>\r\n0\r\n\r\n",
     "Transfer-Encoding can't be present with Content-Length"),
    (b"Content-Length: 6\r\nContent-Length: 7\r\n\r\n<rss/>x", "Duplicate Content-Length"),
    (b"Content-Length: -1\r\n\r\n<rss/>", "Content-Length"),
    (b"Content-Length: 99999999999999999999999\r\n\r\n<rss/>", "Content-Length overflow"),
], ids=["length-and-chunked", "two-lengths", "negative", "overflow"])
def test_ambiguous_framing_is_refused(framing, reason):
    """Request smuggling's ingredients: never guess which framing the server meant."""
    res, took = fetch_raw(OK_HEAD + framing, timeout=5)
    assert (res.status, res.error_kind) == (None, "http")
    assert reason in assert_short_message(res)
    assert took < 1


def gzipped(body: bytes, encoding: bytes = b"gzip", length: int | None = None) -> bytes:
    return OK_HEAD + b"Content-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
        encoding, len(body) if length is None else length) + body


BIG_FEED = FEED[:-16] + b"<item><title>x</title></item>" * 2000 + FEED[-16:]


@pytest.mark.parametrize("answer", [
    gzipped(gzip.compress(BIG_FEED)[: len(gzip.compress(BIG_FEED)) // 2]),
    gzipped(gzip.compress(BIG_FEED)[:-8]),  # no trailer: the stream's end never came
    OK_HEAD + b"Content-Encoding: gzip\r\n\r\n" + gzip.compress(BIG_FEED)[:200],  # to close
], ids=["half", "no-trailer", "until-close"])
def test_a_truncated_gzip_body_is_an_error_not_a_short_feed(answer):
    """aiohttp 3.14 took a gzip stream cut short for a whole one: a 200 with half a feed
    (or none) reached the parser as if complete."""
    res, took = fetch_raw(answer, timeout=5)
    assert (res.status, res.error_kind) == (None, "http") and res.body == b""
    assert assert_short_message(res) == "gzip body cut off before its end"
    assert took < 1


def test_a_corrupt_gzip_stream_is_an_error_result():
    corrupt = bytearray(gzip.compress(BIG_FEED))
    corrupt[20:40] = b"\xff" * 20  # a valid gzip header, then garbage
    res, _ = fetch_raw(gzipped(bytes(corrupt)), timeout=5)
    assert res.error_kind == "http" and res.body == b""
    assert assert_short_message(res).startswith("broken gzip body: ")


@pytest.mark.parametrize("encoding", [b"br", b"zstd", b"compress", b"gzip, gzip"])
def test_a_content_encoding_that_was_not_asked_for_is_named(encoding):
    """We send Accept-Encoding: gzip, deflate. aiohttp 3.14 said `Please install Brotli`."""
    res, _ = fetch_raw(gzipped(b"\x8b\x02\x80" + FEED, encoding), timeout=5)
    assert (res.status, res.error_kind) == (None, "http")
    message = assert_short_message(res)
    assert encoding.decode() in message and "not asked for" in message


@pytest.mark.parametrize(("body", "encoding"), [
    (zlib.compress(FEED), b"deflate"),
    (zlib.compress(FEED)[2:-4], b"deflate"),  # raw deflate, as some servers send it
    (gzip.compress(FEED), b"x-gzip"),
    (gzip.compress(FEED), b"GZIP"),
    (FEED, b"identity"),
    (FEED, b"utf-8"),  # a misconfiguration: an unknown coding is passed through, as browsers do
], ids=["deflate", "raw-deflate", "x-gzip", "upper-case", "identity", "unknown"])
def test_other_content_encodings_are_decoded_or_passed_through(body, encoding):
    res, _ = fetch_raw(gzipped(body, encoding), timeout=5)
    assert res.ok and res.body == FEED


def test_bytes_received_counts_the_compressed_body():
    body = gzip.compress(BIG_FEED)
    res, _ = fetch_raw(gzipped(body), timeout=5)
    assert res.ok and res.body == BIG_FEED and res.bytes_received == len(body)


@pytest.mark.parametrize(("steps", "forever"), [
    ((OK_HEAD + b"Content-Length: 100000\r\n\r\n",), b"x"),  # a body, a byte per 0.2 s
    ((b"HTTP/1.1 200 OK\r\nX-Slow: ",), b"x"),                # a head that never ends
    ((OK_HEAD + b"Content-Length: 100\r\n\r\n", 30.0), b""),  # a head, then nothing
    ((b"HTTP/1.1 100 Continue\r\n\r\n", 30.0), b""),           # 1xx, then nothing
    ((b"HTTP/1.1 102 Processing\r\n\r\n",), b"HTTP/1.1 102 Processing\r\n\r\n"),
], ids=["trickle-body", "trickle-head", "silent-after-head", "silent-after-1xx",
        "endless-1xx"])
def test_a_slow_server_times_out_within_the_limit(steps, forever):
    res, took = fetch_raw(*steps, forever=forever, timeout=0.3)
    assert (res.status, res.error_kind) == (None, "timeout")
    assert assert_short_message(res) == "no complete answer within 0.3 s"
    assert 0.3 <= took < 0.3 + SLACK


def test_https_to_a_port_that_speaks_plain_http_fails_cleanly():
    res, took = fetch_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", read=5,
                          scheme="https", timeout=5)
    assert (res.status, res.error_kind) == (None, "connect")
    assert "TLS handshake failed (wrong version number)" in assert_short_message(res)
    assert took < 1


def test_https_to_a_server_that_closes_during_the_handshake_fails_cleanly():
    res, took = fetch_raw(read=5, scheme="https", timeout=5)
    assert (res.status, res.error_kind) == (None, "connect")
    assert "closed the connection" in assert_short_message(res)
    assert took < 1


def test_a_tls_handshake_that_never_ends_is_a_connect_timeout():
    res, took = fetch_raw(30.0, read=5, scheme="https", connect_timeout=0.3, timeout=5)
    assert res.error_kind == "timeout" and res.error == "no connection within 0.3 s"
    assert took < 0.3 + SLACK


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificate with openssl")
def test_https_with_a_certificate_nobody_vouches_for_is_a_connect_error(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    async def run() -> FetchResult:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError,
                                     asyncio.IncompleteReadError), contextlib.closing(writer):
                await reader.readuntil(b"\r\n\r\n")  # not reached: the client hangs up
        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=tls)
        try:
            async with Fetcher(timeout=5) as f:
                port = server.sockets[0].getsockname()[1]
                return await f.fetch("f", f"https://127.0.0.1:{port}/feed")
        finally:
            server.close()
    res = asyncio.run(run())
    assert (res.status, res.error_kind) == (None, "connect")
    assert "certificate not accepted (self-signed certificate)" in assert_short_message(res)


@pytest.mark.parametrize("informational", [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\n" * 50,
])
def test_informational_answers_before_the_real_one_are_skipped(informational):
    res, _ = fetch_raw(informational + FEED_ANSWER, timeout=5)
    assert res.ok and res.body == FEED


@pytest.mark.parametrize("head", [b"HTTP/1.0 200 OK\r\n\r\n", OK_HEAD + b"\r\n"])
def test_a_body_without_length_is_read_until_the_server_closes(head):
    res, _ = fetch_raw(head, FEED[:20], 0.05, FEED[20:], timeout=5)
    assert res.ok and res.body == FEED


def test_header_bytes_that_are_not_utf8_come_back_as_storable_text():
    """aiohttp decodes them to lone surrogates, which SQLite refuses: the feed's state, with
    this ETag, could not be saved. Read as Latin-1, as httpx did."""
    res, _ = fetch_raw(OK_HEAD + b'ETag: "caf\xe9"\r\nX-Title: caf\xc3\xa9\r\n'
                       b"Content-Length: %d\r\n\r\n" % len(FEED) + FEED, timeout=5)
    assert res.ok and res.headers["etag"] == '"café"' and res.headers["x-title"] == "café"
    new = plan_next(FeedState(name="f", url="u", fetch_url="u"), res,
                    now=datetime.now(UTC), interval=timedelta(minutes=15))
    assert new.etag == '"café"'
    res, _ = fetch_raw(b"HTTP/1.1 404 Nicht gef\xfcnden\r\nContent-Length: 0\r\n\r\n", timeout=5)
    assert res.status == 404 and assert_short_message(res) == "HTTP 404 Nicht gefünden"


def relocating(location: bytes, seen: list[str]) -> Handler:
    """/feed redirects to `location` (raw bytes); any other path answers with a feed."""
    def handle(request: Req) -> Reply:
        seen.append(request.path)
        if request.path == "/feed":
            return Reply(302, headers={"Location": location.decode("latin-1")})
        return Reply(body=FEED)
    return handle


@pytest.mark.parametrize(("location", "path"), [
    (b"/a feed/x y", "/a%20feed/x%20y"),
    ("/bücher/ü?q=ü".encode(), "/b%C3%BCcher/%C3%BC?q=%C3%BC"),
    (b"/b\xfccher", "/b%FCcher"),  # Latin-1: sent on as its bytes, not dropped (was /bcher)
    (b"  /spaced  ", "/spaced"),
])
def test_a_location_with_spaces_or_bytes_past_ascii_is_followed(location, path):
    seen: list[str] = []
    res = fetch(relocating(location, seen))
    assert res.ok and res.body == FEED and seen == ["/feed", path]
    res.final_url.encode()


def test_a_protocol_relative_location_goes_to_the_other_host():
    async def run() -> FetchResult:
        async with serve(lambda r: Reply(body=FEED)) as other, \
                serve(lambda r: Reply(301, headers={"Location": other[5:] + "/new"})) as base, \
                Fetcher() as f:  # Location: //127.0.0.1:PORT/new
            SERVED.append(other)
            return await f.fetch("f", base + "/feed")
    res = asyncio.run(run())
    assert res.ok and res.permanent_url == SERVED[-1] + "/new"


def test_a_redirect_to_https_that_fails_is_a_connect_error():
    async def run() -> FetchResult:
        async with raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", read=5) as plain, \
                serve(lambda r: Reply(302, headers={"Location": plain.replace(
                    "http", "https") + "/feed"})) as base, \
                Fetcher(timeout=5) as f:
            return await f.fetch("f", base + "/feed")
    res = asyncio.run(run())
    assert (res.status, res.error_kind) == (None, "connect")
    assert "TLS handshake failed" in assert_short_message(res)


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/feed", "http://[::1/feed",
                                      "http://:80/feed"])
def test_a_redirect_to_an_invalid_url_fails_cleanly(location):
    res = fetch(redirects({"/feed": (302, location)}))
    assert (res.status, res.error_kind) == (302, "redirect")
    assert assert_short_message(res, url=True) == f"redirect to an invalid URL: {location}"


def dead_port() -> int:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch, asked: list[str]) -> None:
    """Every host name resolves to 127.0.0.1 (the names asked for go to `asked`): no DNS
    query leaves the machine."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, *args: object, **kw: object) -> object:
        asked.append(host)
        return await real("127.0.0.1", *args, **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


def test_an_idn_host_is_asked_for_in_punycode(monkeypatch):
    asked: list[str] = []
    seen: list[Req] = []

    async def run() -> list[FetchResult]:
        resolve_to_loopback(monkeypatch, asked)
        async with serve(lambda r: seen.append(r) or Reply(body=FEED)) as base, \
                Fetcher(timeout=5) as f:
            port = base.rsplit(":", 1)[1]
            return [await f.fetch("f", f"http://bücher.example:{port}/feed"),
                    await f.fetch("g", f"http://bücher.example:{dead_port()}/feed")]
    found, dead = asyncio.run(run())
    assert found.ok and seen[0].headers["host"].startswith("xn--bcher-kva.example:")
    assert set(asked) == {"xn--bcher-kva.example"}
    assert dead.error_kind == "connect"
    assert assert_short_message(dead).startswith("cannot connect to xn--bcher-kva.example:")


def test_an_idn_host_that_cannot_be_encoded_is_an_error_result():
    async def run() -> FetchResult:
        async with Fetcher() as f:
            return await f.fetch("f", "http://" + "ü" * 70 + ".example/feed")
    res = asyncio.run(run())
    assert (res.error_kind, res.error) == ("http", "invalid URL: bad host name")


def test_userinfo_is_sent_as_basic_auth_and_never_shown():
    seen: list[Req] = []

    async def run() -> list[FetchResult]:
        async with serve(lambda r: seen.append(r) or (
                Reply(302, headers={"Location": "/feed"}) if r.path == "/loop"
                else Reply(body=FEED))) as base, Fetcher() as f:
            secret = base.replace("//", "//reader:s3cret@")
            return [await f.fetch("a", secret + "/feed"),
                    await f.fetch("b", secret + "/loop"),
                    await f.fetch("c", f"http://reader:s3cret@127.0.0.1:{dead_port()}/x")]
    found, moved, dead = asyncio.run(run())
    assert found.ok and moved.ok and [r.path for r in seen] == ["/feed", "/loop", "/feed"]
    # a redirect on the same origin keeps the credentials
    assert {r.headers["authorization"] for r in seen} == {"Basic cmVhZGVyOnMzY3JldA=="}
    assert dead.error_kind == "connect" and "s3cret" not in assert_short_message(dead)


def test_redirect_messages_never_show_a_password():
    async def run() -> list[FetchResult]:
        async with serve(redirects({"/feed": (301, "/b"), "/b": (301, "/feed"),
                                    "/ftp": (302, "ftp://x/y")})) as base, Fetcher() as f:
            secret = base.replace("//", "//reader:s3cret@")
            return [await f.fetch("a", secret + "/feed"), await f.fetch("b", secret + "/ftp")]
    for res in asyncio.run(run()):
        assert res.error_kind == "redirect"
        assert "s3cret" not in assert_short_message(res, url=True)


@pytest.mark.parametrize(("path", "sent"), [
    ("/feed#section", "/feed"),                    # a fragment is not sent
    ("/feed?q=a b&lang=ü", "/feed?q=a+b&lang=%C3%BC"),
    ("/my feed.xml", "/my%20feed.xml"),
    ("/feed?sig=ab%2B%3D", "/feed?sig=ab%2B%3D"),  # escapes are kept
])
def test_odd_but_valid_urls_are_fetched(path, sent):
    seen: list[Req] = []
    res = fetch(lambda r: seen.append(r) or Reply(body=FEED), path)
    assert res.ok and seen[0].path == sent


def test_a_round_with_broken_servers_gets_every_good_feed_within_the_time_limit():
    """30 good feeds on three origins and one of each fault, all at once: the good ones all
    succeed, every broken one fails, and no fetch takes longer than its timeout."""
    faults: list[tuple[tuple[bytes | float, ...], dict[str, object]]] = [
        ((b"garbage\r\n\r\n",), {}),
        ((OK_HEAD + b"Content-Length: 100000\r\n\r\n",), {"forever": b"x"}),
        ((OK_HEAD + b"Content-Length: 100\r\n\r\n", 30.0), {}),
        ((), {"read": False}),
        ((gzipped(gzip.compress(BIG_FEED)[:100]),), {}),
        ((OK_HEAD + b"Content-Length: 100\r\n\r\n" + FEED, 0.05), {"reset": True}),
        ((OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n6\r\n<rss/>\r\n", 0.05, b"zz\r\n"), {}),
        ((b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000,), {}),
    ]

    async def timed(f: Fetcher, name: str, url: str) -> tuple[FetchResult, float]:
        started = time.monotonic()
        res = await f.fetch(name, url)
        return res, time.monotonic() - started

    async def run() -> list[tuple[FetchResult, float]]:
        async with contextlib.AsyncExitStack() as stack:
            good = [await stack.enter_async_context(serve(lambda r: Reply(body=FEED)))
                    for _ in range(3)]
            bad = [await stack.enter_async_context(raw_server(*steps, **kw))  # type: ignore[arg-type]
                   for steps, kw in faults]
            f = await stack.enter_async_context(Fetcher(timeout=0.5, concurrency=20))
            urls = [f"{good[i % 3]}/feed{i}" for i in range(30)] + [f"{b}/feed" for b in bad]
            random.Random(7).shuffle(urls)
            return list(await asyncio.gather(*(timed(f, str(i), u)
                                               for i, u in enumerate(urls))))
    outcomes = asyncio.run(run())
    ok = [res for res, _ in outcomes if res.ok]
    failed = [res for res, _ in outcomes if not res.ok]
    assert len(ok) == 30 and all(res.body == FEED for res in ok)
    assert len(failed) == len(faults) and all(res.error for res in failed)
    assert {res.error_kind for res in failed} == {"http", "timeout"}
    assert max(took for _, took in outcomes) < 0.5 + SLACK

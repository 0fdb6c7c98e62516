"""What comes off the wire, made safe: Content-Encoding undone (bounded, and checked for a
stream cut short), header bytes as storable text, a Location as a URL, and whatever a broken
or hostile server makes aiohttp raise as a short one-line reason (bot/fetch.py turns it into a
FetchResult). Written against aiohttp 3.14's behaviour; tests/test_fetch_faults.py sends each
case as raw bytes from a loopback server.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import zlib
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
from aiohttp.http_exceptions import (
    ContentLengthError,
    HttpProcessingError,
    LineTooLong,
    TransferEncodingError,
)

# Content-Encoding: those undone here (wbits for zlib: 32 reads a gzip or a zlib header), and
# those known but neither asked for nor decodable. Any other is passed through as it is, as
# browsers and httpx do (`Content-Encoding: utf-8` is a common misconfiguration).
DECODED = {"gzip": zlib.MAX_WBITS | 32, "x-gzip": zlib.MAX_WBITS | 32,
           "deflate": zlib.MAX_WBITS | 32}
NOT_DECODED = ("br", "zstd", "compress", "x-compress")


def body_bytes(stream: aiohttp.StreamReader) -> int:
    """Body bytes as sent (compressed when gzipped: aiohttp does not decode, Decoder does).
    getattr: the stream of a response without a body (304) has no count."""
    return getattr(stream, "total_bytes", 0)


class BadBody(Exception):
    """A body that cannot be decoded; its message is ready to show."""


class Decoder:
    """Undoes Content-Encoding gzip or deflate. Done here, not by aiohttp: aiohttp 3.14 takes
    a gzip stream cut short for a whole one (a feed cut in half, parsed as if complete) and
    answers br and zstd by naming a library to install."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._zlib: zlib._Decompress | None = None

    @classmethod
    def of(cls, header: str | None) -> Decoder | None:
        """The decoder for a Content-Encoding header; None when there is nothing to undo.
        BadBody for a coding that was not asked for and is not decoded here."""
        codings = [c for c in (part.strip().lower() for part in (header or "").split(","))
                   if c and c != "identity"]
        known = [c for c in codings if c in DECODED or c in NOT_DECODED]
        if not known:
            return None  # none, or one nobody knows: passed through as it is
        if len(codings) > 1 or known[0] in NOT_DECODED:
            raise BadBody(f"body sent with Content-Encoding {', '.join(codings)}, "
                           "which was not asked for (gzip, deflate)")
        return cls(known[0])

    def decode(self, data: bytes, room: int) -> bytes:
        """At most `room` (> 0) bytes of what `data` decodes to; when that many came out, the
        rest stays undecoded (the caller stops: the body is past its cap)."""
        if self._zlib is None:
            if not data:
                return b""
            # deflate is zlib-wrapped (RFC 9110), but some servers send it raw
            raw = self.coding == "deflate" and data[0] & 0x0F != 8 and data[0] != 0x1F
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS if raw else DECODED[self.coding])
        try:
            return self._zlib.decompress(data, room)
        except zlib.error as exc:  # "Error -3 while decompressing data: incorrect header check"
            raise BadBody(f"broken {self.coding} body: "
                           f"{str(exc).rpartition(': ')[2]}") from None

    def finish(self) -> None:
        """The body has ended: its compressed stream must have ended too."""
        if self._zlib is not None and not self._zlib.eof:
            raise BadBody(f"{self.coding} body cut off before its end")


def wake_on_close(response: aiohttp.ClientResponse) -> None:
    """Tell the body's reader when its connection goes before the body's end. aiohttp 3.14
    does not when its parser fails in a body under way (a bad chunk size after the first
    chunks): it closes the connection, and the reader would wait out the whole timeout."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return  # the body has already come (or there is none)
    body = response.content

    def wake(closed: asyncio.Future[None] | None) -> None:
        if closed is not None and not closed.cancelled():
            closed.exception()  # retrieved: nobody else may ask, and asyncio would log it
        if not body.is_eof() and body.exception() is None:
            why = protocol.exception()
            body.set_exception(aiohttp.ClientPayloadError(
                _first_line(getattr(why, "message", "") or str(why or ""))
                or "connection closed before the end of the body"))

    closed = protocol.closed
    if closed is None:  # closed already
        wake(None)
    else:
        closed.add_done_callback(wake)


def describe(exc: BaseException) -> tuple[str, str]:
    """(error_kind, message) for what a request raised: short, on one line and without the
    URL. aiohttp's own messages run over lines, quote raw bytes and repeat the URL, with any
    password in it."""
    if isinstance(exc, BadBody):
        return "http", str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", f"cannot connect to {exc.host}:{exc.port}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # its message is the part of the head that came, if any
        return "http", "server closed the connection " + (
            "without answering" if isinstance(exc.message, str) else "in the middle of its head")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "http", _body_reason(exc)
    if isinstance(exc, aiohttp.ClientResponseError | HttpProcessingError):
        # the parser's: the status in it (400) is aiohttp's own, not the server's
        if any(isinstance(cause, LineTooLong) for cause in _causes(exc)):
            return "http", "invalid HTTP response: a line of its head is over 8 KiB"
        return "http", f"invalid HTTP response: {_first_line(exc.message) or 'unreadable'}"
    if any(isinstance(cause, UnicodeError) for cause in _causes(exc)):
        return "http", "invalid URL: bad host name"  # the IDNA codec's
    if isinstance(exc, aiohttp.InvalidURL):  # its str is the URL, password and all
        return "http", "invalid URL" + (f": {exc.description}" if exc.description else "")
    if isinstance(exc, ValueError):
        reason = _first_line(str(exc))
        return "http", reason if "URL" in reason else f"invalid URL: {reason}"
    if isinstance(exc, OSError):  # a reset and the like, once connected
        return "http", f"connection lost: {_os_reason(exc)}"
    return "http", f"{type(exc).__name__}: {_first_line(str(exc))}"


def _body_reason(exc: aiohttp.ClientPayloadError) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ContentLengthError):
            got = re.search(r"received (\d+) of (\d+)", cause.message)
            return "body cut off: the connection closed before its end" + (
                f" ({got[1]} of {got[2]} bytes)" if got else "")
        if isinstance(cause, TransferEncodingError):
            return "body cut off: the connection closed before its last chunk"
    return f"broken body: {_first_line(str(exc))}"


def _os_reason(err: BaseException) -> str:
    """Why a socket failed, in a few words ("Connection refused", not "Connect call failed
    ('127.0.0.1', 8080)"; the TLS error's name, not its C source line)."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate not accepted ({err.verify_message})"
    if isinstance(err, ssl.SSLError):
        return f"TLS handshake failed ({(err.reason or 'error').replace('_', ' ').lower()})"
    if isinstance(err, socket.gaierror):
        return f"no such host ({err.strerror})"
    if isinstance(err, OSError) and err.errno and err.errno > 0:
        return os.strerror(err.errno)
    if isinstance(err, ConnectionResetError | BrokenPipeError | EOFError):
        return "the server closed the connection"  # during the TLS handshake, say
    return _first_line(str(err)) or type(err).__name__


def _causes(exc: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__
    return chain


def _first_line(text: str) -> str:
    """aiohttp's parser messages: `Bad status line:\\n  Expected HTTP/...` -> `Bad status line`."""
    return (text.strip().split("\n", 1)[0].strip().rstrip(":").strip())[:150]


def header_text(value: str) -> str:
    """Text that SQLite and the logs accept. aiohttp decodes header bytes that are not UTF-8
    to lone surrogates, which cannot be stored (an ETag of `"caf\\xe9"` would fail every save
    of its feed): such text is read as Latin-1 instead, as httpx did."""
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")
    return value


URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII but the space
AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://[^/?#]*)?")


def location_url(value: str) -> str:
    """A Location header as a URL: spaces, controls and bytes past ASCII in its path, query
    and fragment percent-encoded from the bytes as sent, as browsers do (yarl drops the lone
    surrogates aiohttp makes of bytes that are not UTF-8: /b\\xfccher would become /bcher). A
    host past ASCII stays text, for IDNA."""
    value = value.strip()
    head = AUTHORITY.match(value)
    end = head.end() if head else 0
    return header_text(value[:end]) + quote(value[end:].encode("utf-8", "surrogateescape"),
                                      safe=URL_SAFE)


def shown(url: str) -> str:
    """A URL for a message: without the user:password that a feed URL may carry."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

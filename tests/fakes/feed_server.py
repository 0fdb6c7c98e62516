"""A loopback HTTP server that serves feeds the way real publishers do, faults included.

Each path gets a `Route`: a body and headers, plus optional behaviour (ETag / Last-Modified
with conditional GET, redirects, status codes with Retry-After, delays, gzip, an endless body).
`add_sequence` serves a list of routes in turn (a 429 first, then the feed). Every request is
recorded, with what was answered, so tests can check politeness from the server's side: which
requests were conditional, how often a feed was hit, what the User-Agent said, whether the
answer was gzipped, and how many requests were in flight at once (`max_in_flight`: one server
is one origin).

    with feed_server() as a, feed_server("127.0.0.2") as b:   # two origins
        url = a.add("/feed.xml", Route(body=..., etag='"v1"'))
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "feeds"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    location: str | None = None       # for 3xx
    delay: float = 0.0                # seconds before answering
    gzip: bool = False
    endless: bool = False             # stream bytes until the client gives up
    chunk_delay: float = 0.0          # seconds between chunks of the body


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    time: float
    status: int | None = None      # what was answered (None: nothing yet)
    gzipped: bool = False
    finished: float | None = None  # when the answer was written or given up
    client_port: int = 0           # the client's TCP port: the same port is the same connection

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


class FeedServer:
    def __init__(self, server: http.server.ThreadingHTTPServer) -> None:
        self._server = server
        self.routes: dict[str, Route] = {}
        self.sequences: dict[str, list[Route]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, route: Route | None = None, **kwargs: object) -> str:
        """Serve `route` at `path`; returns the full URL."""
        self.routes[path] = route or Route(**kwargs)  # type: ignore[arg-type]
        return self.url + path

    def add_file(self, path: str, name: str, **kwargs: object) -> str:
        return self.add(path, Route(body=(DATA / name).read_bytes(), **kwargs))  # type: ignore[arg-type]

    def add_sequence(self, path: str, routes: list[Route]) -> str:
        """Answer the n-th request with routes[n]; the last one answers every later request."""
        self.sequences[path] = list(routes)
        return self.url + path

    def hits(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def route_for(self, path: str) -> Route | None:
        with self.lock:
            sequence = self.sequences.get(path)
            if sequence:
                return sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return self.routes.get(path)


def _handler(state: FeedServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.record = Request(self.path, headers, time.monotonic(),
                                  client_port=self.client_address[1])
            with state.lock:
                state.requests.append(self.record)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            self.waiting = True
            try:
                self._answer(headers)
            finally:
                self._answered()
                with state.lock:
                    self.record.finished = time.monotonic()

        def _answered(self) -> None:
            """No longer in flight: from here the client can have its answer (counted before
            the bytes go out, so that the count never races the client's next request)."""
            if self.waiting:
                self.waiting = False
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, headers: dict[str, str]) -> None:
            route = state.route_for(self.path)
            if route is None:
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            if route.delay:
                time.sleep(route.delay)
            extra = dict(route.headers)
            if route.etag:
                extra["ETag"] = route.etag
            if route.last_modified:
                extra["Last-Modified"] = route.last_modified
            if route.status == 200 and self._not_modified(route, headers):
                self._send(304, b"", extra)
                return
            if route.location:
                extra["Location"] = route.location
            if route.endless:
                self._stream_forever(route, extra)
                return
            body = route.body
            if route.gzip and "gzip" in headers.get("accept-encoding", ""):
                body = gzip.compress(body)
                extra["Content-Encoding"] = "gzip"
                self.record.gzipped = True
            extra.setdefault("Content-Type", route.content_type)
            self._send(route.status, body, extra, chunk_delay=route.chunk_delay)

        def _not_modified(self, route: Route, headers: dict[str, str]) -> bool:
            if route.etag and headers.get("if-none-match") == route.etag:
                return True
            return bool(route.last_modified and not route.etag
                        and headers.get("if-modified-since") == route.last_modified)

        def _send(self, status: int, body: bytes, headers: dict[str, str],
                  chunk_delay: float = 0.0) -> None:
            self.record.status = status
            self._answered()
            try:
                self.send_response_only(status)
                self.send_header("Server", "feed-server")
                if "Date" not in headers:  # a route may fix the Date its Retry-After counts from
                    self.send_header("Date", self.date_time_string())
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status == 304 or not body:
                    return
                if chunk_delay:
                    for i in range(0, len(body), 1024):
                        self.wfile.write(body[i:i + 1024])
                        self.wfile.flush()
                        time.sleep(chunk_delay)
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _stream_forever(self, route: Route, headers: dict[str, str]) -> None:
            self.record.status = 200
            self._answered()
            try:
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"<item><title>x</title></item>" * 1000
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    if route.chunk_delay:
                        time.sleep(route.chunk_delay)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass

    return Handler


@contextmanager
def feed_server(host: str = "127.0.0.1") -> Iterator[FeedServer]:
    server = http.server.ThreadingHTTPServer((host, 0), None)  # type: ignore[arg-type]
    state = FeedServer(server)
    server.RequestHandlerClass = _handler(state)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

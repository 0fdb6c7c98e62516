"""Polling rounds against a loopback feed server with faults injected, politeness checked
from the server's side: which requests were conditional, how often each feed was hit, what
happened after 301, 410 and 429, how many requests one origin saw at once. The clock is a
fake; waits are conditions on what the server recorded, never timed assertions."""

from __future__ import annotations

import asyncio
import io
import logging
import random
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, load_config
from bot.fetch import Fetcher
from bot.ingest import Analyzer, default_processes
from bot.models import Article, Classification
from bot.notify import ConsoleNotifier
from bot.pipeline import (
    POOL_MIN_FEEDS,
    Poller,
    RoundReport,
    StoreWriter,
    first_fetch_times,
    poll_round,
)
from bot.scheduler import Service
from bot.store import Store
from tests.builders import story
from tests.fakes.feed_server import DATA, FeedServer, Route, feed_server

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RSS = (DATA / "rss2-basic.xml").read_bytes()


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Bot:
    """poll_round over a config written to tmp_path, into a real SQLite file."""

    tmp_path: Path
    clock: Clock = field(default_factory=Clock)
    store: Store | None = None
    config: Config | None = None

    def configure(self, feeds: list[dict[str, Any]], **fetch: Any) -> Config:
        import yaml
        path = self.tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump({"fetch": {"jitter": 0, **fetch}, "feeds": feeds}),
                        encoding="utf-8")
        self.config = load_config(path, {})
        if self.store is None:
            self.store = Store(self.tmp_path / "bot.db")
        return self.config

    def poll(self, *, manual: bool = True, analyzer: Analyzer | None = None) -> RoundReport:
        assert self.config and self.store
        return asyncio.run(poll_round(self.config, self.store, clock=self.clock,
                                      manual=manual, analyzer=analyzer,
                                      rng=random.Random(7)))

    def state(self, name: str):  # type: ignore[no-untyped-def]
        assert self.store
        found = self.store.feed_state(name)
        assert found is not None
        return found

    def restart(self) -> None:
        assert self.store
        self.store.close()
        self.store = Store(self.tmp_path / "bot.db")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    b = Bot(tmp_path)
    yield b
    if b.store:
        b.store.close()


@pytest.fixture
def other_origin() -> Iterator[FeedServer]:
    """A second origin: another loopback address where this machine binds one, else a port."""
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        host = "127.0.0.2"
    except OSError:
        host = "127.0.0.1"
    with feed_server(host) as server:
        yield server


def one(report: RoundReport, name: str):  # type: ignore[no-untyped-def]
    return next(o for o in report.outcomes if o.feed == name)


# ------------------------------------------------------------------ conditional GET


def test_conditional_requests_to_one_origin_share_a_keep_alive_connection(bot, feeds):
    """A 304 has no body; read to its end, its connection serves the next request instead
    of the next request opening a new one (polite to publishers, and cheaper)."""
    urls = [feeds.add(f"/f{n}.xml", body=RSS, etag=f'"v{n}"') for n in range(4)]
    bot.configure([{"name": f"f{n}", "url": u} for n, u in enumerate(urls)],
                  per_origin=1, concurrency=1)
    bot.poll()
    bot.poll()
    second = [r for r in feeds.requests if r.conditional]
    assert [r.status for r in second] == [304] * 4
    assert len({r.client_port for r in second}) == 1


def test_second_round_is_conditional_and_a_304_is_not_parsed(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, etag='"v1"',
                    last_modified="Sat, 28 Nov 2026 10:00:00 GMT")
    bot.configure([{"name": "f", "url": url}])
    assert one(bot.poll(), "f").new == 3
    second = bot.poll()
    assert one(second, "f").status == "304" and one(second, "f").new == 0
    first_hit, second_hit = feeds.hits("/f.xml")
    assert not first_hit.conditional
    assert second_hit.headers["if-none-match"] == '"v1"'
    assert second_hit.headers["if-modified-since"] == "Sat, 28 Nov 2026 10:00:00 GMT"
    assert second_hit.status == 304
    assert bot.state("f").articles == 3


def test_last_modified_alone_is_sent_back_as_if_modified_since(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, last_modified="Sat, 28 Nov 2026 10:00:00 GMT")
    bot.configure([{"name": "f", "url": url}])
    bot.poll()
    bot.poll()
    hit = feeds.hits("/f.xml")[1]
    assert "if-none-match" not in hit.headers and hit.status == 304


def test_a_feed_without_validators_is_never_sent_invented_ones(bot, feeds):
    url = feeds.add("/f.xml", body=RSS)
    bot.configure([{"name": "f", "url": url}])
    bot.poll()
    bot.poll()
    assert [h.conditional for h in feeds.hits("/f.xml")] == [False, False]
    assert bot.state("f").articles == 3, "the unchanged articles are not stored twice"


def test_user_agent_and_gzip_as_seen_by_the_server(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, gzip=True)
    bot.configure([{"name": "f", "url": url}])
    assert one(bot.poll(), "f").new == 3
    hit = feeds.hits("/f.xml")[0]
    assert hit.gzipped
    assert hit.headers["user-agent"].startswith("alertbot/")
    assert "github.com" in hit.headers["user-agent"]


# ------------------------------------------------------------------ intervals and spreading


def test_service_round_only_fetches_feeds_that_are_due(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, etag='"v1"')
    bot.configure([{"name": "f", "url": url, "interval": "15m"}])
    bot.poll(manual=False)
    bot.clock.advance(minutes=14)
    bot.poll(manual=False)
    assert len(feeds.hits("/f.xml")) == 1
    bot.clock.advance(minutes=1)
    bot.poll(manual=False)
    assert len(feeds.hits("/f.xml")) == 2


def test_first_service_round_spreads_new_feeds_instead_of_fetching_all_at_once(bot, feeds):
    names = [f"f{i}" for i in range(10)]
    bot.configure([{"name": n, "url": feeds.add(f"/{n}.xml", body=RSS)} for n in names])
    first = bot.poll(manual=False)
    assert len(first.outcomes) == 1, "one feed at once; the others are spread out"
    dues = sorted(bot.state(n).next_due for n in names if not feeds.hits(f"/{n}.xml"))
    assert len(set(dues)) == 9
    bot.clock.advance(minutes=1)
    bot.poll(manual=False)
    assert all(len(feeds.hits(f"/{n}.xml")) == 1 for n in names)


def test_first_fetch_times_are_distinct_and_within_the_interval():
    from bot.config import FeedConfig
    feeds = [FeedConfig(name=f"f{i}", url=f"http://x/{i}") for i in range(2000)]
    times = first_fetch_times(feeds, now=START, rng=random.Random(1))
    assert len(set(times.values())) == 2000
    assert min(times.values()) == START
    assert max(times.values()) < START + timedelta(minutes=15)


def test_cache_control_max_age_postpones_the_next_fetch(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, headers={"Cache-Control": "max-age=3600"})
    bot.configure([{"name": "f", "url": url}])
    bot.poll(manual=False)
    assert bot.state("f").next_due == START + timedelta(hours=1)
    bot.clock.advance(minutes=30)
    bot.poll(manual=False)
    assert len(feeds.hits("/f.xml")) == 1


def test_rss_ttl_postpones_the_next_fetch(bot, feeds):
    body = RSS.replace(b"<language>", b"<ttl>120</ttl><language>", 1)
    bot.configure([{"name": "f", "url": feeds.add("/f.xml", body=body)}])
    bot.poll(manual=False)
    assert bot.state("f").next_due == START + timedelta(hours=2)


def test_rss_ttl_is_still_honoured_after_a_304_and_a_restart(bot, feeds):
    body = RSS.replace(b"<language>", b"<ttl>120</ttl><language>", 1)
    bot.configure([{"name": "f", "url": feeds.add("/f.xml", body=body, etag='"v1"')}])
    bot.poll(manual=False)
    bot.restart()  # the <ttl> is stored with the feed, not only known to the round
    bot.clock.advance(hours=2)
    assert one(bot.poll(manual=False), "f").status == "304"
    assert bot.state("f").next_due == bot.clock.now + timedelta(hours=2)
    bot.clock.advance(minutes=15)
    bot.poll(manual=False)
    assert len(feeds.hits("/f.xml")) == 2, "not asked again 15 minutes after the 304"


@pytest.mark.parametrize("route", [
    Route(body=RSS, headers={"Cache-Control": "max-age=" + "9" * 30}),
    Route(body=RSS.replace(b"<language>", b"<ttl>" + b"9" * 30 + b"</ttl><language>", 1)),
    Route(status=429, headers={"Retry-After": "9" * 30}),
], ids=["max-age", "ttl", "retry-after"])
def test_overflowing_wait_values_mean_24_hours_not_an_internal_error(bot, feeds, route):
    bot.configure([{"name": "f", "url": feeds.add("/f.xml", route)}])
    outcome = one(bot.poll(manual=False), "f")
    assert outcome.status in ("200", "429")
    assert bot.state("f").next_due == START + timedelta(hours=24)


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_moves_the_feed_and_is_logged(bot, feeds, caplog, status):
    old = feeds.add("/old.xml", status=status, location="/new.xml")
    new = feeds.add("/new.xml", body=RSS, etag='"n1"')
    bot.configure([{"name": "f", "url": old}])
    with caplog.at_level(logging.WARNING, logger="bot.pipeline"):
        assert one(bot.poll(), "f").new == 3
    assert bot.state("f").fetch_url == new and bot.state("f").url == old
    assert any("moved permanently" in r.getMessage() and new in r.getMessage()
               for r in caplog.records)
    bot.poll()
    assert len(feeds.hits("/old.xml")) == 1, "the old URL is not asked again"
    assert [h.conditional for h in feeds.hits("/new.xml")] == [False, True]


def test_permanent_redirect_to_an_html_page_does_not_move_the_feed(bot, feeds):
    old = feeds.add("/old.xml", status=301, location="/")
    feeds.add_file("/", "html-page.html", content_type="text/html; charset=utf-8")
    bot.configure([{"name": "f", "url": old}])
    assert one(bot.poll(), "f").status == "not a feed"
    assert bot.state("f").fetch_url == old
    feeds.add("/old.xml", body=RSS)  # the publisher undoes its mistake
    assert one(bot.poll(), "f").new == 3
    assert len(feeds.hits("/old.xml")) == 2


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_keeps_asking_the_configured_url(bot, feeds, status):
    old = feeds.add("/old.xml", status=status, location="/tmp.xml")
    feeds.add("/tmp.xml", body=RSS)
    bot.configure([{"name": "f", "url": old}])
    bot.poll()
    bot.poll()
    assert bot.state("f").fetch_url == old
    assert len(feeds.hits("/old.xml")) == 2 and len(feeds.hits("/tmp.xml")) == 2


def test_redirect_loop_and_too_many_hops_fail_cleanly_and_the_round_completes(bot, feeds):
    loop = feeds.add("/a.xml", status=301, location="/b.xml")
    feeds.add("/b.xml", status=302, location="/a.xml")
    for i in range(7):
        feeds.add(f"/hop{i}.xml", status=302, location=f"/hop{i + 1}.xml")
    feeds.add("/hop7.xml", body=RSS)
    good = feeds.add("/good.xml", body=RSS)
    bot.configure([{"name": "loop", "url": loop}, {"name": "hops", "url": feeds.url + "/hop0.xml"},
                   {"name": "good", "url": good}])
    report = bot.poll()
    assert "loop" in (one(report, "loop").error or "")
    assert "more than 5 redirects" in (one(report, "hops").error or "")
    assert one(report, "good").new == 3
    assert bot.state("loop").last_status == "redirect"
    assert len(feeds.hits("/hop6.xml")) == 0, "the sixth hop is never requested"


# ------------------------------------------------------------------ 410, 429, 503, failures


def test_410_disables_the_feed_and_it_is_never_asked_again(bot, feeds, caplog):
    url = feeds.add("/gone.xml", status=410, body=b"gone")
    bot.configure([{"name": "gone", "url": url}])
    with caplog.at_level(logging.ERROR, logger="bot.pipeline"):
        bot.poll()
    assert any("disabled" in r.getMessage() for r in caplog.records)
    state = bot.state("gone")
    assert state.disabled and state.disabled_reason == "410 Gone"
    skipped = bot.poll()
    assert skipped.skipped == [("gone", "disabled: 410 Gone")]
    bot.clock.advance(days=3)
    bot.poll(manual=False)
    assert len(feeds.hits("/gone.xml")) == 1


def test_410_behind_a_temporary_redirect_is_a_failure_not_the_end(bot, feeds):
    url = feeds.add("/feed.xml", status=302, location="/campaign.xml")
    feeds.add("/campaign.xml", status=410, body=b"gone")
    bot.configure([{"name": "f", "url": url}])
    assert one(bot.poll(manual=False), "f").status == "410"
    state = bot.state("f")
    assert not state.disabled and state.failures == 1
    assert state.next_due == START + timedelta(minutes=15)
    feeds.add("/feed.xml", body=RSS)  # the temporary redirect is gone again
    bot.clock.now = state.next_due
    assert one(bot.poll(manual=False), "f").new == 3


@pytest.mark.parametrize(("status", "retry_after"), [
    (429, "3600"), (503, "Sun, 29 Nov 2026 13:00:00 GMT")])
def test_retry_after_is_honoured_and_the_body_never_parsed(bot, feeds, status, retry_after):
    # an HTTP-date counts from the server's Date
    headers = {"Retry-After": retry_after, "Date": "Sun, 29 Nov 2026 12:00:00 GMT"}
    feeds.add_sequence("/busy.xml", [Route(status=status, body=RSS, headers=headers),
                                     Route(body=RSS)])
    bot.configure([{"name": "busy", "url": feeds.url + "/busy.xml"}])
    first = bot.poll()
    assert one(first, "busy").status == str(status) and one(first, "busy").new == 0
    assert bot.state("busy").articles == 0, "the body of a 429/503 is never parsed"
    assert bot.state("busy").retry_after_until == START + timedelta(hours=1)
    bot.clock.advance(minutes=59)
    again = bot.poll()  # even a manual round waits
    assert again.skipped and "asked to wait" in again.skipped[0][1]
    assert len(feeds.hits("/busy.xml")) == 1
    bot.clock.advance(minutes=1)
    assert one(bot.poll(), "busy").new == 3
    assert len(feeds.hits("/busy.xml")) == 2


def test_repeated_failures_back_off_and_are_reported_at_error_after_three(bot, feeds, caplog):
    url = feeds.add("/broken.xml", status=500)
    bot.configure([{"name": "broken", "url": url}])
    gaps, levels = [], []
    for _ in range(4):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.pipeline"):
            bot.poll(manual=False)
        levels.append(max(r.levelno for r in caplog.records))
        state = bot.state("broken")
        gaps.append(state.next_due - bot.clock.now)
        bot.clock.now = state.next_due
    assert gaps == [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1),
                    timedelta(hours=2)]
    assert levels == [logging.WARNING, logging.WARNING, logging.ERROR, logging.ERROR]
    assert bot.state("broken").failures == 4
    assert len(feeds.hits("/broken.xml")) == 4, "never retried in a tight loop"


def test_a_feed_that_works_again_is_reset(bot, feeds):
    feeds.add_sequence("/flaky.xml", [Route(status=500), Route(status=500), Route(body=RSS)])
    bot.configure([{"name": "flaky", "url": feeds.url + "/flaky.xml"}])
    bot.poll()
    bot.poll()
    assert bot.state("flaky").failures == 2
    bot.poll()
    state = bot.state("flaky")
    assert (state.failures, state.last_error, state.last_status) == (0, None, "200")


# ------------------------------------------------------------------ concurrency


def test_at_most_two_requests_per_origin_at_once(bot, feeds, other_origin):
    entries = []
    for server, tag in ((feeds, "a"), (other_origin, "b")):
        for i in range(6):
            body = RSS.replace(b"rss2-basic", f"{tag}{i}".encode())
            url = server.add(f"/{tag}{i}.xml", body=body, delay=0.15)
            entries.append({"name": f"{tag}{i}", "url": url})
    bot.configure(entries, concurrency=10, per_origin=2)
    report = bot.poll()
    assert not report.failed
    assert feeds.max_in_flight == 2 and other_origin.max_in_flight == 2


def test_total_concurrency_is_capped(bot, feeds, other_origin):
    entries = []
    for server, tag in ((feeds, "a"), (other_origin, "b")):
        for i in range(4):
            entries.append({"name": f"{tag}{i}", "url": server.add(f"/{tag}{i}.xml", body=RSS,
                                                                   delay=0.15)})
    bot.configure(entries, concurrency=3, per_origin=2)
    assert not bot.poll().failed
    assert feeds.max_in_flight <= 2 and other_origin.max_in_flight <= 2
    # each request is in flight at least while the server waits `delay` before answering
    events = sorted([(r.time, 1) for s in (feeds, other_origin) for r in s.requests]
                    + [(r.time + 0.15, -1) for s in (feeds, other_origin) for r in s.requests])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 3


# ------------------------------------------------------------------ robustness


def test_a_slow_feed_times_out_without_holding_up_the_others(bot, feeds):
    slow = feeds.add("/slow.xml", body=RSS, delay=3)
    quick = [feeds.add(f"/q{i}.xml", body=RSS) for i in range(4)]
    bot.configure([{"name": "slow", "url": slow}]
                  + [{"name": f"q{i}", "url": u} for i, u in enumerate(quick)],
                  timeout="1s", per_origin=2, concurrency=2)
    report = bot.poll()
    assert one(report, "slow").status == "timeout"
    assert "within 1 s" in (one(report, "slow").error or "")
    assert all(one(report, f"q{i}").status == "200" for i in range(4))
    slow_hit = feeds.hits("/slow.xml")[0]
    quick_done = [feeds.hits(f"/q{i}.xml")[0].finished for i in range(4)]
    assert all(done is not None and done < slow_hit.time + 3 for done in quick_done)


def test_a_body_that_trickles_forever_is_cut_off_by_the_total_timeout(bot, feeds):
    url = feeds.add("/drip.xml", endless=True, chunk_delay=0.05)
    bot.configure([{"name": "drip", "url": url}], timeout="1s", max_bytes=100 * 1024 * 1024)
    assert one(bot.poll(), "drip").status == "timeout"


def test_an_endless_body_is_cut_off_at_the_size_cap(bot, feeds):
    url = feeds.add("/huge.xml", endless=True)
    bot.configure([{"name": "huge", "url": url}], max_bytes=256 * 1024)
    outcome = one(bot.poll(), "huge")
    assert outcome.status == "too-large" and "stopped reading" in (outcome.error or "")


def test_a_closed_port_is_a_connect_error(bot):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot.configure([{"name": "closed", "url": f"http://127.0.0.1:{port}/feed.xml"}])
    outcome = one(bot.poll(), "closed")
    assert outcome.status == "connect" and "cannot connect" in (outcome.error or "")


def test_html_page_is_recorded_with_the_feed_url_to_use(bot, feeds):
    url = feeds.add_file("/", "html-page.html", content_type="text/html; charset=utf-8")
    bot.configure([{"name": "site", "url": url}])
    outcome = one(bot.poll(), "site")
    assert outcome.status == "not a feed"
    assert f"use {feeds.url}/feed.xml" in (outcome.error or "")
    assert bot.state("site").failures == 1


@pytest.mark.parametrize(("name", "stored"), [
    ("malformed.xml", 2), ("entity-bomb.xml", 1), ("hostile-markup.xml", 4)])
def test_bad_input_still_stores_what_parsed(bot, feeds, name, stored):
    bot.configure([{"name": "f", "url": feeds.add_file("/f.xml", name)}])
    outcome = one(bot.poll(), "f")
    assert outcome.error is None and outcome.new == stored


def test_malformed_xml_is_recorded_as_a_warning_on_the_feed(bot, feeds):
    bot.configure([{"name": "f", "url": feeds.add_file("/f.xml", "malformed.xml")}])
    bot.poll()
    state = bot.state("f")
    assert state.last_status == "200" and "malformed feed" in (state.last_warning or "")


def test_wrong_charset_header_still_gives_correct_titles(bot, feeds):
    url = feeds.add_file("/f.xml", "wrong-charset.xml",
                         content_type="application/rss+xml; charset=iso-8859-1")
    bot.configure([{"name": "f", "url": url}])
    bot.poll()
    titles = [a.article.title for a in bot.store.undelivered("x", since=None,
                                                              relevant_only=False)]
    assert any("cliënten" in t for t in titles) and not any("Ã" in t for t in titles)


def test_configured_language_wins_over_the_servers_content_language(bot, feeds):
    url = feeds.add("/f.xml", body=RSS, headers={"Content-Language": "en"})  # Dutch stories
    bot.configure([{"name": "f", "url": url, "language": "nl"}])
    bot.poll()
    assert bot.store
    stored = bot.store.undelivered("x", since=None, relevant_only=False)
    assert len(stored) == 3 and {a.article.language for a in stored} == {"nl"}


def test_empty_body_is_recorded_not_crashed_on(bot, feeds):
    bot.configure([{"name": "f", "url": feeds.add("/f.xml", body=b"")}])
    outcome = one(bot.poll(), "f")
    assert "empty body" in (outcome.error or "")


class BrokenAnalyzer(Analyzer):
    """A collaborator that fails for one feed the way a bug would."""

    async def analyse_feed(self, body: bytes, **kw: Any):  # type: ignore[no-untyped-def, override]
        if kw["feed"] == "boom":
            raise RuntimeError("simulated bug")
        return await super().analyse_feed(body, **kw)


def test_an_unexpected_error_in_one_feed_is_recorded_and_the_round_completes(bot, feeds):
    bot.configure([{"name": "boom", "url": feeds.add("/boom.xml", body=RSS)},
                   {"name": "fine", "url": feeds.add("/fine.xml", body=RSS)}])
    assert bot.config
    report = bot.poll(analyzer=BrokenAnalyzer(bot.config.taxonomy))
    assert "simulated bug" in (one(report, "boom").error or "")
    assert one(report, "fine").new == 3
    assert bot.state("boom").last_status == "internal error"


def test_an_unexpected_error_backs_off_like_any_failure(bot, feeds, caplog):
    bot.configure([{"name": "boom", "url": feeds.add("/boom.xml", body=RSS)}])
    assert bot.config
    analyzer, gaps = BrokenAnalyzer(bot.config.taxonomy), []
    with caplog.at_level(logging.ERROR, logger="bot.pipeline"):
        for _ in range(3):
            bot.poll(manual=False, analyzer=analyzer)
            state = bot.state("boom")
            gaps.append(state.next_due - bot.clock.now)
            bot.clock.now = state.next_due
    assert gaps == [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1)]
    assert (state.failures, state.last_status) == (3, "internal error")


class CountingAnalyzer(Analyzer):
    """Records the URL of every article it is asked to classify after parsing."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.classified: list[str] = []

    async def classify(self, articles: Sequence[Article]) -> list[Classification]:
        self.classified += [a.url for a in articles]
        return await super().classify(articles)


def test_a_story_another_feed_stored_first_is_not_classified_on_every_fetch(bot, feeds):
    copy = RSS.replace(b"rss2-basic-000", b"copy-000")  # the same stories, other guids
    bot.configure([{"name": "a", "url": feeds.add("/a.xml", body=RSS)},
                   {"name": "b", "url": feeds.add("/b.xml", body=copy)}])
    assert bot.poll().new == 3, "each story stored once"
    assert bot.config
    analyzer = CountingAnalyzer(bot.config.taxonomy)
    report = bot.poll(analyzer=analyzer)  # no validators: both bodies come again
    assert report.count("200") == 2 and report.new == 0
    assert analyzer.classified == []


def test_a_round_of_304s_starts_no_parse_worker_processes(bot, feeds):
    bot.configure([{"name": f"f{i}", "url": feeds.add(f"/f{i}.xml", body=RSS, etag=f'"{i}"')}
                   for i in range(3)])
    assert bot.config
    bot.poll(analyzer=Analyzer(bot.config.taxonomy))
    with Analyzer(bot.config.taxonomy, processes=2) as analyzer:
        assert bot.poll(analyzer=analyzer).count("304") == 3
        assert not analyzer.running


@pytest.mark.skipif(default_processes() < 2, reason="parse workers need two cores or more")
def test_the_service_starts_its_parse_workers_once_for_its_lifetime(bot, feeds):
    names = [f"f{i:02d}" for i in range(POOL_MIN_FEEDS)]
    for n in names:
        feeds.add(f"/{n}.xml", body=RSS.replace(b"rss2-basic", n.encode()), etag=f'"{n}"')
    bot.configure([{"name": n, "url": f"{feeds.url}/{n}.xml"} for n in names])
    assert bot.config and bot.store
    bot.poll(analyzer=Analyzer(bot.config.taxonomy))  # every feed fetched once: validators
    service = Service(bot.config, bot.store, ConsoleNotifier(io.StringIO()), clock=bot.clock)
    analyzer = service.poller.analyzer
    workers: list[set[int]] = []

    async def rounds() -> None:
        try:
            for changed in (None, "f00", "f01"):
                bot.clock.advance(minutes=20)
                if changed:  # one feed has a new story: a body to parse
                    feeds.add(f"/{changed}.xml", body=RSS.replace(b"rss2-basic", b"new"),
                              etag='"new"')
                await service.poll()
                pool = analyzer._pool
                workers.append(set(pool._processes) if pool else set())  # type: ignore[attr-defined]
        finally:
            await service.poller.aclose()

    asyncio.run(rounds())
    assert workers[0] == set(), "a round of 304s starts no worker process"
    assert len(workers[1]) == default_processes() and workers[2] == workers[1]
    assert not analyzer.running


class Unclosable(Fetcher):
    async def aclose(self) -> None:
        raise OSError("cannot close")


def test_closing_the_poller_stops_the_parse_workers_even_if_the_fetcher_fails_to(bot):
    config = bot.configure([])
    analyzer = Analyzer(config.taxonomy, processes=2)
    analyzer.start()
    assert analyzer._pool is not None
    workers = list(analyzer._pool._processes.values())  # type: ignore[attr-defined]
    assert workers
    poller = Poller(config, fetcher=Unclosable(), analyzer=analyzer)
    with pytest.raises(OSError, match="cannot close"):
        asyncio.run(poller.aclose())
    assert not analyzer.running
    assert not any(p.is_alive() for p in workers)


def test_store_writer_saves_feed_by_feed_after_a_failed_batch(tmp_path):
    """One feed's row that SQLite refuses rolls back the batch's transaction; the writer
    then saves each feed on its own, so only that feed fails."""
    store = Store(tmp_path / "bot.db")
    names = ["a", "bad", "c"]
    store.sync_feeds((n, f"http://{n}.example/feed") for n in names)
    store.db.execute("CREATE TRIGGER refuse BEFORE UPDATE ON feeds WHEN NEW.name = 'bad' "
                     "BEGIN SELECT RAISE(ABORT, 'refused for this test'); END")
    states = {s.name: s for s in store.feed_states()}
    writer = StoreWriter(store)

    async def save_all() -> list[Any]:
        return await asyncio.gather(*(writer.save(
            replace(states[n], last_status="200"),
            [(a.article, a.classification) for a in [story(f"Bericht van {n}", feed=n)]],
            START) for n in names), return_exceptions=True)

    saved_a, failed, saved_c = asyncio.run(save_all())
    assert isinstance(failed, sqlite3.IntegrityError) and "refused" in str(failed)
    assert saved_a[0] is not None and saved_c[0] is not None
    after = {s.name: s for s in store.feed_states()}
    assert [(n, after[n].last_status, after[n].articles) for n in names] == [
        ("a", "200", 1), ("bad", None, 0), ("c", "200", 1)]
    store.close()


def test_worker_processes_give_the_same_articles_as_a_thread(tmp_path, feeds):
    files = ["rss2-basic.xml", "atom-basic.xml", "latin1.xml", "malformed.xml", "rss1-basic.xml"]
    results = []
    for processes in (0, 2):
        b = Bot(tmp_path / str(processes))
        b.tmp_path.mkdir()
        b.configure([{"name": f, "url": feeds.add(f"/{processes}/{f}", Route(
            body=(DATA / f).read_bytes()))} for f in files])
        assert b.config and b.store
        with Analyzer(b.config.taxonomy, processes=processes) as analyzer:
            b.poll(analyzer=analyzer)
        stored = b.store.undelivered("x", since=None, relevant_only=False)
        results.append(sorted((a.article.feed, a.article.guid, a.article.title,
                               a.classification.relevant, a.classification.topics)
                              for a in stored))
        b.store.close()
    assert results[0] == results[1] and len(results[0]) > 10


def test_a_parse_worker_that_dies_is_replaced_by_a_thread_and_the_round_completes(
        bot, feeds, caplog):
    import os
    import signal
    import time
    files = ["rss2-basic.xml", "atom-basic.xml", "latin1.xml"]
    bot.configure([{"name": f, "url": feeds.add_file(f"/{f}", f)} for f in files])
    assert bot.config
    with Analyzer(bot.config.taxonomy, processes=2) as analyzer:
        analyzer.start()  # else the workers start at the first body, during the round
        pool = analyzer._pool
        assert pool is not None
        deadline = time.monotonic() + 30
        while not getattr(pool, "_processes", None) and time.monotonic() < deadline:
            time.sleep(0.01)  # the workers start as the analyzer is made
        os.kill(next(iter(pool._processes)), signal.SIGKILL)  # type: ignore[attr-defined]
        with caplog.at_level(logging.ERROR, logger="bot.ingest"):
            report = bot.poll(analyzer=analyzer)
    assert not report.failed
    assert [one(report, f).new for f in files] == [3, 3, 3]
    assert any("worker process died" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ state survives restarts


def test_feed_state_survives_a_restart(bot, feeds):
    feeds.add("/old.xml", status=301, location="/new.xml")
    feeds.add("/new.xml", body=RSS, etag='"v9"')
    broken = feeds.add("/broken.xml", status=500)
    bot.configure([{"name": "moved", "url": feeds.url + "/old.xml"},
                   {"name": "broken", "url": broken}])
    bot.poll()
    bot.restart()
    moved, failing = bot.state("moved"), bot.state("broken")
    assert moved.fetch_url.endswith("/new.xml") and moved.etag == '"v9"'
    assert moved.articles == 3 and moved.last_success == START
    assert failing.failures == 1 and failing.next_due == START + timedelta(minutes=15)
    bot.poll()
    assert feeds.hits("/new.xml")[-1].headers.get("if-none-match") == '"v9"'

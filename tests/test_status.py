"""`python -m bot status` (and --json): per feed its last status, last success, consecutive
failures, next due time, articles stored and whether it is disabled, read from SQLite by a
separate process-like CLI call after `poll` calls, so the state evidently survives."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fakes.feed_server import DATA

RSS = (DATA / "rss2-basic.xml").read_bytes()


def serve_every_kind(feeds) -> list[dict]:
    feeds.add("/ok.xml", body=RSS, etag='"v1"')
    feeds.add("/gone.xml", status=410)
    feeds.add("/broken.xml", status=500)
    feeds.add_file("/page", "html-page.html", content_type="text/html")
    feeds.add("/old.xml", status=301, location="/new.xml")
    feeds.add("/new.xml", body=RSS.replace(b"rss2-basic", b"moved"), etag='"m1"')
    feeds.add_file("/bad.xml", "malformed.xml")
    return [{"name": "Good feed", "url": feeds.url + "/ok.xml"},
            {"name": "Gone", "url": feeds.url + "/gone.xml"},
            {"name": "Broken", "url": feeds.url + "/broken.xml"},
            {"name": "Home page", "url": feeds.url + "/page"},
            {"name": "Moved", "url": feeds.url + "/old.xml"},
            {"name": "Sloppy", "url": feeds.url + "/bad.xml"},
            {"name": "Paused", "url": feeds.url + "/paused.xml", "enabled": False}]


def polled(feeds, write_config, run_cli, rounds: int = 3):
    config = write_config({"feeds": serve_every_kind(feeds),
                           "channels": [{"name": "main", "chat": "@privacy_alerts"}]})
    for _ in range(rounds):
        assert run_cli("poll", "--config", str(config)).code == 0
    return config


def rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FEED "))
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line)
    return {line.split("  ")[0]: line for line in table}


def test_status_shows_each_feeds_health_in_aligned_columns(feeds, write_config, run_cli):
    config = polled(feeds, write_config, run_cli)
    result = run_cli("status", "--config", str(config))
    assert result.code == 0, result.err
    table = rows(result.out)
    header = table.pop("FEED")
    assert set(table) == {"Good feed", "Gone", "Broken", "Home page", "Moved", "Sloppy",
                          "Paused"}
    for column in ("STATUS", "LAST SUCCESS", "NEXT DUE", "STATE"):
        at = header.index(column)
        for line in table.values():
            assert line[at - 2:at] == "  " and line[at] != " ", (column, line)
    for column in ("FAILS", "ARTICLES"):  # numbers end under the end of their header
        end = header.index(column) + len(column)
        for line in table.values():
            assert line[end - 1].isdigit() and line[end] == " ", (column, line)


def test_status_says_what_each_feed_is_doing(feeds, write_config, run_cli):
    config = polled(feeds, write_config, run_cli)
    out = run_cli("status", "--config", str(config)).out
    table = rows(out)
    assert table["Good feed"].split()[2:4] == ["304", "just"]
    assert table["Good feed"].rstrip().endswith("ok")
    assert "disabled: 410 Gone" in table["Gone"] and " - " in table["Gone"]
    assert "FAILING: 3 failures in a row" in table["Broken"]
    assert " never " in table["Broken"], "never succeeded"
    assert "not a feed" in table["Home page"]
    assert "disabled: enabled: false in the config" in table["Paused"]
    assert "never fetched" in table["Paused"]
    assert "ok, with a warning" in table["Sloppy"]
    assert out.startswith("Feeds at ")
    assert "7 feeds (" in out.splitlines()[0]


def test_status_explains_problems_in_words(feeds, write_config, run_cli):
    config = polled(feeds, write_config, run_cli)
    out = run_cli("status", "--config", str(config)).out
    problems = out[out.index("Problems:"):]
    assert "410 Gone: the publisher removed this feed; polling stopped" in problems
    assert "HTTP 500" in problems and "3 failures in a row" in problems
    assert f"use {feeds.url}/feed.xml" in problems
    assert f"moved permanently: now fetched from {feeds.url}/new.xml" in problems
    assert "malformed feed" in problems


def test_status_json_has_every_field_per_feed(feeds, write_config, run_cli):
    config = polled(feeds, write_config, run_cli, rounds=1)
    result = run_cli("status", "--json", "--config", str(config))
    assert result.code == 0
    [data] = result.lines()
    by_name = {f["name"]: f for f in data["feeds"]}
    good = by_name["Good feed"]
    for key in ("last_status", "last_success", "consecutive_failures", "next_due",
                "articles", "disabled", "state", "last_error", "url", "configured_url"):
        assert key in good
    assert good["last_status"] == "200" and good["articles"] == 3
    assert good["state"] == "ok" and good["disabled"] is False
    assert datetime.fromisoformat(good["next_due"]) > datetime.fromisoformat(data["now"])
    assert datetime.fromisoformat(good["last_success"]).tzinfo == UTC
    gone = by_name["Gone"]
    assert gone["disabled"] is True and gone["next_due"] is None
    assert gone["disabled_reason"] == "410 Gone"
    assert by_name["Broken"]["consecutive_failures"] == 1
    assert by_name["Broken"]["state"] == "retrying"
    assert by_name["Moved"]["url"].endswith("/new.xml")
    assert by_name["Moved"]["configured_url"].endswith("/old.xml")


def test_status_before_any_poll_lists_the_feeds_as_never_fetched(feeds, write_config, run_cli):
    config = write_config({"feeds": serve_every_kind(feeds)[:2]})
    out = run_cli("status", "--config", str(config)).out
    table = rows(out)
    assert "never fetched" in table["Good feed"] and " now " in table["Good feed"]
    assert "2 feeds (2 ok, 2 never fetched)" in out
    assert "Problems:" not in out

"""feeds.yaml: validated on load; every error names the file, the line and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_config, parse_duration, parse_schedule
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
feeds:
  - name: Tweakers
    url: https://tweakers.net/feeds/mixed.xml
    language: nl
    interval: 15m
  - name: The Verge
    url: https://www.theverge.com/rss/index.xml
channels:
  - name: main
    chat: "@privacy_alerts"
    languages: [nl, en]
    topics: [biometrics]
    digest: "daily 08:00"
    max_age: 14d
"""


def test_shipped_feeds_yaml_is_valid():
    config = load_config(ROOT / "feeds.yaml", {})
    assert len(config.feeds) >= 6
    names = {f.name for f in config.feeds}
    assert {"Tweakers", "NOS Tech", "Security.nl", "The Verge", "Ars Technica",
            "TechCrunch"} <= names
    assert {f.language for f in config.feeds} == {"nl", "en"}


def test_contract_example_loads_with_defaults(write_config):
    config = load_config(write_config(GOOD), {})
    tweakers, verge = config.feeds
    assert tweakers.interval == timedelta(minutes=15) and tweakers.language == "nl"
    assert verge.language is None and verge.interval == timedelta(minutes=15)
    channel = config.channels[0]
    assert channel.chat == "@privacy_alerts" and channel.topics == ("biometrics",)
    assert channel.digest.times == ("08:00",) and channel.max_age == timedelta(days=14)
    assert config.channel_timezone(channel) == "Europe/Amsterdam"


def _error(write_config, text: str) -> ConfigError:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    return info.value


def test_bad_duration_names_file_line_and_key(write_config):
    err = _error(write_config, GOOD.replace("interval: 15m", "interval: 15 minuten"))
    assert err.file.endswith("feeds.yaml") and err.line == 5
    assert err.key == "feeds[0].interval"
    assert "feeds.yaml:5: feeds[0].interval: invalid duration" in str(err)


def test_unknown_key_is_refused_with_its_line(write_config):
    err = _error(write_config, GOOD.replace("    languages: [nl, en]", "    langauges: [nl, en]"))
    assert (err.line, err.key) == (11, "channels[0].langauges")
    assert err.reason == "unknown key; did you mean 'languages'?"


def test_missing_url_is_reported_on_the_feed(write_config):
    err = _error(write_config, GOOD.replace("    url: https://www.theverge.com/rss/index.xml\n",
                                            ""))
    assert err.key == "feeds[1].url" and err.line == 6 and "required" in err.reason


def test_unknown_topic_in_channel_lists_the_known_ones(write_config):
    err = _error(write_config, GOOD.replace("topics: [biometrics]", "topics: [biometric]"))
    assert err.key == "channels[0].topics[0]" and err.line == 12
    assert "unknown topic 'biometric'" in err.reason and "biometrics" in err.reason


def test_interval_below_the_floor_is_refused(write_config):
    err = _error(write_config, GOOD.replace("interval: 15m", "interval: 5m"))
    assert err.key == "feeds[0].interval" and "floor" in err.reason


@pytest.mark.parametrize("key", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("value", ["0", "0s"])
def test_a_fetch_timeout_of_zero_is_refused_with_its_line(write_config, key, value):
    err = _error(write_config, f"fetch:\n  jitter: 0\n  {key}: {value}\n" + GOOD)
    assert (err.line, err.key) == (3, f"fetch.{key}")
    assert "must be more than 0" in err.reason
    assert f"feeds.yaml:3: fetch.{key}: must be more than 0" in str(err)


def test_an_interval_too_long_to_compute_with_is_refused(write_config):
    err = _error(write_config, GOOD.replace("interval: 15m", "interval: 400d"))
    assert err.key == "feeds[0].interval" and "ceiling" in err.reason
    err = _error(write_config, GOOD.replace("interval: 15m", "interval: 99999999999999w"))
    assert err.key == "feeds[0].interval" and "too long" in err.reason


def test_yaml_merge_keys_load_and_lines_are_those_written(write_config):
    """One parse gives both the data and the lines; the lines come from the node tree as
    written, before a merge key (`<<:`) copies the anchored keys into the second feed."""
    text = """\
feeds:
  - &tweakers
    name: Tweakers
    url: https://tweakers.net/feeds/mixed.xml
    language: nl
    interval: 30m
  - <<: *tweakers
    name: NOS Tech
    url: https://feeds.nos.nl/nosnieuwstech
"""
    config = load_config(write_config(text), {})
    nos = config.feeds[1]
    assert (nos.name, nos.language, nos.interval) == ("NOS Tech", "nl", timedelta(minutes=30))
    assert config.lines[("feeds", 1, "name")] == 8 and config.lines[("feeds", 0, "name")] == 3


def test_non_http_url_and_bad_chat_are_refused(write_config):
    err = _error(write_config, GOOD.replace("https://tweakers.net/feeds/mixed.xml",
                                            "file:///etc/passwd"))
    assert err.key == "feeds[0].url"
    err = _error(write_config, GOOD.replace('"@privacy_alerts"', '"privacy alerts"'))
    assert err.key == "channels[0].chat"


def test_duplicate_feed_names_and_duplicate_keys_are_refused(write_config):
    err = _error(write_config, GOOD.replace("name: The Verge", "name: Tweakers"))
    assert err.key == "feeds[1].name" and "duplicate" in err.reason
    err = _error(write_config, GOOD + "feeds: []\n")
    assert err.key == "feeds" and "duplicate key" in err.reason


def test_invalid_yaml_names_the_line(write_config):
    err = _error(write_config, GOOD.replace("    language: nl", "    language: [nl"))
    assert err.line is not None and 4 <= err.line <= 6 and "invalid YAML" in err.reason


def test_environment_variables_are_expanded(write_config):
    path = write_config(GOOD.replace('"@privacy_alerts"', '"${CHANNEL:-@fallback}"'))
    assert load_config(path, {"CHANNEL": "-1001234"}).channels[0].chat == -1001234
    assert load_config(path, {}).channels[0].chat == "@fallback"
    err = _error(write_config, GOOD.replace('"@privacy_alerts"', '"${NOPE}"'))
    assert err.key == "channels[0].chat" and "NOPE" in err.reason


def test_topic_overrides_add_terms_and_new_topics(write_config):
    text = GOOD.replace("topics: [biometrics]", "topics: [biometrics, smart-meters]") + """\
topics:
  biometrics:
    terms: {nl: [handpalmscan*]}
  smart-meters:
    label: {nl: Slimme meters, en: Smart meters}
    terms: {nl: [slimme meter*], en: [smart meter*]}
"""
    config = load_config(write_config(text), {})
    assert "smart-meters" in config.taxonomy.topics
    assert "handpalmscan*" in config.taxonomy.topics["biometrics"].terms.nl
    assert "biometri*" in config.taxonomy.topics["biometrics"].terms.nl  # packaged kept


def test_bad_term_in_override_names_the_topic(write_config):
    text = GOOD + "topics:\n  biometrics:\n    terms: {nl: ['*x*']}\n"
    err = _error(write_config, text)
    assert err.key == "topics.biometrics" and "too short" in err.reason


def test_check_command_exits_nonzero_with_the_location(write_config, run_cli):
    path = write_config(GOOD.replace("interval: 15m", "interval: soon"))
    result = run_cli("check", "--config", str(path))
    assert result.code == 2
    assert f"{path}:5: feeds[0].interval" in result.err
    assert run_cli("check", "--config", str(write_config(GOOD))).code == 0


def test_a_config_error_stops_poll_before_anything_is_fetched(feeds, write_config, run_cli):
    url = feeds.add("/feed.xml", body=b"<rss/>")
    path = write_config(GOOD.replace("https://tweakers.net/feeds/mixed.xml", url)
                        .replace("max_age: 14d", "max_age: forever"))
    result = run_cli("poll", "--config", str(path))
    assert result.code == 2 and "channels[0].max_age" in result.err
    assert feeds.requests == []


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200),
                                              ("14d", 14 * 86400), ("1h30m", 5400), (0, 0)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["15", "15 minuten", "m15", "", "-5m"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_schedules():
    assert parse_schedule("daily 08:00").times == ("08:00",)
    assert parse_schedule("weekdays 7:30").days[:2] == ("monday", "tuesday")
    assert parse_schedule("mon,thu 09:00").days == ("monday", "thursday")
    assert parse_schedule("every 4 hours").every == timedelta(hours=4)
    assert parse_schedule("manual").manual
    for bad in ("daily", "daily 25:00", "every 5 minutes", "someday 08:00"):
        with pytest.raises(ValueError):
            parse_schedule(bad)

"""parse_feed on one small feed file per case (tests/data/feeds/README.md says what each
covers and expects): bytes and headers in, plain-text Articles out, or a ParseError that
says what the body was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.parse import ParsedFeed, clean_url, find_feed_link, parse_feed, to_text

DATA = Path(__file__).resolve().parent / "data" / "feeds"
FETCHED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BASE = "https://nieuws.example.nl/"


def parse(name: str, *, content_type: str | None = None, url: str = BASE) -> ParsedFeed:
    headers = {"content-type": content_type} if content_type else {}
    return parse_feed((DATA / name).read_bytes(), feed="test", url=url, headers=headers,
                      fetched=FETCHED)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_rss2_gives_guid_date_and_plain_text_summary():
    feed = parse("rss2-basic.xml")
    assert [a.guid for a in feed.articles] == ["rss2-basic-0001", "rss2-basic-0002",
                                              "rss2-basic-0003"]
    assert [a.published for a in feed.articles] == [
        when("2025-06-12T07:30"), when("2025-06-11T14:00"), when("2025-06-10T09:00")]
    first, second = feed.articles[0], feed.articles[1]
    assert first.title == "Kamer wil verbod op gezichtsherkenning in openbare ruimte"
    assert "AVG & Wpg" in first.summary and "€ 0" in first.summary
    assert "privé" in second.summary and "café" in second.summary
    for article in feed.articles:
        assert "<" not in article.summary and "&amp;" not in article.summary
    assert feed.warnings == []


def test_entry_without_guid_falls_back_to_link():
    feed = parse("rss2-no-guid.xml")
    assert [a.guid for a in feed.articles] == [
        "https://news.example.com/2025/06/05/regulator-opens-probe-into-smart-doorbell-maker",
        "https://news.example.com/2025/06/04/new-usb-c-hub-review"]
    assert [a.guid for a in feed.articles] == [a.url for a in feed.articles]


def test_entry_without_date_is_published_at_fetch_time():
    feed = parse("rss2-no-date.xml")
    assert [a.guid for a in feed.articles] == ["nodate-1", "nodate-2"]
    assert all(a.published == FETCHED for a in feed.articles)


def test_dutch_day_and_month_names_are_read():
    feed = parse("rss2-dutch-dates.xml")
    assert [a.published for a in feed.articles] == [
        when("2025-06-02T08:00"), when("2025-10-15T12:30"), when("2025-03-07T08:15")]


def test_atom_resolves_relative_links_against_xml_base_and_falls_back_to_updated():
    feed = parse("atom-basic.xml", url="https://news.example.com/tech/atom.xml")
    assert [a.url for a in feed.articles] == [
        "https://news.example.com/tech/2025/08/ai-act-rules-for-general-purpose-models",
        "https://news.example.com/tech/2025/07/messenger-app-starts-showing-ads",
        "https://news.example.com/reviews/keyboard-review"]
    assert [a.published for a in feed.articles] == [
        when("2025-08-01T10:00"), when("2025-07-30T15:30"), when("2025-07-29T12:00")]
    assert {a.language for a in feed.articles} == {"en"}


def test_rss1_takes_its_date_from_dc_date_and_its_guid_from_rdf_about():
    feed = parse("rss1-basic.xml")
    assert [a.guid for a in feed.articles] == [a.url for a in feed.articles]
    assert feed.articles[0].guid == ("https://news.example.com/2025/05/20/"
                                     "court-orders-data-broker-to-stop-selling-location-data")
    assert [a.published for a in feed.articles] == [
        when("2025-05-20T14:00"), when("2025-05-19T09:30"), when("2025-05-18T06:00")]


def test_latin1_feed_decodes_without_mojibake():
    feed = parse("latin1.xml")
    assert [a.title for a in feed.articles] == [
        "Privacyverklaring van zorgapp geeft patiënten meer inzage",
        "Café-wifi en hotspots: AP geeft advies over locatiegegevens",
        "Nieuwe tablet voor ouderen krijgt reünie-modus en grotere knoppen"]
    assert not any("Ã" in a.title + a.summary for a in feed.articles)


def test_utf8_body_served_as_latin1_still_decodes_as_utf8():
    feed = parse("wrong-charset.xml", content_type="application/rss+xml; charset=iso-8859-1")
    assert [a.title for a in feed.articles] == [
        "Zorgverzekeraar wijzigt privacyverklaring: cliënten krijgen bezwaarrecht",
        "Eén wachtwoordmanager minder: dienst stopt per 1 januari"]
    assert not any("Ã" in a.title + a.summary for a in feed.articles)


def test_malformed_xml_keeps_the_good_entries_drops_the_empty_one_and_warns():
    feed = parse("malformed.xml")
    assert [a.guid for a in feed.articles] == ["malformed-1", "malformed-2"]
    assert any(w.startswith("malformed feed:") for w in feed.warnings)
    assert any("no title and no summary" in w for w in feed.warnings)


def test_html_page_is_not_a_feed_and_names_the_feed_it_links():
    with pytest.raises(ParseError) as caught:
        parse("html-page.html")
    assert "not a feed" in str(caught.value)
    assert "https://nieuws.example.nl/feed.xml" in str(caught.value)


def test_feed_discovery_resolves_the_alternate_link_against_the_page():
    body = (DATA / "html-page.html").read_bytes()
    assert find_feed_link(body, BASE) == "https://nieuws.example.nl/feed.xml"
    assert find_feed_link(b"<html><head></head><body>hi</body></html>", BASE) is None


def test_empty_body_is_a_parse_error_not_a_crash():
    with pytest.raises(ParseError, match="empty body"):
        parse("empty.xml")


def test_whitespace_only_body_is_a_parse_error():
    with pytest.raises(ParseError, match="empty body"):
        parse_feed(b" \n\t ", feed="t", url=BASE, fetched=FETCHED)


def test_bytes_that_are_no_feed_at_all_are_a_parse_error():
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(b"\x00\x01\x02 binary junk \xff\xfe", feed="t", url=BASE, fetched=FETCHED)


def test_entity_bomb_is_not_expanded():
    feed = parse("entity-bomb.xml")
    assert [(a.guid, a.title) for a in feed.articles] == [("bomb-1", "Privacy update &lol9;")]
    assert "lollol" not in feed.articles[0].summary
    assert any("undefined entity" in w for w in feed.warnings)


def test_titles_with_markup_or_script_are_stored_as_plain_text():
    by_guid = {a.guid: a for a in parse("hostile-markup.xml").articles}
    assert by_guid["hostile-1"].title == "Nieuwe gebruiksvoorwaarden voor cloudopslag"
    assert by_guid["hostile-2"].title == "Tracking & cookies: boete < 1 miljoen voor webshop"
    assert "<script" not in by_guid["hostile-3"].title
    assert "script" not in by_guid["hostile-3"].summary
    assert "onerror" not in by_guid["hostile-3"].summary
    assert by_guid["hostile-4"].title == "Privacy-update 🔒 voor berichtenapp"


def test_javascript_link_is_dropped():
    by_guid = {a.guid: a for a in parse("hostile-markup.xml").articles}
    assert by_guid["hostile-4"].url == ""


def test_future_and_epoch_dates_become_the_fetch_time():
    by_guid = {a.guid: a for a in parse("future-date.xml").articles}
    assert by_guid["future-1"].published == FETCHED
    assert by_guid["epoch-1"].published == FETCHED
    assert by_guid["normal-1"].published == when("2025-06-03T08:00")


def test_duplicate_guid_is_kept_once_and_tracking_parameters_are_removed():
    feed = parse("duplicates.xml")
    assert [a.guid for a in feed.articles].count("dup-100") == 1
    ftc = [a for a in feed.articles if "ftc" in a.url]
    assert {a.url for a in ftc} == {
        "https://news.example.com/2025/06/07/ftc-finalizes-rule-on-kids-data"}


def with_ttl(ttl: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><ttl>{ttl}</ttl>'
            "<item><title>a</title><guid>g</guid></item></channel></rss>").encode()


def test_rss_ttl_is_read_in_minutes():
    assert parse_feed(with_ttl("90"), feed="t", url=BASE, fetched=FETCHED).ttl_minutes == 90


@pytest.mark.parametrize(("ttl", "minutes"), [
    ("9" * 5000, 10**18),  # past int()'s 4300 digits: still a (capped later) long wait
    ("²", None), ("٣", None), ("-5", None), ("soon", None)])
def test_odd_ttl_values_neither_crash_nor_count(ttl, minutes):
    assert parse_feed(with_ttl(ttl), feed="t", url=BASE, fetched=FETCHED).ttl_minutes == minutes


def test_configured_language_wins_over_content_language_and_the_feed():
    """README: `language:` in the config is trusted. rss2-basic.xml says nl-nl; the server
    says Content-Language: en (feedparser gives that to every entry)."""
    body = (DATA / "rss2-basic.xml").read_bytes()
    headers = {"content-language": "en"}
    feed = parse_feed(body, feed="t", url=BASE, headers=headers, fetched=FETCHED,
                      language="nl")
    assert {a.language for a in feed.articles} == {"nl"} and feed.language == "nl"


def test_without_a_configured_language_the_entry_wins_over_the_feed():
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
            b"<title>t</title><entry xml:lang=\"nl\"><id>a</id><title>Nieuws</title></entry>"
            b"<entry><id>b</id><title>News</title></entry></feed>")
    feed = parse_feed(atom, feed="t", url=BASE, fetched=FETCHED)
    assert [a.language for a in feed.articles] == ["nl", "en"]
    configured = parse_feed(atom, feed="t", url=BASE, fetched=FETCHED, language="en")
    assert [a.language for a in configured.articles] == ["en", "en"]


@pytest.mark.parametrize(("html", "text"), [
    ("<p>a</p><p>b</p>", "a b"),
    ("<p>caf&eacute; &#233; &euro;&nbsp;5</p>", "café é € 5"),
    ("<a href='x>y'>link</a> text", "link text"),
    ("<p>a < b</p>", "a < b"),
    ("<script>alert(1)</script>ok", "ok"),
    ("<!-- comment -->text", "text"),
    ("AT&T", "AT&T"),
])
def test_to_text_strips_tags_and_scripts_and_decodes_entities(html, text):
    assert to_text(html) == text


def test_clean_url_keeps_only_http_and_removes_tracking():
    assert clean_url("javascript:alert(1)") == ""
    assert clean_url("/a?utm_source=x&b=1", "https://e.nl/x/") == "https://e.nl/a?b=1"
    assert clean_url("HTTPS://E.nl/a#frag") == "https://e.nl/a"


def test_plain_urls_are_canonicalised_exactly_as_w3lib_does():
    """clean_url's fast path for plain links gives w3lib's canonicalize_url's answer."""
    import random

    from w3lib.url import canonicalize_url

    from bot.parse import _PLAIN_URL, clean_url

    rng = random.Random(5)
    alphabet = "aAzZ09._~/-%?#:@+,;=&' éü"
    plain = 0
    for _ in range(20000):
        host = rng.choice(["tweakers.net", "NOS.nl", "www.TheVerge.com", "a.b", "x-y.example"])
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        url = f"{rng.choice(['http', 'https', 'HTTP'])}://{host}/{path}"
        if _PLAIN_URL.fullmatch(url):
            plain += 1
            assert clean_url(url) == canonicalize_url(url), url
    assert plain > 1000  # the fast path was exercised


FEED_FILES = sorted([*DATA.glob("*.xml"), *DATA.glob("*.html"),
                     *(DATA.parent.parent.parent / "samples" / "feeds").glob("*.xml")])


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.name)
def test_feedparser_speedups_change_nothing(path: Path):
    """bot.parse_speedups takes shortcuts inside feedparser: its whole result must be the
    same as feedparser's own, and no two stored details may share one dict. Compared as
    parse.py asks (no resolving, no sanitizing), with feedparser resolving or sanitizing (the
    fast pop leaves those elements to feedparser's own) and with a Content-Location base
    (every element then joins its base)."""
    import io

    import feedparser

    from bot import parse_speedups

    def run(headers: dict[str, str], resolve: bool, sanitize: bool) -> dict:
        got = feedparser.parse(io.BytesIO(path.read_bytes()), response_headers=headers,
                               sanitize_html=sanitize, resolve_relative_uris=resolve)
        return {k: got.get(k) for k in ("feed", "entries", "version", "bozo", "encoding",
                                         "namespaces")} | {
            "bozo_exception": str(got.get("bozo_exception", ""))}

    base = {"content-location": "https://base.example.org/dir/feed"}
    for options in [({}, False, False), ({}, True, False), ({}, False, True), (base, False, False)]:
        parse_speedups.install()
        ours = run(*options)
        with parse_speedups.stock():
            stock = run(*options)
        assert ours == stock, options
        details = [v for entry in ours["entries"] for k, v in entry.items()
                   if k.endswith("_detail")]
        details += [c for entry in ours["entries"] for c in entry.get("content", [])]
        assert len({id(d) for d in details}) == len(details)
        if path.name in ("rss2-basic.xml", "atom-basic.xml"):
            assert details  # the files that have titles and summaries exercise the copy


def test_feedparser_gets_the_fast_driver():
    """install() names this module as feedparser's XML parser, and xml.sax finds its driver
    there (not a fallback to the plain expat driver)."""
    import xml.sax

    import feedparser.api

    from bot import parse_speedups

    parse_speedups.install()
    parser = xml.sax.make_parser(feedparser.api.PREFERRED_XML_PARSERS)
    assert type(parser) is parse_speedups._ExpatDriver


def test_safe_base_is_remembered_as_feedparser_makes_it(monkeypatch):
    """The remembered make_safe_absolute_uri answers as feedparser's own, the second time
    too, and forgets what it remembered when the accepted URI schemes are replaced."""
    import feedparser.urls

    from bot import parse_speedups

    pairs = [("https://a.example/x/", "https://a.example/x/"),
             ("HTTPS://a.example/?", "HTTPS://a.example/?"), ("https://a.example/x/", "../y/"),
             ("https://a.example/", "javascript:alert(1)"), ("", "https://a.example/"),
             ("https://a.example/", "")]
    for _ in range(2):
        for base, rel in pairs:
            assert parse_speedups._safe_uri(base, rel) == \
                feedparser.urls.make_safe_absolute_uri(base, rel), (base, rel)
    monkeypatch.setattr(feedparser.urls, "ACCEPTABLE_URI_SCHEMES", ("ftp",))
    for base, rel in pairs:
        assert parse_speedups._safe_uri(base, rel) == \
            feedparser.urls.make_safe_absolute_uri(base, rel), (base, rel)
    assert parse_speedups._safe_uri(*pairs[0]) == ""


def test_feedparser_speedups_keep_legacy_keys():
    """FeedParserDict's aliases ('guid' for 'id', 'description' for 'summary') and computed
    keys still answer through feedparser's own code with the shortcuts in place."""
    import io

    import feedparser

    from bot import parse_speedups

    parse_speedups.install()
    entry = feedparser.parse(io.BytesIO((DATA / "rss2-basic.xml").read_bytes())).entries[0]
    assert entry["guid"] == entry["id"] == "rss2-basic-0001"
    assert entry.get("description") == entry["summary"] and "guid" in entry
    assert entry.get("category") is None and "nothing-like-this" not in entry
    fresh = feedparser.FeedParserDict()
    fresh["channel"] = "x"  # an alias is stored under its real name
    assert dict(fresh) == {"feed": "x"}


def test_cp1252_table_maps_every_character_as_feedparsers_dict():
    """The C1 fix-up table (0x80-0x9F to the cp1252 characters) translates as feedparser's
    own dict does, character by character and in a mixed text."""
    import feedparser.mixin

    from bot import parse_speedups

    ours, stock = parse_speedups._CP1252_TABLE, parse_speedups._STOCK_CP1252
    assert isinstance(ours, str)  # the fast form is in use
    text = "".join(chr(i) for i in range(0x3000)) + "caf\xe9 \x80 \x93quote\x94 \x9f"
    assert text.translate(ours) == text.translate(stock)
    assert "\x80".translate(ours) == "\u20ac" and "\x81".translate(ours) == "\x81"
    parse_speedups.install()
    assert feedparser.mixin._cp1252 is ours

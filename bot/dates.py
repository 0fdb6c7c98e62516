"""Dates in text: when a change takes effect, and feed dates feedparser cannot read.

Pure functions; `published` / `now` are passed in.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from itertools import accumulate
from operator import or_
from typing import Any

from dateutil import parser as dateutil_parser

MONTHS = {
    # Dutch
    "januari": 1, "februari": 2, "maart": 3, "april": 4, "mei": 5, "juni": 6, "juli": 7,
    "augustus": 8, "september": 9, "oktober": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mrt": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "okt": 10, "nov": 11, "dec": 12,
    # English
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7,
    "august": 8, "october": 10, "mar": 3, "oct": 10,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY = r"(?P<d{n}>[0-3]?\d)(?:st|nd|rd|th|e|ste|de)?"
_YEAR = r"(?:,?\s+(?P<y{n}>20\d\d))?"
# "29 september (2026)", "September 29(, 2026)", "the 1st of July"
_DATE = (
    rf"(?:{_DAY.format(n=1)}\s+(?:of\s+)?(?P<m1>{_MONTH})\.?{_YEAR.format(n=1)}"
    rf"|(?P<m2>{_MONTH})\.?\s+{_DAY.format(n=2)}{_YEAR.format(n=2)})"
)
# Words that say "from then on" before a date: "gaat op 29 september in", "takes effect on".
_BEFORE_WORDS = (
    "ingaan", "ingaat", "gaat", "gaan", "gingen", "ging", "treedt", "treden", "worden", "wordt",
    "zijn", "is", "vanaf", "per", r"met\s+ingang\s+van", "ingangsdatum", "geldt", "gelden",
    "actief", r"van\s+kracht", r"in\s+werking", r"effect(?:ive)?", "starting", "start",
    "starts", r"begin(?:s|ning)?", "from", r"as\s+of", r"into\s+force", r"kicks?\s+in",
    r"go(?:es)?\s+live", r"rolls?\s+out", "applies", "apply", r"enforced?", "deadline",
    "until", "tot")
_BEFORE = f"(?:{'|'.join(_BEFORE_WORDS)})"
_AFTER = r"(?:in\s+werking|van\s+kracht|actief|\s*in\b|ingaan|ingaat)"
_BEFORE_RE = re.compile(rf"\b{_BEFORE}\b(?:\W+\w+){{0,4}}?\W+(?:on\s+|op\s+|the\s+)?{_DATE}",
                        re.I)
_AFTER_RE = re.compile(rf"\b(?:op|on)\s+{_DATE}\s+(?:\w+\s+){{0,2}}?{_AFTER}", re.I)
# A date this long before publication is a past event, so it refers to next year.
_PAST_TOLERANCE = timedelta(days=60)


_WORDS = re.compile(r"[a-z]+")
_DIGIT = re.compile(r"\d")

# Searching the text for _BEFORE_RE made the regex engine try its ~40 alternatives at every
# character: 43 µs per 220-character text, a fifth of classify. Both patterns begin with \b and
# a letter, so they can only match from the start of a word (a \w run) whose whole self their
# first word matches (re.I, so "İs" and "ſtart" too). effective_date splits the text into
# words once and tries the patterns (`match`) at such words only, in order, going on after a
# match as finditer does: the same matches as finditer, for the cost of the split.
_RUNS = re.compile(r"(\w+)")  # \w as \b sees it; split() puts the words at odd places
_BEFORE_HEAD = re.compile("(?:" + "|".join(w.split(r"\s+")[0] for w in _BEFORE_WORDS) + ")",
                          re.I)
_AFTER_HEAD = re.compile("(?:op|on)", re.I)
_BEFORE_START, _AFTER_START, _MONTH_WORD = 1, 2, 4


class _WordFlags(dict[str, int]):
    """word -> _BEFORE_START if _BEFORE_RE may start at it, | _AFTER_START if _AFTER_RE may,
    | _MONTH_WORD if _has_month(word); filled on the first lookup of a word."""

    def __missing__(self, word: str) -> int:
        if len(self) > 100_000:
            self.clear()
        flags = self[word] = ((_BEFORE_START if _BEFORE_HEAD.fullmatch(word) else 0)
                              | (_AFTER_START if _AFTER_HEAD.fullmatch(word) else 0)
                              | (_MONTH_WORD if _has_month(word) else 0))
        return flags


_word_flags = _WordFlags()


def _has_month(text: str) -> bool:
    return not MONTHS.keys().isdisjoint(_WORDS.findall(text.lower()))


def effective_date(text: str, published: date | None,
                   split: list[str] | None = None) -> date | None:
    """The date a change takes effect, resolved against the article's date; None if absent.
    `split`: _RUNS.split(text), when the caller has it already (classify does)."""
    # a date needs a day number and a month name: cheap tests before the costlier patterns
    if not _DIGIT.search(text):
        return None
    parts = _RUNS.split(text) if split is None else split  # between, word, ..., word, between
    flags = list(map(_word_flags.__getitem__, parts[1::2]))
    seen = reduce(or_, flags, 0)
    # seen & _MONTH_WORD is _has_month(text): no character outside \w lowercases to a-z, so
    # each [a-z] run of the lowercased text lies within one word
    if not seen & _MONTH_WORD or not seen & (_BEFORE_START | _AFTER_START):
        return None
    offsets: list[int] | None = None
    for rx, flag in ((_BEFORE_RE, _BEFORE_START), (_AFTER_RE, _AFTER_START)):
        end = 0  # where finditer would go on from
        for k, word_flags in enumerate(flags):
            if not word_flags & flag:
                continue
            if offsets is None:
                offsets = list(accumulate(map(len, parts)))
            start = offsets[2 * k]  # where word k begins
            if start < end:
                continue
            m = rx.match(text, start)  # \b still sees the character before `start`
            if m:
                found = _resolve(m, published)
                if found:
                    return found
                end = m.end()
    return None


def _resolve(m: re.Match[str], published: date | None) -> date | None:
    n = "1" if m.group("m1") else "2"
    name = m.group(f"m{n}")
    # re.I also matches through case folding ("ſeptember" with a long s, "januarı" with a
    # dotless i), which lower() does not undo: folded the same way, or no date
    month = MONTHS.get(name.lower()) or MONTHS.get(name.casefold().replace("ı", "i"))
    if month is None:
        return None
    day = int(m.group(f"d{n}"))
    year_text = m.group(f"y{n}")
    base = published or date.today()
    year = int(year_text) if year_text else base.year
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    if not year_text and found < base - _PAST_TOLERANCE:
        found = found.replace(year=year + 1)
    return found


_WEEKDAYS: list[Any] = [
    ("ma", "maandag", "Mon", "Monday"), ("di", "dinsdag", "Tue", "Tuesday"),
    ("wo", "woensdag", "Wed", "Wednesday"), ("do", "donderdag", "Thu", "Thursday"),
    ("vr", "vrijdag", "Fri", "Friday"), ("za", "zaterdag", "Sat", "Saturday"),
    ("zo", "zondag", "Sun", "Sunday")]
_MONTH_NAMES: list[Any] = [
    ("jan", "januari", "January"), ("feb", "februari", "February"),
    ("mrt", "maart", "Mar", "March"), ("apr", "april", "April"), ("mei", "May"),
    ("jun", "juni", "June"), ("jul", "juli", "July"), ("aug", "augustus", "August"),
    ("sep", "sept", "september", "September"), ("okt", "oktober", "Oct", "October"),
    ("nov", "november", "November"), ("dec", "december", "December")]


class _DutchDates(dateutil_parser.parserinfo):
    """dateutil reads 'ma, 02 jun 2025 10:00:00 +0200' with Dutch day and month names."""

    WEEKDAYS = _WEEKDAYS
    MONTHS = _MONTH_NAMES


_DUTCH = _DutchDates(dayfirst=True)


def parse_feed_date(text: str | None) -> datetime | None:
    """A date string feedparser gave up on, read with Dutch and English names; UTC."""
    if not text:
        return None
    try:
        parsed = dateutil_parser.parse(text, parserinfo=_DUTCH, fuzzy=True)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def sane_published(published: datetime | None, fetched: datetime) -> datetime:
    """fetching.md: a date in the future or before the web is a wrong date; use fetch time."""
    if published is None:
        return fetched
    if published > fetched + timedelta(days=1) or published.year < 1995:
        return fetched
    return published

"""Shortcuts inside feedparser: each gives the same result by a cheaper way.

parse.py calls install() before its first parse. feedparser is pure Python, and in a round of
a thousand feeds it is most of the CPU; a profile (py-spy, 30-item feeds) showed five places
where it does general work for a special case. Each shortcut takes the special case and hands
everything else to feedparser's own code; tests/test_parse.py compares feedparser's whole
result with and without them (stock()) on every test and sample feed. Measured one at a time,
feed by feed, against stock feedparser 6.0.14 on the benchmark's feeds (all five together:
parse_feed in 0.69 of its time with stock feedparser):

    expat named as the XML parser      ~1-3%   (libxml2's driver was looked for at every feed)
    flat copy of content parameters    ~14%    (copy.deepcopy of a flat dict of strings)
    urljoin(base, '') is base          ~6%     (every element without xml:base)
    FeedParserDict lookups             ~14%    (keys that have no legacy alias)
    the cp1252 fix-up as a table       ~2%     (str.translate on every text it stores)

pyproject.toml keeps feedparser below 7; a release that moves these names makes install() fail
loudly in the tests, not silently.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import feedparser.api
import feedparser.mixin
from feedparser.util import FeedParserDict

# keys FeedParserDict answers specially (legacy aliases and computed keys); any other key is
# looked up as in a plain dict, which is what its own code does for it, the slow way
_COMPUTED = frozenset({"category", "enclosures", "license", "updated", "updated_parsed"})
_STOCK_CP1252: dict[int, str] = feedparser.mixin._cp1252
_STOCK = {
    "parsers": feedparser.api.PREFERRED_XML_PARSERS,
    "cp1252": _STOCK_CP1252,
    "copy": feedparser.mixin.copy,
    "urljoin": feedparser.mixin._urljoin,
    "get": FeedParserDict.get,
    "getitem": FeedParserDict.__getitem__,
    "contains": FeedParserDict.__contains__,
    "setitem": FeedParserDict.__setitem__,
}
_installed = False
# feedparser.mixin maps the C1 controls that cp1252 text misread as Latin-1 leaves behind
# (0x80-0x9F) with output.translate(_cp1252), a dict: str.translate then fails a dict lookup
# for every other distinct character of every text. The same mapping as a string indexed by
# code point (itself below 0x80, the fix-ups from 0x80 to 0x9F, and an IndexError, which
# str.translate reads as "unchanged", above) is looked up without failing: half the time.
_CP1252_TABLE: Any = "".join(chr(i) for i in range(0x80)) + "".join(
    str(_STOCK_CP1252.get(i, chr(i))) for i in range(0x80, 0xA0))
if len(_CP1252_TABLE) != 0xA0 or any(k >= 0xA0 for k in _STOCK_CP1252):
    _CP1252_TABLE = _STOCK_CP1252  # not one character per code point below 0xA0: keep it
_suspended = False


class _FlatCopy:
    """Stands in for the `copy` module inside feedparser.mixin, whose one use of it is
    copy.deepcopy(self.contentparams) for every title, summary and content it stores: a flat
    dict of strings (type, language, base), which deepcopy walks the slow way (it even asks
    the dict for __deepcopy__, a failed key lookup). A flat dict of strings or None copied
    as a dict is the same; anything else still goes to deepcopy."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if type(value) is FeedParserDict and all(v is None or type(v) is str
                                                 for v in value.values()):
            return FeedParserDict(value)
        return copy.deepcopy(value, memo)


def _urljoin(base: Any, uri: Any) -> Any:
    """feedparser.mixin joins every element's xml:base to the base so far; most elements
    have none (''), and urljoin(base, '') is base: answered without a regex and urllib."""
    if uri == "" and type(base) is str:
        return base
    return _STOCK["urljoin"](base, uri)


def _plain(self: FeedParserDict, key: Any) -> bool:
    return key not in _COMPUTED and key not in self.keymap


def _get(self: FeedParserDict, key: Any, default: Any = None) -> Any:
    if _plain(self, key):
        return dict.get(self, key, default)
    return _STOCK["get"](self, key, default)


def _getitem(self: FeedParserDict, key: Any) -> Any:
    if _plain(self, key):
        return dict.__getitem__(self, key)
    return _STOCK["getitem"](self, key)


def _contains(self: FeedParserDict, key: Any) -> bool:
    if _plain(self, key):
        return dict.__contains__(self, key)
    return bool(_STOCK["contains"](self, key))


def _setitem(self: FeedParserDict, key: Any, value: Any) -> None:
    if key not in self.keymap:
        dict.__setitem__(self, key, value)
    else:
        _STOCK["setitem"](self, key, value)


def install() -> None:
    """Put the shortcuts in place (once; later calls, and calls inside stock(), do nothing)."""
    global _installed
    if _installed or _suspended:
        return
    _set(parsers=["xml.sax.expatreader"], cp1252=_CP1252_TABLE, copy=_FlatCopy,
         urljoin=_urljoin, get=_get, getitem=_getitem, contains=_contains, setitem=_setitem)
    _installed = True


@contextlib.contextmanager
def stock() -> Iterator[None]:
    """feedparser's own code for the duration (tests compare results with and without)."""
    global _installed, _suspended
    was, _installed, _suspended = _installed, False, True
    _set(**_STOCK)
    try:
        yield
    finally:
        _suspended = False
        if was:
            install()


def _set(*, parsers: Any, cp1252: Any, copy: Any, urljoin: Any, get: Any, getitem: Any,
         contains: Any, setitem: Any) -> None:
    # feedparser's strict parser is xml.sax with the first driver that imports from this
    # list, libxml2's first: named, it is always expat (the parser the entity-bomb and
    # charset tests ran against), and a missing libxml2 is not looked for at every feed
    feedparser.api.PREFERRED_XML_PARSERS = parsers
    feedparser.mixin._cp1252 = cp1252
    feedparser.mixin.copy = copy
    feedparser.mixin._urljoin = urljoin
    FeedParserDict.get = get
    FeedParserDict.__getitem__ = getitem
    FeedParserDict.__contains__ = contains
    FeedParserDict.__setitem__ = setitem

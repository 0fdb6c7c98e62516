"""Find every keyword term in a text in one pass over its words.

Terms are written for people, in YAML (see topics.yaml):

    privacybeleid           the word and its inflections (Snowball stem of the term's language)
    vingerafdruk*           any word that starts so: vingerafdrukscanner, vingerafdrukken
    *herkenning             any word that ends so; a compound also inflected:
                            gezichtsherkenning(en), but '*wet' not in 'weten'
    *biometri*              any word that contains it
    =wet                    exactly this word, no inflection ('weten' stems to 'wet' too)
    GDPR, X, AP             a term with capitals matches only with those capitals (plural s ok)
    privacy policy          consecutive words (a hyphen counts as a space: privacy-policy)
    past ... aan            words with up to 6 others between them, in this order

The text is split into words once; each word is looked up in hash tables (stems, prefixes,
suffixes), and the answer per distinct word is cached, so the cost grows with the number of
words, not with the number of terms. One regex alternation of 500 words took 21.6 ms per
500-character text in CPython (its engine tries each alternative at every word), splitting
and looking up 32 µs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import Stemmer

WORD_RE = re.compile(r"[^\W_]+")
_SPLIT_RE = re.compile(f"({WORD_RE.pattern})")
_SPLIT_ASCII = re.compile("([0-9A-Za-z]+)")  # the same on ASCII text: a quarter faster
GAP = 6  # words allowed between the parts of "a ... b"
_CACHE_LIMIT = 200_000
_ENDINGS = ("en", "es", "s", "e", "n")  # Dutch and English plural and adjective endings


def fold(text: str) -> str:
    """Strip accents so 'geïnformeerd' and 'geinformeerd' are the same word."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def split_words(text: str) -> list[str]:
    """[between, word, between, ..., word, between]: the words as WORD_RE finds them at the
    odd places, so that the text of words i..j is "".join(parts[2i + 1:2j + 2]). One C call;
    it costs about what WORD_RE.findall does, and a phrase's surface comes without a second
    pass over the text."""
    return (_SPLIT_ASCII if text.isascii() else _SPLIT_RE).split(text)


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a term: which term, in which field, the words as written."""

    term: int
    field: str
    surface: str
    start: int  # token index


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str  # stem | prefix | suffix | infix | exact | cprefix | word
    text: str
    lang: str  # nl | en | all


# a phrase's words after the first: (rule id, words allowed before it) each
_Tail = tuple[tuple[int, int], ...]
# a term a word may start: (term, its other words' rules, _Tail)
_Start = tuple[int, frozenset[int], _Tail]
# per distinct word: its rules, the terms it may start (in hit order), and when one of those
# has more words, all of them as _Start, else None (only then does scan look further)
_Entry = tuple[tuple[int, ...], tuple[int, ...], tuple[_Start, ...] | None]


class _WordCache(dict[str, _Entry]):
    """Matcher._starts: per distinct word its entry, made by `entry` on the first lookup
    (__missing__), so that looking up a text's words is one map() in C."""

    def __init__(self, entry: Callable[[str], _Entry]) -> None:
        super().__init__()
        self._make = entry

    def __missing__(self, word: str) -> _Entry:
        return self._make(word)


class TermError(ValueError):
    """A term cannot be compiled; the message says why."""


def parse_term(term: str, lang: str) -> tuple[tuple[_Rule, ...], tuple[int, ...]]:
    """'privacy policy ... updat*' -> word rules and the gap allowed before each of them."""
    # The text is split into words at hyphens, apostrophes and dots; so is the term.
    words = re.sub(r"(?<=\w)[-'’.](?=\w)", " ", term).split()
    if not words:
        raise TermError("empty term")
    rules: list[_Rule] = []
    gaps: list[int] = []
    gap = 0
    for word in words:
        if word in ("...", "…"):
            if not rules:
                raise TermError(f"{term!r}: '...' must stand between words")
            gap = GAP
            continue
        rules.append(_word_rule(word, lang, term))
        gaps.append(gap)
        gap = 0
    if gap:
        raise TermError(f"{term!r}: '...' must stand between words")
    return tuple(rules), tuple(gaps)


def _word_rule(word: str, lang: str, term: str) -> _Rule:
    literal = word.startswith("=")
    word = word.removeprefix("=")
    lead, trail = word.startswith("*"), word.endswith("*") and len(word) > 1
    core = fold(word.strip("*"))
    if not core or not WORD_RE.fullmatch(core):
        raise TermError(f"{term!r}: {word!r} must be letters or digits, with * at either end")
    if literal:
        if lead or trail:
            raise TermError(f"{term!r}: '=' and '*' cannot be combined")
        return _Rule("exact" if core != core.lower() else "word", core, lang)
    if core != core.lower():
        if lead:
            raise TermError(f"{term!r}: a word with capitals cannot start with *")
        return _Rule("cprefix" if trail else "exact", core, lang)
    if lead and trail:
        kind = "infix"
    elif trail:
        kind = "prefix"
    elif lead:
        kind = "suffix"
    else:
        kind = "stem"
    if kind != "stem" and len(core) < 3:
        raise TermError(f"{term!r}: {word!r} is too short for a wildcard (3 letters at least)")
    return _Rule(kind, core, lang)


def _stemmers() -> dict[str, Stemmer.Stemmer]:
    return {"nl": Stemmer.Stemmer("dutch"), "en": Stemmer.Stemmer("english")}


class Matcher:
    """Compiled terms for texts in one language group (nl texts also get English terms)."""

    def __init__(self, terms: Sequence[tuple[str, str]]) -> None:
        """`terms`: (term, lang) pairs; a term's index in this list is its id in hits."""
        self._stemmers = _stemmers()
        rule_ids: dict[_Rule, int] = {}
        self.terms: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for text, lang in terms:
            rules, gaps = parse_term(text, lang)
            ids = tuple(rule_ids.setdefault(r, len(rule_ids)) for r in rules)
            self.terms.append((ids, gaps))
        self._by_first: dict[int, list[int]] = {}
        self._rest: list[frozenset[int]] = []  # the other words' rules of each term
        for t, (ids, _) in enumerate(self.terms):
            self._by_first.setdefault(ids[0], []).append(t)
            self._rest.append(frozenset(ids[1:]))
        self._tails: list[_Tail] = [tuple(zip(ids[1:], gaps[1:], strict=True))
                                    for ids, gaps in self.terms]
        self._index(rule_ids)
        self._starts = _WordCache(self._entry)  # _Entry per distinct word

    def __getstate__(self) -> dict[str, object]:
        """Pickled for parse worker processes: the tables, not the stemmers (C objects, made
        again on arrival) nor the cache of words seen."""
        state = dict(self.__dict__)
        for name in ("_stemmers", "_starts"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._stemmers = _stemmers()
        self._starts = _WordCache(self._entry)

    def _index(self, rule_ids: dict[_Rule, int]) -> None:
        self._stem: dict[str, dict[str, list[int]]] = {"nl": {}, "en": {}}
        self._exact: dict[str, list[int]] = {}
        self._word: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        self._cprefix: dict[str, list[int]] = {}
        self._suffix: dict[str, list[int]] = {}
        self._infix: list[tuple[str, int]] = []
        for rule, rid in rule_ids.items():
            if rule.kind == "stem":
                for lang in ("nl", "en") if rule.lang == "all" else (rule.lang,):
                    stem = self._stemmers[lang].stemWord(rule.text)
                    self._stem[lang].setdefault(stem, []).append(rid)
            elif rule.kind == "suffix":
                self._suffix.setdefault(rule.text, []).append(rid)
            elif rule.kind == "infix":
                self._infix.append((rule.text, rid))
            else:
                table = {"exact": self._exact, "word": self._word, "prefix": self._prefix,
                         "cprefix": self._cprefix}[rule.kind]
                table.setdefault(rule.text, []).append(rid)
        self._prefix_lengths = sorted({len(p) for p in self._prefix})
        self._cprefix_lengths = sorted({len(p) for p in self._cprefix})
        self._suffix_lengths = sorted({len(s) for s in self._suffix})

    def rules_for(self, token: str) -> tuple[int, ...]:
        """Word rules that this word satisfies (find keeps them per distinct word: _starts)."""
        word = fold(token)
        lower = word.lower()
        ids: list[int] = []
        stems = {lang: s.stemWord(lower) for lang, s in self._stemmers.items()}
        for lang, stem in stems.items():
            ids += self._stem[lang].get(stem, ())
        ids += self._exact.get(word, ())
        ids += self._word.get(lower, ())
        if len(word) > 2 and word.endswith("s"):
            ids += self._exact.get(word[:-1], ())  # DPAs, VPNs
        for n in self._prefix_lengths:
            if n > len(lower):
                break
            ids += self._prefix.get(lower[:n], ())
        for n in self._cprefix_lengths:
            if n > len(word):
                break
            ids += self._cprefix.get(word[:n], ())
        if self._suffix_lengths:
            ids += self._suffix_rules(lower)
        ids += [rid for text, rid in self._infix if text in lower]
        return tuple(sorted(set(ids)))

    def _suffix_rules(self, lower: str) -> list[int]:
        """'*wet' matches 'telecommunicatiewet' and 'wet'; an inflection may follow only a
        compound ('gezichtsherkenningen'), so 'weten' is not 'wet' + 'en'. Literal, not
        stemmed: the Dutch stem of 'gegevens' is 'geven'."""
        forms = [(lower, 0)] + [(lower[:-len(e)], len(e)) for e in _ENDINGS
                                if lower.endswith(e) and len(lower) > len(e) + 2]
        ids: list[int] = []
        for n in self._suffix_lengths:
            for form, stripped in forms:
                if n < len(form) or (n == len(form) and not stripped):
                    ids += self._suffix.get(form[-n:], ())
        return ids

    def _entry(self, token: str) -> _Entry:
        rules = self.rules_for(token)
        starts = tuple(t for rid in rules for t in self._by_first.get(rid, ()))
        # the phrases' data in the entry: scan then reads no attributes per term
        phrases = tuple((t, self._rest[t], self._tails[t]) for t in starts) \
            if any(self._rest[t] for t in starts) else None
        entry = (rules, starts, phrases)
        if len(self._starts) > _CACHE_LIMIT:
            self._starts.clear()
        self._starts[token] = entry
        return entry

    def find(self, text: str, field: str) -> list[Hit]:
        """Every term occurrence in `text`; overlapping terms all count."""
        return [Hit(t, field, surface, i) for t, surface, i in self.scan(split_words(text))]

    def scan(self, parts: list[str]) -> list[tuple[int, str, int]]:
        """find's hits as plain (term, surface, word index) tuples, from the text as
        split_words gives it: what classify reads, without a Hit object for each (measured:
        a frozen dataclass costs ~1 µs to make)."""
        words = parts[1::2]
        per_word = list(map(self._starts.__getitem__, words))  # all in C for known words
        hits: list[tuple[int, str, int]] = []
        present: set[int] | None = None
        for i, (_, starts, phrases) in enumerate(per_word):
            if not starts:
                continue
            if phrases is None:  # one-word terms only: the word is the surface
                hits += [(t, words[i], i) for t in starts]
                continue
            if present is None:
                present = {rid for rules, _, _ in per_word for rid in rules}
            for t, rest, tail in phrases:
                if not rest:
                    hits.append((t, words[i], i))
                    continue
                if not rest <= present:
                    continue  # a later word of the phrase is nowhere in the text
                end = _match_rest(tail, i, per_word)
                if end is not None:  # the text of words i..end, spaces made one
                    hits.append((t, " ".join("".join(parts[2 * i + 1:2 * end + 2]).split()), i))
        return hits


def _match_rest(tail: _Tail, i: int, per_word: list[_Entry]) -> int | None:
    """Where the phrase starting at word i ends, if its other words follow in time."""
    pos = i
    for rid, gap in tail:
        for nxt in range(pos + 1, min(pos + 2 + gap, len(per_word))):
            if rid in per_word[nxt][0]:
                pos = nxt
                break
        else:
            return None
    return pos


"""Which articles tell the same story (pure): a digest lists each story once.

Two articles are the same story when any of these holds:

    same URL       their links are equal once canonicalised (scheme, `www.`, tracking
                   parameters, fragment and trailing slash ignored)
    near-duplicate the same language, published at most 2 days apart, and titles that say
                   the same with other words: rapidfuzz's token-set ratio >= 70 over the
                   content words, at least 3 and more than half of them shared, and no
                   different organisations named
    same subject   (across the two languages too) the same organisation, a shared topic,
                   the same kind of news (policy change / enforcement / legislation) when
                   both have one, published at most 1 day apart, effective dates that do not
                   differ. The organisation is a company the classifier named or a name-like
                   word in both titles ("RitNu", "Kestrel"); a regulator or an institution
                   ("Europees Parlement" = "EU Parliament") counts only for two stories that
                   name no company and the same institutions, and then they must share both
                   the kind of news and a topic about the kind of data.

A cluster is a connected group of such pairs. `cluster` keeps the input order (the first
member's place), so callers decide what "first" means.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

from rapidfuzz import fuzz
from w3lib.url import canonicalize_url, url_query_cleaner

from bot.models import StoredArticle

TITLE_RATIO = 70          # rapidfuzz token_set_ratio, 0..100, over content words
MIN_SHARED_WORDS = 3
NEAR_DAYS = 2             # near-duplicate titles: published at most this many days apart
SUBJECT_DAYS = 1          # same subject: at most this many days apart

# Institutions named differently in Dutch and English news (the classifier's own lists
# already map regulators such as "AP" and "Dutch DPA" to one name).
INSTITUTIONS: dict[str, tuple[str, ...]] = {
    "European Parliament": ("Europees Parlement", "Europese Parlement", "European Parliament",
                            "EU Parliament", "EU-parlement", "Europarlement", "MEPs",
                            "Europarlementariërs", "Europarlementariers"),
    "Council of the EU": ("Raad van de EU", "Europese Raad", "Council of the EU",
                          "EU member states", "EU-lidstaten", "lidstaten"),
    "Tweede Kamer": ("Tweede Kamer", "Dutch parliament", "Dutch House of Representatives"),
    "Eerste Kamer": ("Eerste Kamer", "Dutch Senate"),
    "Dutch government": ("kabinet", "Dutch government", "Dutch cabinet"),
    "US Congress": ("Congress", "Amerikaanse Congres", "US Senate", "Amerikaanse Senaat"),
}
_INSTITUTION_RE = [(name, re.compile(r"\b(?:" + "|".join(re.escape(a) for a in aliases) + r")\b",
                                     re.I)) for name, aliases in INSTITUTIONS.items()]

# Words that look like names in a headline but say nothing about who the story is about.
_GENERIC = {
    "ai", "eu", "us", "vs", "uk", "usa", "gdpr", "avg", "api", "vpn", "ceo", "cto", "it", "ict",
    "app", "apps", "dna", "id", "sms", "nfc", "os", "pc", "tv", "nl", "be", "de", "fr", "eu's",
    "privacy", "data", "online", "internet", "tech", "big", "new", "nieuw", "update", "cookie",
    "cookies", "europe", "europa", "european", "europese", "europees", "dutch", "nederland",
    "nederlandse", "america", "american", "amerikaanse", "court", "rechter", "judge", "hof",
    "ftc", "dpa", "breaking", "exclusive", "opinion", "analysis", "series",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "januari", "februari", "maart", "mei", "juni", "juli",
    "augustus", "oktober", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "sunday", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag",
}
_STOP = {
    # Dutch
    "de", "het", "een", "en", "van", "in", "op", "met", "voor", "aan", "bij", "door", "naar",
    "om", "te", "tot", "uit", "over", "na", "als", "dan", "dat", "die", "dit", "deze", "er",
    "is", "zijn", "wordt", "worden", "kan", "kunnen", "mag", "mogen", "moet", "moeten", "wil",
    "niet", "geen", "ook", "nog", "wel", "meer", "maar", "of", "je", "jouw", "uw", "hun",
    "haar", "zich", "ze", "wat", "wie", "hoe", "waarom", "nu", "al", "krijgt", "gaat",
    "legt", "via",
    # English
    "the", "a", "an", "and", "or", "to", "on", "for", "with", "by", "from", "at",
    "as", "are", "be", "been", "it", "its", "it's", "this", "that", "these", "those",
    "will", "would", "can", "could", "may", "must", "should", "not", "no", "your", "you",
    "their", "his", "her", "our", "we", "they", "he", "she", "what", "who", "how", "why",
    "now", "new", "after", "into", "about", "more", "than", "lets", "let", "says",
    "say", "here's", "heres", "what's", "whats", "has", "have", "had", "do", "does", "did",
    "up", "out", "off", "makes", "make", "gets", "get",
}
_TRACKING = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "fbclid",
             "gclid")
_URL_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?(?P<host>[^/?]*)(?P<rest>.*)", re.I | re.S)
_WORD_RE = re.compile(r"[\w][\w'’.-]*[\w]|\w", re.UNICODE)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the rules compare, worked out once per article."""

    url: str
    language: str
    day: int
    words: frozenset[str]          # content words of the title, lowercased
    text: str                      # those words joined, for rapidfuzz
    companies: frozenset[str]      # classifier orgs and name-like title words
    actors: frozenset[str]         # regulators and institutions
    structural: frozenset[str]
    kinds: frozenset[str]          # other topics: the kind of data
    effective: date | None


def canonical_url(url: str) -> str:
    """The URL without what differs between copies of one link. Only the scheme (dropped)
    and the host are case-insensitive (RFC 3986, 6.2.2.1): a path or query that differs in
    case is another page (`/watch?v=AbC` is not `/watch?v=abc`)."""
    if not url:
        return ""
    with contextlib.suppress(ValueError):
        url = canonicalize_url(url_query_cleaner(url, _TRACKING, remove=True))
    found = _URL_RE.match(url.strip().split("#")[0])
    assert found is not None  # every part of the pattern is optional
    host = found.group("host").lower().removeprefix("www.")
    return (host + found.group("rest")).rstrip("/")


def _tokens(title: str) -> list[str]:
    return [t.replace("’", "'") for t in _WORD_RE.findall(title)]


def _name_like(title: str, skip: Collection[str]) -> set[str]:
    """Words a headline writes as a name: capitals after the first word, inner capitals,
    letters with digits. In a Title Case headline only inner capitals and digits count.
    Parts of hyphenated words count on their own ("AI-bedrijven" names nobody)."""
    parts: list[tuple[str, bool]] = []  # (word, follows the start of the title or a colon)
    for i, token in enumerate(_tokens(title)):
        for j, part in enumerate(token.split("-")):
            start = j == 0 and (i == 0 or (bool(parts) and parts[-1][0].endswith(":")))
            parts.append((part, start))
    words = [w for w, _ in parts if w[:1].isalpha()]
    title_case = len(words) >= 4 and sum(w[0].isupper() for w in words) > len(words) * 0.6
    names = set()
    for part, start in parts:
        plain = part.removesuffix("'s").strip(".':")
        low = plain.lower()
        if not plain or low in _GENERIC or low in _STOP or low in skip:
            continue
        letters = sum(c.isalpha() for c in plain)
        inner = any(c.isupper() for c in plain[1:]) and not plain.isupper()
        digits = any(c.isdigit() for c in plain) and letters >= 3
        acronym = plain.isupper() and len(plain) >= 2 and plain.isalpha()
        capital = plain[0].isupper() and not start and len(plain) >= 3
        if inner or digits or (not title_case and (acronym or capital)):
            names.add(low)
    return names


def _skip_words(article: StoredArticle) -> set[str]:
    """Regulator and law names (and their initials) are no company."""
    out: set[str] = set()
    result = article.classification
    for name in (*result.regulators, *result.laws):
        parts = name.split()
        out.update(p.lower() for p in parts)
        out.add("".join(p[0] for p in parts).lower())
    return out


def facts(article: StoredArticle, structural: Collection[str]) -> _Facts:
    result, title = article.classification, article.article.title
    words = [t.lower() for t in _tokens(title)]
    content = [w for w in words if w not in _STOP and len(w) > 1]
    skip = _skip_words(article)
    actors = {r.lower() for r in result.regulators}
    for name, pattern in _INSTITUTION_RE:
        for found in pattern.finditer(title):
            actors.add(name.lower())
            skip.update(w.lower() for w in found.group(0).split())
    companies = {o.lower() for o in result.orgs} | _name_like(title, skip)
    topics = set(result.topics)
    return _Facts(
        url=canonical_url(article.article.url), language=result.language,
        day=article.article.published.date().toordinal(), words=frozenset(content),
        text=" ".join(content), companies=frozenset(companies - actors), actors=frozenset(actors),
        structural=frozenset(topics & set(structural)),
        kinds=frozenset(topics - set(structural)), effective=result.effective_date)


def why_same(a: _Facts, b: _Facts) -> str | None:
    """The rule that makes two articles one story, or None."""
    if a.url and a.url == b.url:
        return "same URL"
    days = abs(a.day - b.day)
    conflict = a.companies and b.companies and not a.companies & b.companies
    if a.language == b.language and days <= NEAR_DAYS and not conflict:
        shared = a.words & b.words
        if len(shared) >= MIN_SHARED_WORDS and len(shared) * 2 > max(len(a.words),
                                                                     len(b.words)):
            ratio = fuzz.token_set_ratio(a.text, b.text)
            if ratio >= TITLE_RATIO:
                return f"near-duplicate titles ({ratio:.0f})"
    if days > SUBJECT_DAYS:
        return None
    if a.effective and b.effective and a.effective != b.effective:
        return None
    if a.structural and b.structural and not a.structural & b.structural:
        return None  # a policy change and a fine about one company are two stories
    shared_topics = (a.structural & b.structural) | (a.kinds & b.kinds)
    if not shared_topics:
        return None
    companies = a.companies & b.companies
    if companies:
        return f"same organisation ({', '.join(sorted(companies))}), topic and days"
    if a.actors and a.actors == b.actors and not a.companies and not b.companies \
            and a.structural & b.structural and a.kinds & b.kinds:
        return f"same institution ({', '.join(sorted(a.actors))}), topic and days"
    return None


def cluster(articles: Sequence[StoredArticle], *,
            structural: Collection[str] = ()) -> list[list[StoredArticle]]:
    """Articles grouped by story; groups and their members keep the input order."""
    known = [facts(a, structural) for a in articles]
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(articles)), 2):
        if root(i) != root(j) and why_same(known[i], known[j]):
            parent[max(root(i), root(j))] = min(root(i), root(j))
    groups: dict[int, list[StoredArticle]] = {}
    for i, article in enumerate(articles):
        groups.setdefault(root(i), []).append(article)
    return list(groups.values())


def explain(a: StoredArticle, b: StoredArticle, *, structural: Iterable[str] = ()) -> str | None:
    """Why two articles count as one story (None: they don't); for tests and debugging."""
    kinds = set(structural)
    return why_same(facts(a, kinds), facts(b, kinds))

"""The keyword classifier: relevant or not, which topics, and the terms that say why.

Pure: text, language and the article's date in; a Classification out. How it decides
(README, "How classification works"):

1. The matcher finds every term of topics.yaml in the title and the summary.
2. A topic fires when its terms add up to its threshold (a term 1, a weak term 0.5, a term in
   the title `title_weight` times as much), or when one of its `when` signal combinations fires.
3. Relevance: each cue signal that fired adds its weight once (times `title_weight` when it is in
   the title; cues against relevance such as "review" or "deal" have negative weights), each
   topic adds `topic_weight` (up to `max_topic_bonus`). The article is relevant when the score
   reaches `threshold` AND one `require` combination fired: a policy change needs a policy and a
   change, regulation needs a regulator, action or law together with a privacy context.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.dates import effective_date
from bot.matcher import split_words
from bot.models import Classification
from bot.rules import ENTITY_KINDS, Rules

if TYPE_CHECKING:  # not imported at run time: parse workers get Rules alone (bot/worker.py)
    from bot.taxonomy import Taxonomy


def classify(title: str, summary: str, *, taxonomy: Taxonomy | Rules, language: str,
             published: date | None = None) -> Classification:
    rules = taxonomy if isinstance(taxonomy, Rules) else taxonomy.rules
    matcher, plans = rules.plan(language)
    # per topic and per cue (the two tables of `hits`): term id -> (weight x field factor,
    # surface), in order of first mention
    topic_hits: dict[str, dict[int, tuple[float, str]]] = {}
    signal_hits: dict[str, dict[int, tuple[float, str]]] = {}
    hits = (topic_hits, signal_hits)
    # organisations, regulators and laws (ENTITY_KINDS) named, in order of first mention
    names: tuple[dict[str, None], ...] = tuple({} for _ in ENTITY_KINDS)
    title_split, summary_split = split_words(title), split_words(summary)
    for split, factor in ((title_split, rules.title_weight), (summary_split, 1.0)):
        for term, surface, _ in matcher.scan(split):
            uses, entities = plans[term]
            for slot, name, weight in uses:
                table = hits[slot]
                value = weight * factor
                terms = table.get(name)
                if terms is None:
                    table[name] = {term: (value, surface)}
                    continue
                old = terms.get(term)
                if old is None or abs(old[0]) < abs(value):
                    terms[term] = (value, surface)
            for kind, name in entities:
                names[kind][name] = None
    # each cue counts once, with its strongest hit (the title's, for cues against too)
    signals = {name: _strongest(terms) for name, terms in signal_hits.items()}
    topics = _topics(rules, topic_hits, signals)
    bonus_topics = [t for t in topics if t not in rules.structural]
    score = sum(signals.values()) + min(rules.topic_weight * len(bonus_topics),
                                        rules.max_topic_bonus)
    relevant = score >= rules.threshold and _gate(rules.require, signals, topics, bonus_topics)
    text = f"{title}. {summary}"
    # effective_date splits at \w runs, the matcher at runs without "_": the same words then
    text_split = None if "_" in text else [*title_split[:-1],
                                           f"{title_split[-1]}. {summary_split[0]}",
                                           *summary_split[1:]]
    return Classification(
        language=language,
        relevant=relevant,
        score=round(score, 2),
        topics=tuple(topics),
        matches=_explain(topic_hits, signal_hits, topics, rules),
        orgs=tuple(names[0]),
        regulators=tuple(names[1]),
        laws=tuple(names[2]),
        effective_date=effective_date(text, published, text_split),
    )


def _strongest(terms: dict[int, tuple[float, str]]) -> float:
    if len(terms) == 1:  # the common case, without max's generator
        [(value, _)] = terms.values()
        return value
    return max((v for v, _ in terms.values()), key=abs)


def _gate(require: tuple[tuple[str, ...], ...], signals: dict[str, float], topics: list[str],
          bonus_topics: list[str]) -> bool:
    """Whether one `require` combination fired."""
    present = set(signals) | set(topics) | ({"topic"} if bonus_topics else set())
    return any(all(name in present for name in combo) for combo in require)


def _topics(rules: Rules, topic_hits: dict[str, dict[int, tuple[float, str]]],
            signals: dict[str, float]) -> list[str]:
    """The topics that fired, in the taxonomy's order. Only the topics with hits and those
    with `when` combinations are looked at, not all of them; loops, not generators (cheaper
    for the one or two terms and signals an article usually has)."""
    info = rules.topic_info
    fired: list[tuple[int, str]] = []
    for topic_id, terms in topic_hits.items():
        known = info.get(topic_id)
        if known is None:
            continue
        if len(terms) == 1:
            [(total, _)] = terms.values()
        else:
            total = sum(v for v, _ in terms.values())
        if total >= known[1]:
            fired.append((known[0], topic_id))
    if signals:
        for topic_id, (i, _, when) in rules.when_topics:
            if (i, topic_id) in fired:
                continue
            for combo in when:
                for name in combo:
                    if not signals.get(name, 0) > 0:
                        break
                else:
                    fired.append((i, topic_id))
                    break
    if len(fired) > 1:
        fired.sort()
    return [topic_id for _, topic_id in fired]


def _explain(topic_hits: dict[str, dict[int, tuple[float, str]]],
             signal_hits: dict[str, dict[int, tuple[float, str]]], topics: list[str],
             rules: Rules) -> dict[str, tuple[str, ...]]:
    """Per fired topic the terms as written; per relevance cue `cue: term`; cues against."""
    out: dict[str, tuple[str, ...]] = {}
    for topic_id in topics:
        terms = topic_hits.get(topic_id)
        if terms:
            out[topic_id] = _surfaces(terms)
        else:
            out[topic_id] = tuple(f"{' + '.join(c)}" for c in rules.when(topic_id)
                                  if all(s in signal_hits for s in c))
    pro: list[str] = []
    con: list[str] = []
    weights = rules.signal_weights
    for name, terms in signal_hits.items():
        side = con if weights[name] < 0 else pro
        for surface in _surfaces(terms):
            side.append(f"{name}: {surface}")
    out["relevance"] = tuple(pro)
    out["against"] = tuple(con)
    return out


def _surfaces(terms: dict[int, tuple[float, str]]) -> tuple[str, ...]:
    if len(terms) == 1:
        [(_, surface)] = terms.values()
        return (surface,)
    return tuple(dict.fromkeys(surface for _, surface in terms.values()))

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
from bot.models import Classification
from bot.rules import ENTITY_KINDS, Rules

if TYPE_CHECKING:  # not imported at run time: parse workers get Rules alone (bot/worker.py)
    from bot.taxonomy import Taxonomy


def classify(title: str, summary: str, *, taxonomy: Taxonomy | Rules, language: str,
             published: date | None = None) -> Classification:
    rules = taxonomy if isinstance(taxonomy, Rules) else taxonomy.rules
    matcher, uses = rules.matcher(language)
    # (kind, name) -> term id -> (weight x field factor, surface)
    found: dict[tuple[str, str], dict[int, tuple[float, str]]] = {}
    # organisations, regulators and laws named, in order of first mention
    names: dict[str, dict[str, None]] = {kind: {} for kind in ENTITY_KINDS}
    for text, field, factor in ((title, "title", rules.title_weight),
                                (summary, "summary", 1.0)):
        for hit in matcher.find(text, field):
            term = hit.term
            for use in uses[term]:
                terms = found.get(use.key)
                if terms is None:
                    terms = found[use.key] = {}
                value = use.weight * factor
                old = terms.get(term)
                if old is None or abs(old[0]) < abs(value):
                    terms[term] = (value, hit.surface)
                if use.kind in names:
                    names[use.kind].setdefault(use.name, None)
    # each cue counts once, with its strongest hit (the title's, for cues against too)
    signals = {name: max((v for v, _ in terms.values()), key=abs)
               for (kind, name), terms in found.items() if kind == "signal"}
    topics = _topics(rules, found, signals)
    bonus_topics = [t for t in topics if t not in rules.structural]
    score = sum(signals.values()) + min(rules.topic_weight * len(bonus_topics),
                                        rules.max_topic_bonus)
    relevant = score >= rules.threshold and _gate(rules.require, signals, topics, bonus_topics)
    return Classification(
        language=language,
        relevant=relevant,
        score=round(score, 2),
        topics=tuple(topics),
        matches=_explain(found, topics, rules),
        orgs=tuple(names["orgs"]),
        regulators=tuple(names["regulators"]),
        laws=tuple(names["laws"]),
        effective_date=effective_date(f"{title}. {summary}", published),
    )


def _gate(require: tuple[tuple[str, ...], ...], signals: dict[str, float], topics: list[str],
          bonus_topics: list[str]) -> bool:
    """Whether one `require` combination fired."""
    present = set(signals) | set(topics) | ({"topic"} if bonus_topics else set())
    return any(all(name in present for name in combo) for combo in require)


def _topics(rules: Rules, found: dict[tuple[str, str], dict[int, tuple[float, str]]],
            signals: dict[str, float]) -> list[str]:
    out = []
    for topic_id, key, threshold, when in rules.topics:
        terms = found.get(key)
        if (terms and sum(v for v, _ in terms.values()) >= threshold) or (
                when and signals and any(all(signals.get(s, 0) > 0 for s in combo)
                                         for combo in when)):
            out.append(topic_id)
    return out


def _explain(found: dict[tuple[str, str], dict[int, tuple[float, str]]], topics: list[str],
             rules: Rules) -> dict[str, tuple[str, ...]]:
    """Per fired topic the terms as written; per relevance cue `cue: term`; cues against."""
    out: dict[str, tuple[str, ...]] = {}
    for topic_id in topics:
        surfaces = _surfaces(found.get(("topic", topic_id), {}))
        if not surfaces:
            combos = rules.when(topic_id)
            surfaces = tuple(f"{' + '.join(c)}" for c in combos
                             if all(("signal", s) in found for s in c))
        out[topic_id] = surfaces
    pro: list[str] = []
    con: list[str] = []
    for (kind, name), terms in found.items():
        if kind != "signal":
            continue
        weight = rules.signal_weights[name]
        for surface in _surfaces(terms):
            (con if weight < 0 else pro).append(f"{name}: {surface}")
    out["relevance"] = tuple(pro)
    out["against"] = tuple(con)
    return out


def _surfaces(terms: dict[int, tuple[float, str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(surface for _, surface in terms.values()))

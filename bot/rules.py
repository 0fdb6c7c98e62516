"""The compiled form of the taxonomy: what classify reads for every article, and nothing else.

Plain data that pickles (the matchers included): a parse worker process gets it as it is,
without importing the YAML schema (pydantic) or compiling the terms again (bot/worker.py).
bot/taxonomy.py builds it from topics.yaml and feeds.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.matcher import Matcher

ENTITY_KINDS = ("orgs", "regulators", "laws")


@dataclass(frozen=True, slots=True)
class Use:
    """What a matched term counts for: ('topic', id), ('signal', name) or an entity."""

    kind: str
    name: str
    weight: float
    key: tuple[str, str] = field(init=False, repr=False, compare=False)  # (kind, name)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.kind, self.name))


# (topic id, its key in classify's table of hits, threshold, `when` signal combinations)
TopicRule = tuple[str, tuple[str, str], float, tuple[tuple[str, ...], ...]]
# What a matched term counts for, as classify's inner loop reads it: (0 topic | 1 signal, name,
# weight) per use, and the organisations, regulators and laws it names as (position of the
# kind in ENTITY_KINDS, name).
TermPlan = tuple[tuple[tuple[int, str, float], ...], tuple[tuple[int, str], ...]]


@dataclass(frozen=True)
class Rules:
    """Matchers per language group, the relevance settings, and per topic and cue what
    classify needs (README, "How classification works")."""

    matchers: dict[str, tuple[Matcher, list[list[Use]]]]
    topics: list[TopicRule]          # in the taxonomy's order
    structural: frozenset[str]       # topics about the act, not the kind of data
    signal_weights: dict[str, float]
    require: tuple[tuple[str, ...], ...]
    threshold: float
    title_weight: float
    topic_weight: float
    max_topic_bonus: float
    # Derived from the above in __post_init__ (pickled with them): per language group a
    # TermPlan per term id; per topic id its (position, threshold, `when`), and the topics
    # that have a `when`. classify reads plain tuples instead of Use attributes and looks only
    # at the topics with hits: measured 4-11% less CPU per article.
    plans: dict[str, list[TermPlan]] = field(init=False, repr=False, compare=False)
    topic_info: dict[str, tuple[int, float, tuple[tuple[str, ...], ...]]] = field(
        init=False, repr=False, compare=False)
    when_topics: tuple[tuple[str, tuple[int, float, tuple[tuple[str, ...], ...]]], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plans = {group: [_plan(term_uses) for term_uses in uses]
                 for group, (_, uses) in self.matchers.items()}
        object.__setattr__(self, "plans", plans)
        info = {t: (i, threshold, when) for i, (t, _, threshold, when) in enumerate(self.topics)}
        object.__setattr__(self, "topic_info", info)
        object.__setattr__(self, "when_topics",
                           tuple((t, i) for t, i in info.items() if i[2]))

    def plan(self, language: str) -> tuple[Matcher, list[TermPlan]]:
        group = "en" if language == "en" else "nl"
        return self.matchers[group][0], self.plans[group]

    def when(self, topic: str) -> tuple[tuple[str, ...], ...]:
        return next((w for t, _, _, w in self.topics if t == topic), ())


def _plan(uses: list[Use]) -> TermPlan:
    slots = {"topic": 0, "signal": 1}
    return (tuple((slots[u.kind], u.name, u.weight) for u in uses if u.kind in slots),
            tuple((ENTITY_KINDS.index(u.kind), u.name) for u in uses if u.kind in ENTITY_KINDS))

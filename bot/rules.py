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

    def matcher(self, language: str) -> tuple[Matcher, list[list[Use]]]:
        return self.matchers["en" if language == "en" else "nl"]

    def when(self, topic: str) -> tuple[tuple[str, ...], ...]:
        return next((w for t, _, _, w in self.topics if t == topic), ())

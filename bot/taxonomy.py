"""Topics, relevance cues and named entities: YAML in, compiled matchers out.

The packaged `topics.yaml` beside this file is the default; feeds.yaml may add terms to a
topic, replace them, or add a topic of its own (README, "Tweak the feeds"). Topic ids are a
contract (shared/taxonomy.md): configs, the `classify` output and tests use them exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass as schema

from bot.errors import ConfigError
from bot.matcher import Matcher, TermError, parse_term
from bot.rules import ENTITY_KINDS, Rules, Use

__all__ = ["ENTITY_KINDS", "Labels", "Taxonomy", "TaxonomySpec", "Terms", "TopicOverride",
           "TopicSpec", "Use", "load_taxonomy", "parse_taxonomy"]

_STRICT = ConfigDict(extra="forbid")


@schema(config=_STRICT, frozen=True)
class Terms:
    """Terms per language: `nl` apply to Dutch texts, `en` to both (Dutch tech news borrows
    English freely), `all` to every text."""

    nl: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    all: tuple[str, ...] = ()

    def items(self) -> Iterator[tuple[str, str]]:
        for lang in ("nl", "en", "all"):
            for term in getattr(self, lang):
                yield term, lang


@schema(config=_STRICT, frozen=True)
class Labels:
    nl: str
    en: str


@schema(config=_STRICT, frozen=True)
class TopicSpec:
    label: Labels
    emoji: str = "•"
    terms: Terms = Terms()
    weak: Terms = Terms()           # each counts half: two weak terms or one in the title fire
    when: tuple[tuple[str, ...], ...] = ()  # signal combinations that also make it fire
    threshold: float = 1.0
    structural: bool = False        # about the act (law, fine, change), not the kind of data


@schema(config=_STRICT, frozen=True)
class SignalSpec:
    weight: float
    terms: Terms = Terms()
    entities: str | None = None     # orgs | regulators | laws: their names fire this signal


@schema(config=_STRICT, frozen=True)
class RelevanceSpec:
    require: tuple[tuple[str, ...], ...]
    threshold: float = 3.0
    title_weight: float = 2.0
    topic_weight: float = 0.5
    max_topic_bonus: float = 1.5


@schema(config=_STRICT, frozen=True)
class TaxonomySpec:
    version: int
    topics: Mapping[str, TopicSpec]
    signals: Mapping[str, SignalSpec]
    relevance: RelevanceSpec
    orgs: Mapping[str, Terms] = Field(default_factory=dict)
    regulators: Mapping[str, Terms] = Field(default_factory=dict)
    laws: Mapping[str, Terms] = Field(default_factory=dict)


@schema(config=_STRICT, frozen=True)
class TopicOverride:
    """A topic entry in feeds.yaml: adds terms to a packaged topic, or defines a new one."""

    label: Labels | None = None
    emoji: str | None = None
    terms: Terms = Terms()
    weak: Terms = Terms()
    replace: bool = False  # true: these terms replace the packaged ones


@dataclass(frozen=True)
class Taxonomy:
    """The topics as configured (labels, emoji, terms) and `rules`, their compiled form that
    classify reads."""

    spec: TaxonomySpec
    topics: dict[str, TopicSpec]
    rules: Rules

    def label(self, topic: str, language: str) -> str:
        spec = self.topics.get(topic)
        if spec is None:
            return topic
        return spec.label.en if language == "en" else spec.label.nl


@functools.cache
def _packaged() -> TaxonomySpec:
    text = resources.files("bot").joinpath("topics.yaml").read_text(encoding="utf-8")
    return parse_taxonomy(yaml.safe_load(text), "topics.yaml")


def parse_taxonomy(data: Any, name: str) -> TaxonomySpec:
    try:
        return TypeAdapter(TaxonomySpec).validate_python(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(str(err["msg"]).removeprefix("Value error, "), file=name,
                          key=key) from None


def load_taxonomy(overrides: Mapping[str, TopicOverride] | None = None,
                  spec: TaxonomySpec | None = None) -> Taxonomy:
    """The packaged taxonomy with feeds.yaml's topic overrides applied, compiled."""
    spec = spec or _packaged()
    topics = dict(spec.topics)
    for topic_id, override in (overrides or {}).items():
        base = topics.get(topic_id)
        if base is None:
            label = override.label or Labels(nl=topic_id, en=topic_id)
            topics[topic_id] = TopicSpec(label=label, emoji=override.emoji or "•",
                                         terms=override.terms, weak=override.weak)
            continue
        terms, weak = override.terms, override.weak
        if not override.replace:
            terms = _merge(base.terms, terms)
            weak = _merge(base.weak, weak)
        topics[topic_id] = TopicSpec(label=override.label or base.label,
                                     emoji=override.emoji or base.emoji, terms=terms, weak=weak,
                                     when=base.when, threshold=base.threshold,
                                     structural=base.structural)
    _check_references(spec, topics)
    rel = spec.relevance
    rules = Rules(
        matchers={group: _compile(spec, topics, group) for group in ("nl", "en")},
        topics=[(topic_id, ("topic", topic_id), t.threshold, t.when)
                for topic_id, t in topics.items()],
        structural=frozenset(topic_id for topic_id, t in topics.items() if t.structural),
        signal_weights={name: signal.weight for name, signal in spec.signals.items()},
        require=rel.require, threshold=rel.threshold, title_weight=rel.title_weight,
        topic_weight=rel.topic_weight, max_topic_bonus=rel.max_topic_bonus)
    return Taxonomy(spec=spec, topics=topics, rules=rules)


def _merge(a: Terms, b: Terms) -> Terms:
    return Terms(nl=a.nl + b.nl, en=a.en + b.en, all=a.all + b.all)


def _check_references(spec: TaxonomySpec, topics: Mapping[str, TopicSpec]) -> None:
    known = set(spec.signals) | set(topics) | {"topic"}
    for topic_id, topic in topics.items():
        for combo in topic.when:
            for name in combo:
                if name not in spec.signals:
                    raise ConfigError(f"'when' names unknown signal {name!r}", key=topic_id)
    for combo in spec.relevance.require:
        for name in combo:
            if name not in known:
                raise ConfigError(f"relevance.require names unknown {name!r}", key="relevance")
    for name, signal in spec.signals.items():
        if signal.entities and signal.entities not in ENTITY_KINDS:
            raise ConfigError(f"entities must be one of {ENTITY_KINDS}", key=f"signals.{name}")


def _compile(spec: TaxonomySpec, topics: Mapping[str, TopicSpec],
             group: str) -> tuple[Matcher, list[list[Use]]]:
    """One matcher for a language group; a term used by several topics is compiled once."""
    langs = {"nl", "en", "all"} if group == "nl" else {"en", "all"}
    # a term listed for several languages is one term (matched with each one's stemmer):
    # otherwise it would count twice on a Dutch text
    index: dict[str, int] = {}
    term_langs: list[set[str]] = []
    uses: list[list[Use]] = []

    def add(terms: Terms, use: Use, where: str) -> None:
        for term, lang in terms.items():
            if lang not in langs:
                continue
            try:
                parse_term(term, lang)
            except TermError as exc:
                raise ConfigError(str(exc), key=where) from None
            if term not in index:
                index[term] = len(uses)
                uses.append([])
                term_langs.append(set())
            term_langs[index[term]].add(lang)
            if use not in uses[index[term]]:
                uses[index[term]].append(use)

    for topic_id, topic in topics.items():
        add(topic.terms, Use("topic", topic_id, 1.0), topic_id)
        add(topic.weak, Use("topic", topic_id, 0.5), topic_id)
    for name, signal in spec.signals.items():
        add(signal.terms, Use("signal", name, signal.weight), f"signals.{name}")
    for kind in ENTITY_KINDS:
        feeds = [n for n, s in spec.signals.items() if s.entities == kind]
        for canonical, aliases in getattr(spec, kind).items():
            add(aliases, Use(kind, canonical, 1.0), f"{kind}.{canonical}")
            for signal_name in feeds:
                add(aliases, Use("signal", signal_name, spec.signals[signal_name].weight),
                    f"{kind}.{canonical}")
    terms = [(term, next(iter(ls)) if len(ls) == 1 else "all")
             for term, ls in zip(index, term_langs, strict=True)]
    return Matcher(terms), uses

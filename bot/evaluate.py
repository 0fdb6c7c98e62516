"""Measure the classifier on a labeled JSON-lines file (`python -m bot eval FILE`).

Each line: title, summary, language, relevant, topics (and optionally published, orgs,
regulators, laws, effective_date). Language is detected, not read from the label, so language
accuracy is measured too. Pure apart from reading the file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.classify import classify
from bot.language import detect
from bot.models import Classification
from bot.taxonomy import Taxonomy


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        self.tp += predicted and actual
        self.fp += predicted and not actual
        self.fn += actual and not predicted

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    items: int = 0
    relevance: dict[str, Scores] = field(default_factory=dict)
    topics: dict[str, Scores] = field(default_factory=dict)
    language_correct: int = 0
    effective_dates: Scores = field(default_factory=Scores)
    errors: list[tuple[dict[str, Any], Classification, list[str]]] = field(default_factory=list)

    @property
    def topic_micro(self) -> Scores:
        total = Scores()
        for s in self.topics.values():
            total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
        return total

    @property
    def language_accuracy(self) -> float:
        return self.language_correct / self.items if self.items else 1.0


def load_items(path: Path) -> list[dict[str, Any]]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON: {exc}") from None
    return items


def evaluate(items: Iterable[dict[str, Any]], taxonomy: Taxonomy) -> Report:
    report = Report()
    for item in items:
        title, summary = item.get("title", ""), item.get("summary", "")
        language = detect(f"{title}. {summary}")
        published = date.fromisoformat(item["published"][:10]) if item.get("published") else None
        result = classify(title, summary, taxonomy=taxonomy, language=language,
                          published=published)
        report.items += 1
        actual_lang = item.get("language", "other")
        report.language_correct += language == actual_lang
        report.relevance.setdefault(actual_lang, Scores()).add(result.relevant,
                                                               bool(item["relevant"]))
        problems = []
        if result.relevant != bool(item["relevant"]):
            problems.append("relevance")
        expected = set(item.get("topics", ()))
        for topic in set(taxonomy.topics) | expected:
            report.topics.setdefault(topic, Scores()).add(topic in result.topics,
                                                          topic in expected)
        if set(result.topics) != expected:
            problems.append("topics")
        if "effective_date" in item:
            want = item["effective_date"]
            got = result.effective_date.isoformat() if result.effective_date else None
            report.effective_dates.add(got is not None and got == want, want is not None)
            if got != want and item["relevant"]:
                problems.append("effective_date")
        if language != actual_lang:
            problems.append("language")
        if problems:
            report.errors.append((item, result, problems))
    return report


def format_report(report: Report, *, show_errors: bool = True,
                  topic_order: Sequence[str] = ()) -> str:
    lines = [f"{report.items} items", "", "Relevance        precision  recall     F1   (tp/fp/fn)"]
    for lang in sorted(report.relevance):
        lines.append(_row(lang, report.relevance[lang]))
    total = Scores()
    for s in report.relevance.values():
        total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
    lines.append(_row("all", total))
    lines += ["", "Topic            precision  recall     F1   (tp/fp/fn)"]
    order = [t for t in topic_order if t in report.topics] + sorted(
        t for t in report.topics if t not in topic_order)
    for topic in order:
        lines.append(_row(topic, report.topics[topic]))
    lines.append(_row("micro", report.topic_micro))
    lines += ["", f"Language accuracy  {report.language_accuracy:.3f} "
                  f"({report.language_correct}/{report.items})",
              _row("Effective dates", report.effective_dates)]
    if show_errors and report.errors:
        kinds = Counter(p for _, _, probs in report.errors for p in probs)
        lines += ["", f"Misclassified ({', '.join(f'{k} {v}' for k, v in kinds.items())}):"]
        for item, result, problems in report.errors:
            lines.append(_error(item, result, problems))
    return "\n".join(lines)


def _row(name: str, s: Scores) -> str:
    return (f"{name:<16} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}   "
            f"({s.tp}/{s.fp}/{s.fn})")


def _error(item: dict[str, Any], result: Classification, problems: list[str]) -> str:
    want = "relevant" if item["relevant"] else "not relevant"
    got = "relevant" if result.relevant else "not relevant"
    out = [f"- [{item.get('id', '?')}] {item.get('title', '')}",
           f"    {', '.join(problems)}: expected {want}, got {got} (score {result.score})"]
    if "topics" in problems:
        expected = set(item.get("topics", ()))
        missing = sorted(expected - set(result.topics))
        extra = sorted(set(result.topics) - expected)
        out.append(f"    topics: missing {missing or '-'}, extra {extra or '-'}")
    if "language" in problems:
        out.append(f"    language: expected {item.get('language')}, got {result.language}")
    if "effective_date" in problems:
        out.append(f"    effective date: expected {item.get('effective_date')}, "
                   f"got {result.effective_date}")
    for key, terms in result.matches.items():
        if terms:
            out.append(f"    {key}: {'; '.join(terms)}")
    return "\n".join(out)

"""Classifier throughput on one core, side by side with langdetect alone.

    python bench/classify.py [--articles 20000] [--seed 1]

Generates articles by recombining titles and summary sentences of the labeled dev sets
(tests/data/devset-*.jsonl) within each language, then times on the same texts, in one run:

  1. classify with the language given (a feed that declares it),
  2. classify with language detection (bot.language: restricted profiles, seeded, one trial),
  3. langdetect alone with its defaults (all 55 profiles, seven trials): the yardstick.

Prints articles per second, microseconds per article, the ratios, and language accuracy of
the detector on the generated texts (their language is known). Single process, single thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import langdetect

from bot import language
from bot.classify import classify
from bot.taxonomy import load_taxonomy

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def generate(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(title, summary, language): titles and summary sentences shuffled within a language."""
    rng = random.Random(seed)
    pools: dict[str, tuple[list[str], list[str]]] = {}
    for path in sorted(DATA.glob("devset-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            titles, sentences = pools.setdefault(item["language"], ([], []))
            titles.append(item["title"])
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", item["summary"]) if s]
    langs = sorted(pools)
    out = []
    for i in range(n):
        lang = langs[i % len(langs)]
        titles, sentences = pools[lang]
        summary = " ".join(rng.sample(sentences, rng.randint(1, 3)))
        out.append((rng.choice(titles), summary, lang))
    return out


def timed(label: str, fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    fn()
    seconds = time.process_time() - start
    print(f"{label:<44} {n / seconds:>9,.0f} articles/s  {seconds / n * 1e6:>8,.0f} µs/article"
          f"  ({seconds:.2f} s CPU)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    articles = generate(args.articles, args.seed)
    n = len(articles)
    taxonomy = load_taxonomy()
    classify("warm-up", "", taxonomy=taxonomy, language="nl")
    language.detect("warm-up text for the profiles")
    langdetect.DetectorFactory.seed = 0
    langdetect.detect("warm-up text for the profiles")
    print(f"{n:,} generated articles ({sum(a[2] == 'nl' for a in articles):,} Dutch, "
          f"{sum(a[2] == 'en' for a in articles):,} English), one core\n")

    def declared() -> None:
        for title, summary, lang in articles:
            classify(title, summary, taxonomy=taxonomy, language=lang)

    detected: list[str] = []

    def with_detection() -> None:
        for title, summary, _ in articles:
            lang = language.detect(f"{title}. {summary}")
            detected.append(lang)
            classify(title, summary, taxonomy=taxonomy, language=lang)

    def langdetect_alone() -> None:
        for title, summary, _ in articles:
            with contextlib.suppress(langdetect.LangDetectException):
                langdetect.detect(f"{title}. {summary}")

    t_declared = timed("classify, language declared", declared, n)
    t_detect = timed("classify + language detection (bot.language)", with_detection, n)
    t_lang = timed("langdetect alone, defaults (55 profiles)", langdetect_alone, n)
    accuracy = sum(d == a[2] for d, a in zip(detected, articles, strict=True)) / n
    print(f"\nclassify + detection is {t_lang / t_detect:.1f}x faster than langdetect alone "
          f"(target >= 5x)")
    print(f"classify with a declared language is {t_lang / t_declared:.1f}x faster than "
          f"langdetect alone")
    print(f"language accuracy of bot.language on these texts: {accuracy:.4f} (target >= 0.99)")


if __name__ == "__main__":
    main()

"""Language detection: the declared language is trusted; otherwise deterministic langdetect
among the languages that matter, and anything else is 'other'."""

from __future__ import annotations

from bot.language import declared, detect


def test_declared_language_wins():
    assert detect("This is clearly English text about privacy.", declared_language="nl-NL") == "nl"
    assert declared("en_US") == "en" and declared("de-DE") == "other" and declared("") is None


def test_dutch_and_english_are_told_apart():
    assert detect("De Autoriteit Persoonsgegevens legt het bedrijf een boete op.") == "nl"
    assert detect("The regulator fined the company for selling location data.") == "en"


def test_other_languages_are_other():
    assert detect("Die Datenschutzbehörde verhängt ein Bußgeld gegen das Unternehmen.") == "other"
    assert detect("La CNIL inflige une amende à la société pour ses cookies.") == "other"
    assert detect("?!") == "other"


def test_detection_is_deterministic():
    text = "Meta gaat openbare berichten gebruiken om AI te trainen"
    assert len({detect(text) for _ in range(20)}) == 1


def test_fast_detector_matches_langdetect_exactly():
    """The rewritten loops give langdetect's own n-grams and probabilities."""
    import json
    from pathlib import Path

    from langdetect.detector import Detector

    from bot.language import _create, _factory

    data = Path(__file__).parent / "data"
    texts = [f"{i['title']}. {i['summary']}" for p in sorted(data.glob("devset-*.jsonl"))
             for i in map(json.loads, p.read_text(encoding="utf-8").splitlines())]
    texts += ["ÅNGSTRÖM   and  URLs https://example.org/x mail me@example.org",
              "Ελληνικά κείμενα with some Latin", "  leading spaces", "ABC DEF ghi JKLm"]
    for text in texts:
        ours, stock = _create(), Detector(_factory())
        stock.n_trial, stock.max_text_length = ours.n_trial, ours.max_text_length
        ours.append(text)
        stock.append(text)
        assert ours.text == stock.text
        ours.cleaning_text()
        stock.cleaning_text()
        assert ours.text == stock.text
        assert ours._extract_ngrams() == stock._extract_ngrams()
        assert [(p.lang, p.prob) for p in ours.get_probabilities()] == \
            [(p.lang, p.prob) for p in stock.get_probabilities()]

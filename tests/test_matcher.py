"""The term syntax of topics.yaml, matched in one pass over the words."""

from __future__ import annotations

import pytest

from bot.matcher import Matcher, TermError, parse_term


def find(terms: list[str], text: str, lang: str = "nl") -> list[str]:
    matcher = Matcher([(t, lang) for t in terms])
    return [terms[h.term] for h in matcher.find(text, "title")]


def test_plain_term_matches_its_inflections():
    assert find(["policy"], "Two new policies and one policy", "en") == ["policy", "policy"]
    assert find(["boete"], "De boetes lopen op") == ["boete"]


def test_prefix_suffix_and_infix_wildcards():
    assert find(["vingerafdruk*"], "Vingerafdrukscanners op de bouwplaats") == ["vingerafdruk*"]
    assert find(["*herkenning"], "Gezichtsherkenning bij de ingang") == ["*herkenning"]
    assert find(["*herkenning*"], "gezichtsherkenningssoftware") == ["*herkenning*"]
    assert find(["vingerafdruk*"], "een afdruk van de vinger") == []


def test_exact_word_without_inflection():
    assert find(["=wet"], "De nieuwe wet geldt vanaf mei") == ["=wet"]
    assert find(["=wet"], "We weten het niet") == []


def test_capitals_must_match():
    assert find(["AP"], "De AP beboet") == ["AP"]
    assert find(["AP"], "Een ap-plicatie") == []
    assert find(["DPA"], "Several DPAs agree", "en") == ["DPA"]


def test_phrases_hyphens_and_gaps():
    assert find(["privacy policy"], "its privacy-policy changed", "en") == ["privacy policy"]
    assert find(["past ... aan"], "Meta past zijn privacybeleid voor Europa aan") == \
        ["past ... aan"]
    assert find(["past ... aan"], "Meta past niets in de verste verte van het beleid aan") == []


def test_accents_are_folded():
    assert find(["patient*"], "Patiënten krijgen inzage") == ["patient*"]


def test_overlapping_terms_all_count():
    found = find(["privacy", "privacy policy", "policy"], "new privacy policy", "en")
    assert sorted(found) == ["policy", "privacy", "privacy policy"]


@pytest.mark.parametrize("term", ["", "...", "a ...", "*x*", "=wet*", "*GDPR", "hé!"])
def test_bad_terms_are_refused(term):
    with pytest.raises(TermError):
        parse_term(term, "nl")


def test_suffix_terms_are_literal_and_inflect_only_after_a_compound():
    assert find(["*wet"], "De Telecommunicatiewet en de wet") == ["*wet", "*wet"]
    assert find(["*wet"], "We weten het niet") == []          # weten is not wet + en
    assert find(["*herkenning"], "Twee gezichtsherkenningen") == ["*herkenning"]
    assert find(["*gegevens"], "Zij geven niets") == []         # the stem of gegevens is geven

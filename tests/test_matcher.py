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


def test_split_words_puts_the_words_between_what_separates_them():
    import re

    from bot.matcher import WORD_RE, split_words
    for text in ["", "Meta's privacy-policy, per 1 mei.", "a_b  c\n", "Patiënten__krijgen 2x",
                 "".join(chr(c) for c in range(128))]:
        parts = split_words(text)
        assert "".join(parts) == text
        assert parts[1::2] == WORD_RE.findall(text)
    # the faster pattern for ASCII texts finds the same words as the Unicode one
    for c in map(chr, range(128)):
        assert bool(re.fullmatch("[0-9A-Za-z]", c)) == bool(WORD_RE.fullmatch(c))


def test_a_phrase_surface_is_the_text_it_spans_with_spaces_made_one():
    matcher = Matcher([("past ... aan", "nl"), ("privacy policy", "en")])
    hits = matcher.find("Meta past  zijn\nbeleid aan; de privacy-policy", "title")
    assert [(h.term, h.surface, h.start) for h in hits] == [
        (0, "past zijn beleid aan", 1), (1, "privacy-policy", 6)]


def test_a_pickled_matcher_finds_the_same_without_the_words_seen():
    import pickle

    matcher = Matcher([("privacy", "en"), ("privacy policy", "en"), ("*wet", "nl")])
    text = "New privacy policy and the Telecommunicatiewet"
    before = matcher.find(text, "title")
    copy = pickle.loads(pickle.dumps(matcher))
    assert not copy._starts
    assert copy.find(text, "title") == before

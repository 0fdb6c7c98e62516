"""The keyword classifier: relevance, topics, names, effective dates, and why."""

from __future__ import annotations

from datetime import date

import pytest

from bot.classify import classify
from bot.dates import effective_date
from bot.language import detect
from bot.taxonomy import Labels, Terms, TopicOverride, load_taxonomy

TAXONOMY = load_taxonomy()

# Our own Dutch write-up of the facts in shared/seed/ (the story the bot exists for).
MOTIVATING_TITLE = ("X past privacybeleid aan: platform mag biometrische gegevens en "
                    "werkgeschiedenis verzamelen")
MOTIVATING_SUMMARY = (
    "Het socialemediaplatform X heeft zijn privacyvoorwaarden gewijzigd. Met toestemming van "
    "gebruikers mag het bedrijf voortaan biometrische gegevens vastleggen en gebruiken voor "
    "veiligheid, beveiliging en identificatie. Daarnaast wil X de werk- en "
    "opleidingsgeschiedenis van gebruikers bijhouden om vacatures aan te bevelen en te delen "
    "met werkgevers waarbij iemand solliciteert. De nieuwe regels gaan op 29 september in.")


def run(title: str, summary: str = "", published: date | None = date(2025, 6, 20),
        language: str | None = None):
    lang = language or detect(f"{title}. {summary}")
    return classify(title, summary, taxonomy=TAXONOMY, language=lang, published=published)


def test_motivating_dutch_article_is_relevant_with_its_topics_org_and_date():
    result = run(MOTIVATING_TITLE, MOTIVATING_SUMMARY, published=date(2025, 6, 18))
    assert result.language == "nl"
    assert result.relevant
    assert {"biometrics", "employment-data", "policy-change"} <= set(result.topics)
    assert "X" in result.orgs
    assert result.effective_date == date(2025, 9, 29)
    # and it explains itself
    assert any(t.startswith("biometrisch") for t in result.matches["biometrics"])
    assert result.matches["relevance"]


@pytest.mark.parametrize("title", [
    "Politie zet gezichtsherkenningssoftware in bij demonstraties",    # compound in the middle
    "Bouwbedrijf installeert vingerafdrukscanners op bouwplaatsen",     # compound head + plural
    "Nieuwe regels voor biometrie in de AVG-uitvoeringswet",
])
def test_dutch_compounds_find_biometrics(title):
    assert "biometrics" in run(title, language="nl").topics


@pytest.mark.parametrize(("title", "topic"), [
    ("Meta updates its privacy policies for Instagram users", "policy-change"),
    ("Regulator fined the retailer over facial-recognition cameras", "biometrics"),
    ("Google updated its privacy policy to cover Gemini training data", "ai-training"),
    ("Bank wijzigt algemene voorwaarden: locatiegegevens worden gedeeld met derden",
     "data-sharing"),
])
def test_inflections_and_phrases_match(title, topic):
    assert topic in run(title).topics


def test_words_between_the_parts_of_a_phrase():
    result = run("TikTok past per direct zijn privacyvoorwaarden opnieuw aan", language="nl")
    assert "policy-change" in result.topics and result.relevant


@pytest.mark.parametrize("title", [
    "Review: Pixel 10 Pro heeft snelle gezichtsherkenning en een privacyscherm",
    "Black Friday-deal: deze VPN-dienst beschermt je privacy voor 2 euro per maand",
    "Hands-on with the new iPhone: Face ID and better privacy features",
    "Critical vulnerability in router firmware leaks users' personal data",
    "Datalek bij webwinkel: gegevens van 200.000 klanten op straat",
])
def test_cues_against_relevance_win_over_privacy_words(title):
    result = run(title)
    assert not result.relevant, result.matches
    assert result.matches["against"] or result.score < TAXONOMY.spec.relevance.threshold


def test_a_breach_becomes_relevant_when_the_regulator_steps_in():
    assert not run("Datalek bij zorgverzekeraar treft miljoen klanten").relevant
    result = run("Autoriteit Persoonsgegevens start onderzoek naar datalek bij zorgverzekeraar")
    assert result.relevant and "Autoriteit Persoonsgegevens" in result.regulators


def test_regulatory_news_without_the_word_privacy_is_relevant():
    result = run("Irish regulator fines TikTok €530 million over data transfers to China",
                 "The Data Protection Commission says European users' data was accessible "
                 "to staff in China.")
    assert result.relevant
    assert "enforcement" in result.topics and "data-sharing" in result.topics
    assert "DPC" in result.regulators and "TikTok" in result.orgs


def test_title_weighs_more_than_the_summary():
    in_title = run("WhatsApp wijzigt privacyvoorwaarden", "Het gaat om kleine aanpassingen.")
    in_summary = run("WhatsApp krijgt nieuwe functie", "Ook de privacyvoorwaarden wijzigen.")
    assert in_title.score > in_summary.score


def test_aliases_resolve_to_one_organisation():
    result = run("Twitter and Instagram change their terms", language="en")
    assert set(result.orgs) == {"X", "Meta"}
    result = run("De AVG geldt ook voor Facebook", language="nl")
    assert result.laws == ("GDPR",) and result.orgs == ("Meta",)


def test_capitalised_names_need_their_capitals():
    assert "X" not in run("Sony launches the x-series of headphones", language="en").orgs
    assert "Meta" not in run("Lees de metadata van je foto's", language="nl").orgs
    assert "Autoriteit Persoonsgegevens" not in run(
        "AP reports that the bill passed the Senate", language="en").regulators


@pytest.mark.parametrize(("text", "published", "expected"), [
    ("De nieuwe regels worden pas op 29 september actief.", date(2025, 6, 20),
     date(2025, 9, 29)),
    ("Het beleid gaat op 1 januari in.", date(2025, 11, 3), date(2026, 1, 1)),
    ("De wet treedt op 25 mei in werking.", date(2017, 12, 1), date(2018, 5, 25)),
    ("Vanaf 15 mei kunnen gebruikers bezwaar maken.", date(2024, 4, 2), date(2024, 5, 15)),
    ("Met ingang van 2 augustus 2026 gelden de regels voor AI.", date(2024, 7, 12),
     date(2026, 8, 2)),
    ("The updated policy takes effect on September 29.", date(2025, 6, 20), date(2025, 9, 29)),
    ("The law will go into effect Sept. 29, 2026.", date(2025, 3, 1), date(2026, 9, 29)),
    ("Starting March 1, users can opt out.", date(2025, 12, 10), date(2026, 3, 1)),
    ("The rules come into force on 2 August.", date(2025, 5, 1), date(2025, 8, 2)),
    ("Apple announced the iPhone on September 9.", date(2025, 9, 10), None),
    ("De update verscheen op 12 maart.", date(2025, 3, 14), None),
])
def test_effective_date_in_dutch_and_english(text, published, expected):
    assert run("Privacybeleid", text, published=published).effective_date == expected


def test_non_relevant_article_may_still_carry_topics():
    result = run("Review: deze deurbel herkent gezichten met gezichtsherkenning", language="nl")
    assert not result.relevant and "biometrics" in result.topics


def test_classification_is_deterministic():
    first = run(MOTIVATING_TITLE, MOTIVATING_SUMMARY)
    assert all(run(MOTIVATING_TITLE, MOTIVATING_SUMMARY) == first for _ in range(5))


def test_a_term_listed_for_both_languages_counts_once():
    # a weak term (0.5) listed under nl and en must not reach a topic's threshold of 1 alone
    taxonomy = load_taxonomy({"meters": TopicOverride(
        label=Labels(nl="Slimme meters", en="Smart meters"),
        weak=Terms(nl=("slimme meter",), en=("slimme meter",)))})
    result = classify("Netbeheerder", "Hij leest de slimme meter uit.", taxonomy=taxonomy,
                      language="nl")
    assert "meters" not in result.topics


def test_a_cue_against_counts_with_its_strongest_hit():
    # 'review' in the title (-3 x title weight) must not be hidden by one in the summary
    title_only = run("Review: nieuwe privacyvoorwaarden van WhatsApp", "", language="nl")
    both = run("Review: nieuwe privacyvoorwaarden van WhatsApp", "In deze review...",
               language="nl")
    assert both.score == title_only.score


def test_rules_sent_to_a_worker_process_classify_the_same():
    """Parse worker processes get the compiled rules pickled (matchers included) and import
    neither the YAML schema nor asyncio; what they classify is what the parent would."""
    import json
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    rules = pickle.loads(pickle.dumps(TAXONOMY.rules))
    texts = [(MOTIVATING_TITLE, MOTIVATING_SUMMARY, "nl")]
    for path in sorted((Path(__file__).parent / "data").glob("devset-*.jsonl"))[:2]:
        for line in path.read_text(encoding="utf-8").splitlines()[:40]:
            item = json.loads(line)
            texts.append((item["title"], item["summary"], item["language"]))
    for title, summary, lang in texts:
        assert classify(title, summary, taxonomy=rules, language=lang,
                        published=date(2025, 9, 1)) == \
            classify(title, summary, taxonomy=TAXONOMY, language=lang,
                     published=date(2025, 9, 1))
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.worker; print(sorted(m for m in "
         "('pydantic', 'yaml', 'asyncio', 'bot.taxonomy') if m in sys.modules))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("text", [
    "De regels gaan op 31 februari in, en gaan vanaf 2 maart 2026 echt in.",  # first one invalid
    "ſtart 1 May: the \u212aicks in 2 June",  # words re.IGNORECASE folds (long s, Kelvin sign)
    "İs 3 mei; dit_is 4 mei; effect_ive 5 mei",             # underscores join words
    "takes effect on 1september or from mei2026 or as of\n  29 Sept., 2027",
    "De update verscheen op 12 maart.",
    "Op 1 juni 2026 gaan de nieuwe regels in werking",
    "from from from 7 oktober",
])
def test_effective_date_finds_what_a_search_of_the_whole_text_finds(text):
    """effective_date tries its patterns only at the words they can start at (bot/dates.py);
    a plain finditer over the text must find the same date, with and without the words
    split beforehand as classify passes them."""
    from bot import dates

    def reference(text, published):
        if not any(c.isdigit() for c in text) or not dates._has_month(text):
            return None
        for rx in (dates._BEFORE_RE, dates._AFTER_RE):
            for m in rx.finditer(text):
                found = dates._resolve(m, published)
                if found:
                    return found
        return None

    published = date(2025, 6, 20)
    expected = reference(text, published)
    assert dates.effective_date(text, published) == expected
    assert dates.effective_date(text, published, dates._RUNS.split(text)) == expected
    title, _, summary = text.partition(" ")
    assert run(title, summary, published, "nl").effective_date == \
        reference(f"{title}. {summary}", published)


@pytest.mark.parametrize("text, expected", [
    ("The rules take effect on 1 ſeptember, not on October 5.", date(2027, 9, 1)),
    ("De regels gaan op 1 januarı in, niet op 3 maart.", date(2027, 1, 1)),
])
def test_a_month_matched_through_case_folding_is_read_not_a_crash(text, expected):
    """The date patterns match case-insensitively, which also folds a long s or a dotless
    i: such a month name once raised KeyError, and took its feed's whole batch down."""
    assert effective_date(text, date(2026, 11, 1)) == expected
    result = classify("Nieuwe regels", text, taxonomy=TAXONOMY, language="en",
                      published=date(2026, 11, 1))
    assert result.effective_date == expected

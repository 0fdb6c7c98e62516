"""bot/cluster.py: one digest entry per story, across outlets and across the two languages."""

from __future__ import annotations

from datetime import date, timedelta

from bot.cluster import canonical_url, cluster, explain
from tests.builders import NOW, story

STRUCTURAL = ("policy-change", "enforcement", "legislation")


def titles(groups):
    return [[a.article.title for a in group] for group in groups]


def test_same_dutch_story_from_three_outlets_is_one_cluster():
    fine = dict(topics=("location", "enforcement"), regulators=("Autoriteit Persoonsgegevens",))
    items = [
        story("Autoriteit Persoonsgegevens legt taxi-app RitNu boete van 3,6 miljoen euro op",
              feed="Tweakers", **fine),
        story("Taxi-app RitNu krijgt boete van 3,6 miljoen euro van privacywaakhond",
              feed="NOS", **fine),
        story("AP legt taxi-app RitNu boete van 3,6 miljoen euro op voor bewaren locatiedata",
              feed="Security.nl", **fine),
    ]
    assert len(cluster(items, structural=STRUCTURAL)) == 1
    assert explain(items[0], items[1], structural=STRUCTURAL).startswith(
        "near-duplicate titles")


def test_dutch_and_english_reports_with_same_company_topic_and_day_are_one_story():
    nl = story("X past privacybeleid aan en kan met toestemming biometrische gegevens verzamelen",
               orgs=("X",), topics=("policy-change", "biometrics"), effective=date(2027, 1, 1))
    en = story("X’s new privacy policy lets it collect your biometric data and job history",
               feed="The Verge", language="en", orgs=("X",),
               topics=("policy-change", "biometrics", "employment-data"),
               effective=date(2027, 1, 1), published=NOW - timedelta(hours=20))
    assert titles(cluster([nl, en], structural=STRUCTURAL)) == [[nl.article.title,
                                                                 en.article.title]]
    assert explain(nl, en, structural=STRUCTURAL) == "same organisation (x), topic and days"


def test_a_name_in_both_headlines_counts_as_the_organisation():
    nl = story("FTC: databroker Kestrel moet locatiegegevens wissen", regulators=("FTC",),
               topics=("location", "enforcement"))
    en = story("FTC orders data broker Kestrel Data to delete location data", language="en",
               feed="The Verge", regulators=("FTC",), topics=("location", "enforcement"))
    assert len(cluster([nl, en], structural=STRUCTURAL)) == 1


def test_an_institution_named_in_either_language_joins_stories_without_a_company():
    nl = story("Europees Parlement stemt in met soepelere privacyregels voor AI-bedrijven",
               feed="NOS", topics=("ai-training", "legislation"), laws=("GDPR",))
    en = story("EU Parliament approves GDPR rewrite that makes it easier to train AI",
               feed="Ars Technica", language="en", topics=("ai-training", "legislation"),
               laws=("GDPR",))
    other = story("Fotodienst Snapvault gaat foto's van gebruikers inzetten voor AI-training",
                  topics=("ai-training", "legislation", "policy-change"), laws=("GDPR",))
    groups = cluster([nl, en, other], structural=STRUCTURAL)
    assert titles(groups) == [[nl.article.title, en.article.title], [other.article.title]]


def test_same_company_but_another_kind_of_news_stays_a_separate_story():
    policy = story("X past privacybeleid aan", orgs=("X",),
                   topics=("policy-change", "consent-rights"))
    fine = story("X fined by Irish regulator over consent", language="en", orgs=("X",),
                 topics=("enforcement", "consent-rights"), regulators=("DPC",))
    assert len(cluster([policy, fine], structural=STRUCTURAL)) == 2


def test_same_company_days_apart_stays_a_separate_story():
    first = story("Meta gaat foto's gebruiken voor AI-training", orgs=("Meta",),
                  topics=("ai-training",))
    later = story("Meta starts using public photos to train AI", language="en",
                  orgs=("Meta",), topics=("ai-training",), published=NOW - timedelta(days=3))
    assert explain(first, later, structural=STRUCTURAL) is None


def test_different_effective_dates_mean_different_stories():
    a = story("Voltera wijzigt privacyverklaring", orgs=("Voltera",), topics=("policy-change",),
              effective=date(2027, 1, 1))
    b = story("Voltera updates its privacy notice", language="en", orgs=("Voltera",),
              topics=("policy-change",), effective=date(2027, 3, 1))
    assert explain(a, b, structural=STRUCTURAL) is None


def test_a_shared_regulator_alone_does_not_join_two_stories():
    schools = story("AP: scholen mogen geen gezichtsherkenning gebruiken", feed="NOS",
                    regulators=("Autoriteit Persoonsgegevens",), topics=("biometrics",
                                                                         "children"))
    bill = story("Kabinet dient wetsvoorstel in voor verplichte leeftijdscheck",
                 regulators=("Autoriteit Persoonsgegevens",),
                 topics=("children", "identity-verification", "legislation"))
    assert len(cluster([schools, bill], structural=STRUCTURAL)) == 2


def test_copies_of_one_link_count_as_the_same_story():
    a = story("Eerste kop", url="http://www.example.com/nieuws/1/?utm_source=rss#top")
    b = story("Heel andere kop", feed="NOS", url="https://example.com/nieuws/1")
    assert canonical_url(a.article.url) == canonical_url(b.article.url) == \
        "example.com/nieuws/1"
    assert explain(a, b) == "same URL"


def test_links_that_differ_only_in_the_case_of_their_path_or_query_are_other_pages():
    upper = story("Eerste kop", url="https://www.youtube.com/watch?v=AbC")
    lower = story("Heel andere kop", feed="NOS", url="https://youtube.com/watch?v=abc")
    assert canonical_url(upper.article.url) == "youtube.com/watch?v=AbC"
    assert explain(upper, lower) is None
    assert canonical_url("HTTPS://WWW.Example.COM/Nieuws/1/") == "example.com/Nieuws/1", \
        "scheme and host are case-insensitive"


def test_title_case_headlines_do_not_make_every_word_a_name():
    a = story("Regulators Will Review Your Data Practices Next Week", language="en",
              topics=("enforcement", "consent-rights"), feed="Outlet A")
    b = story("Why Your Data Practices Matter For Regulators", language="en",
              topics=("enforcement", "consent-rights"), feed="Outlet B")
    assert explain(a, b, structural=STRUCTURAL) is None


def test_unrelated_stories_keep_their_input_order():
    items = [story(f"Ander bericht nummer {n} over {word}", orgs=(word,), topics=("health",))
             for n, word in enumerate(["Alpha", "Bravo", "Charlie"])]
    assert titles(cluster(items)) == [[a.article.title] for a in items]

"""`python -m bot classify`: JSON lines in, JSON lines out; bad lines never stop the rest."""

from __future__ import annotations

import json

CONTRACT = {"language", "relevant", "score", "topics", "matches", "orgs", "regulators", "laws",
            "effective_date"}


def test_each_line_gets_the_contract_fields_and_keeps_its_own(run_cli):
    lines = [
        {"id": "probe", "title": "X past privacybeleid aan: biometrische gegevens en "
         "werkgeschiedenis", "summary": "De nieuwe regels gaan op 29 september in.",
         "published": "2025-06-20", "url": "https://example.org/x"},
        {"id": 2, "title": "Review: the best noise-cancelling headphones of 2025",
         "summary": "Sony still leads."},
    ]
    result = run_cli("classify", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    assert result.code == 0
    first, second = result.lines()
    assert set(first) >= CONTRACT and set(second) >= CONTRACT
    assert first["id"] == "probe" and first["url"] == "https://example.org/x"
    assert first["relevant"] is True and first["language"] == "nl"
    assert {"biometrics", "employment-data", "policy-change"} <= set(first["topics"])
    assert first["effective_date"] == "2025-09-29" and first["orgs"] == ["X"]
    assert first["matches"]["biometrics"]
    assert second["relevant"] is False and second["language"] == "en"


def test_declared_language_is_trusted(run_cli):
    line = {"title": "Meta wijzigt privacybeleid", "summary": "", "language": "en"}
    assert run_cli("classify", stdin=json.dumps(line)).lines()[0]["language"] == "en"


def test_bad_lines_get_an_error_object_and_the_rest_go_on(run_cli):
    stdin = "\n".join([
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": 7, "summary": "no title"}),
        json.dumps({"id": 8, "title": "Boete", "published": "gisteren"}),
        json.dumps({"id": 9, "title": "AP legt boete op aan datahandelaar"}),
    ])
    out = run_cli("classify", stdin=stdin).lines()
    assert [("error" in o) for o in out] == [True, True, True, True, False]
    assert out[0]["line"] == 1 and "not JSON" in out[0]["error"]
    assert out[2]["id"] == 7 and out[3]["id"] == 8 and "published" in out[3]["error"]
    assert out[4]["id"] == 9 and out[4]["relevant"] is True


def test_classify_reads_a_file_and_applies_topic_overrides(tmp_path, write_config, run_cli):
    config = write_config("topics:\n  smart-meters:\n    label: {nl: Slimme meters, en: Smart"
                          " meters}\n    terms: {nl: [slimme meter*]}\n")
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"title": "Netbeheerder deelt data van slimme meters"}) + "\n",
                    encoding="utf-8")
    out = run_cli("classify", str(data), "--config", str(config)).lines()
    assert "smart-meters" in out[0]["topics"]


def test_eval_prints_precision_recall_per_language_and_topic(tmp_path, run_cli):
    data = tmp_path / "labeled.jsonl"
    items = [
        {"id": "a", "title": "Autoriteit Persoonsgegevens beboet datahandelaar",
         "summary": "De AP legt een boete op wegens het verkopen van locatiegegevens.",
         "language": "nl", "relevant": True, "topics": ["enforcement", "location"]},
        {"id": "b", "title": "Review: de beste stofzuigers van dit jaar", "summary": "",
         "language": "nl", "relevant": True, "topics": []},
    ]
    data.write_text("\n".join(json.dumps(i) for i in items), encoding="utf-8")
    result = run_cli("eval", str(data))
    assert result.code == 0
    assert "nl                   1.000   0.500  0.667" in result.out
    assert "enforcement" in result.out and "Language accuracy" in result.out
    assert "[b] Review: de beste stofzuigers" in result.out  # the miss, with its matches

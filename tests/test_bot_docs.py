"""The bot's texts and its README sections stay true: every command documented and
registered in both languages, every example configuration valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.commands import HANDLERS
from bot.i18n import ADMIN_COMMANDS, PUBLIC_COMMANDS, TEXTS
from bot.taxonomy import load_taxonomy

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    return README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_every_bot_command_is_documented_in_the_readme():
    documented = section("Bot commands")
    for name in HANDLERS:
        assert f"`/{name}" in documented, f"/{name} is not in README, Bot commands"


def test_every_command_but_start_is_registered_with_a_dutch_and_an_english_description():
    registered = [name for name, _, _ in PUBLIC_COMMANDS + ADMIN_COMMANDS]
    assert sorted([*registered, "start"]) == sorted(HANDLERS)
    for name, dutch, english in PUBLIC_COMMANDS + ADMIN_COMMANDS:
        assert dutch != english and 3 <= len(dutch) <= 256 and 3 <= len(english) <= 256, name


def test_dutch_and_english_have_the_same_texts_with_the_same_placeholders():
    assert TEXTS["nl"].keys() == TEXTS["en"].keys()
    for key, dutch in TEXTS["nl"].items():
        fields = sorted(re.findall(r"\{(\w+)\}", dutch))
        assert fields == sorted(re.findall(r"\{(\w+)\}", TEXTS["en"][key])), key


EXAMPLES = re.findall(r"```yaml\n(.*?)```", section("Tweak the feeds"), re.S)


@pytest.mark.parametrize("example", EXAMPLES, ids=["add-a-feed", "add-a-keyword",
                                                   "dutch-biometrics-channel"])
def test_tweak_the_feeds_examples_pass_check(example, write_config, run_cli):
    result = run_cli("check", "--config", str(write_config(example)))
    assert result.code == 0, result.err
    assert ": OK: " in result.out


def test_tweak_the_feeds_lists_every_packaged_topic_id():
    text = section("Tweak the feeds")
    for topic in load_taxonomy().topics:
        assert f"`{topic}`" in text, topic

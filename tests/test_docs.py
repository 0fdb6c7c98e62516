"""The README is part of the product: every command and config key is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.cli import build_parser
from bot.config import AlertConfig, ChannelConfig, FeedConfig, FetchSettings, _Root

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_cli_command_is_in_the_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"`{name}" in README, f"command {name} is not documented"


def test_every_config_key_is_in_the_readme():
    for kind in (_Root, FeedConfig, ChannelConfig, FetchSettings, AlertConfig):
        for f in dataclasses.fields(kind):
            assert f"`{f.name}`" in README, f"{kind.__name__}.{f.name} is not documented"


def test_readme_shows_the_two_commands():
    assert "make demo" in README and "make test" in README

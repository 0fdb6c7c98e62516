"""Shared fixtures: loopback feed and Telegram servers, a config writer, the CLI in-process."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from tests.fakes.feed_server import FeedServer, feed_server
from tests.fakes.telegram_server import TOKEN, TelegramState, telegram_server


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with feed_server() as server:
        yield server


@dataclass
class FakeTelegram:
    url: str
    state: TelegramState
    token: str = TOKEN

    @property
    def env(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": self.token, "TELEGRAM_API_URL": self.url}


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with telegram_server() as (url, state):
        yield FakeTelegram(url, state)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run `python -m bot ...` in-process; returns exit code, stdout and stderr."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
        out = io.StringIO()
        code = main(list(args), env={"BOT_DB": str(tmp_path / "bot.db"), **(env or {})},
                    stdin=io.StringIO(stdin), stdout=out)
        captured = capsys.readouterr()
        return Result(code, out.getvalue() + captured.out, captured.err)

    return run


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a feeds.yaml from a dict (or raw text) and return its path."""

    def write(data: dict[str, Any] | str, name: str = "feeds.yaml") -> Path:
        path = tmp_path / name
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False,
                                                                 allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write

"""bot/ratelimit.py: Telegram's flood limits, checked on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import ConfigError
from bot.ratelimit import RateLimiter, RateLimits


class FakeClock:
    """Time that passes only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def send_times(limits: RateLimits, chats: list[str]) -> list[float]:
    clock = FakeClock()
    limiter = RateLimiter(limits, clock=clock, sleep=clock.sleep)

    async def run() -> list[float]:
        times = []
        for chat in chats:
            await limiter.wait(chat)
            times.append(clock.now)
        return times
    return asyncio.run(run())


def test_one_message_per_second_to_a_private_chat():
    assert send_times(RateLimits(), ["42"] * 4) == [0.0, 1.0, 2.0, 3.0]


def test_different_private_chats_do_not_wait_for_each_other():
    assert send_times(RateLimits(), ["1", "2", "3"]) == [0.0, 0.0, 0.0]


def test_a_channel_gets_at_most_20_messages_per_minute():
    times = send_times(RateLimits(), ["@privacy_alerts"] * 25)
    assert times[:20] == [float(n) for n in range(20)]   # one a second while under 20
    assert times[20] == 60.0                             # the 21st waits for the window
    for n in range(20, 25):
        window = [t for t in times[: n + 1] if t > times[n] - 60]
        assert len(window) <= 20


def test_at_most_30_messages_a_second_overall():
    times = send_times(RateLimits(), [str(n) for n in range(1, 46)])
    assert times[:30] == [0.0] * 30
    assert times[30:] == [1.0] * 15


def test_scale_makes_the_same_rules_faster_and_zero_turns_waiting_off():
    assert send_times(RateLimits().scaled(0.01), ["42"] * 3) == pytest.approx([0, 0.01, 0.02])
    assert send_times(RateLimits.from_env({"TELEGRAM_RATE_SCALE": "0"}), ["42"] * 3) == \
        [0.0, 0.0, 0.0]
    assert RateLimits.from_env({}) == RateLimits()


def test_a_bad_rate_scale_is_a_clear_configuration_error():
    with pytest.raises(ConfigError, match="TELEGRAM_RATE_SCALE"):
        RateLimits.from_env({"TELEGRAM_RATE_SCALE": "fast"})


def test_concurrent_senders_share_one_limiter():
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock=clock, sleep=clock.sleep)

    async def run() -> None:
        await asyncio.gather(*(limiter.wait("42") for _ in range(3)))
    asyncio.run(run())
    assert clock.now >= 2.0  # three messages to one chat took two intervals at least

"""Telegram's flood limits as a sliding-window limiter (shared/telegram.md, "Rate limits").

Telegram documents guides, not fixed numbers: about one message per second per chat, at most
20 messages per minute per group or channel, about 30 messages per second overall. `wait`
returns once a message to `chat` may go and books its slot; concurrent senders share one
limiter, so it lives as long as the notifier. Clock and sleep are passed in: tests run the
real rules on a fake clock, and `TELEGRAM_RATE_SCALE` (0 = no waiting) speeds up the loopback
tests that run the real program.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from bot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_chat: float = 1.0        # seconds between two messages to one chat
    group_max: int = 20          # messages to one group or channel ...
    group_period: float = 60.0   # ... within this many seconds
    overall_max: int = 30        # messages in total ...
    overall_period: float = 1.0  # ... within this many seconds

    def scaled(self, factor: float) -> RateLimits:
        """The same limits on a faster (factor < 1) or slower clock."""
        return replace(self, per_chat=self.per_chat * factor,
                       group_period=self.group_period * factor,
                       overall_period=self.overall_period * factor)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        raw = env.get("TELEGRAM_RATE_SCALE", "").strip()
        if not raw:
            return cls()
        try:
            factor = float(raw)
        except ValueError:
            factor = -1.0
        if not 0 <= factor <= 100:
            raise ConfigError(f"TELEGRAM_RATE_SCALE={raw!r}: use a number from 0 (no waiting) "
                              "to 100; 1 is Telegram's own limits")
        return cls().scaled(factor)


def is_group(chat: str) -> bool:
    """Channels ('@name', '-100...') and groups (negative ids); users have positive ids."""
    return chat.startswith("@") or chat.startswith("-")


class RateLimiter:
    def __init__(self, limits: RateLimits = RateLimits(), *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.limits, self.clock, self.sleep = limits, clock, sleep
        self._last: dict[str, float] = {}
        self._groups: dict[str, deque[float]] = {}
        self._overall: deque[float] = deque()

    def delay(self, chat: str) -> float:
        """Seconds until a message to `chat` may go (0: now)."""
        now, limits = self.clock(), self.limits
        ready = self._last.get(chat, -1e18) + limits.per_chat
        group = self._groups.get(chat)
        if group is not None and is_group(chat) and len(group) >= limits.group_max:
            ready = max(ready, group[-limits.group_max] + limits.group_period)
        if len(self._overall) >= limits.overall_max:
            ready = max(ready, self._overall[-limits.overall_max] + limits.overall_period)
        return max(0.0, ready - now)

    async def wait(self, chat: str) -> float:
        """Wait for a free slot for `chat` and book it; returns the seconds waited."""
        waited = 0.0
        while (pause := self.delay(chat)) > 0:
            await self.sleep(pause)
            waited += pause
        now = self.clock()
        self._last[chat] = now
        keep = max(self.limits.group_max, 1)
        if is_group(chat):
            self._groups.setdefault(chat, deque(maxlen=keep)).append(now)
        self._overall.append(now)
        while len(self._overall) > max(self.limits.overall_max, 1):
            self._overall.popleft()
        return waited

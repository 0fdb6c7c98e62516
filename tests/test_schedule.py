"""Digest schedules (bot/scheduler.py add_digest_jobs): a `schedule.Scheduler` on a clock we
move with time-machine, so each job's runs are checked in the channel's own timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import schedule
import time_machine

from bot.config import ChannelConfig
from bot.scheduler import add_digest_jobs


def runs(spec: str, *, start: datetime, days: float, timezone: str = "Europe/Amsterdam",
         step: timedelta = timedelta(minutes=5)) -> list[datetime]:
    """When a channel's digest job fires, stepping the clock from `start` (UTC)."""
    fired: list[datetime] = []
    channel = ChannelConfig(name="main", chat="@privacy_alerts", digest=spec)
    with time_machine.travel(start, tick=False) as clock:
        scheduler = schedule.Scheduler()
        jobs = add_digest_jobs(scheduler, channel, timezone,
                               lambda: fired.append(datetime.now(UTC)))
        assert all("digest:main" in job.tags for job in jobs)
        now = start
        while now < start + timedelta(days=days):
            now += step
            clock.move_to(now)
            scheduler.run_pending()
    return fired


def local(times: list[datetime], timezone: str = "Europe/Amsterdam") -> list[str]:
    from zoneinfo import ZoneInfo
    return [t.astimezone(ZoneInfo(timezone)).strftime("%a %H:%M") for t in times]


def test_daily_0800_is_eight_in_the_channels_timezone_in_winter_and_summer():
    winter = runs("daily 08:00", start=datetime(2026, 11, 29, 0, 0, tzinfo=UTC), days=2)
    assert [t.strftime("%H:%M") for t in winter] == ["07:00", "07:00"]  # CET = UTC+1
    summer = runs("daily 08:00", start=datetime(2026, 7, 1, 0, 0, tzinfo=UTC), days=1)
    assert [t.strftime("%H:%M") for t in summer] == ["06:00"]           # CEST = UTC+2


def test_weekdays_0730_skips_the_weekend():
    fired = runs("weekdays 07:30", start=datetime(2026, 11, 27, 12, 0, tzinfo=UTC), days=7)
    assert local(fired) == ["Mon 07:30", "Tue 07:30", "Wed 07:30", "Thu 07:30", "Fri 07:30"]


def test_named_days_in_another_timezone():
    fired = runs("mon,thu 09:00", start=datetime(2026, 11, 29, 0, 0, tzinfo=UTC), days=7,
                 timezone="America/New_York")
    assert local(fired, "America/New_York") == ["Mon 09:00", "Thu 09:00"]


def test_every_4_hours():
    fired = runs("every 4 hours", start=datetime(2026, 11, 29, 0, 0, tzinfo=UTC), days=1)
    assert len(fired) == 6
    assert all(b - a == timedelta(hours=4) for a, b in pairwise(fired))


def test_manual_registers_nothing():
    assert runs("manual", start=datetime(2026, 11, 29, tzinfo=UTC), days=1) == []

"""Quiet hours: when a non-urgent text must wait, in the recipient community's time zone.

Imports only the stdlib.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class QuietHours(Protocol):
    """What quiet hours depend on (a ``Community`` row, or the send gate's plain rules)."""

    @property
    def timezone(self) -> str: ...
    @property
    def quiet_start_minute(self) -> int: ...
    @property
    def quiet_end_minute(self) -> int: ...


def quiet_until(community: QuietHours, now: datetime) -> datetime | None:
    """The UTC moment quiet hours end, when ``now`` falls inside them; None otherwise."""
    zone = ZoneInfo(community.timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    start, end = community.quiet_start_minute, community.quiet_end_minute
    if start == end:
        return None
    inside = (start <= minute or minute < end) if start > end else (start <= minute < end)
    if not inside:
        return None
    end_day = local.date() if minute < end else local.date() + timedelta(days=1)
    end_local = datetime.combine(end_day, time(end // 60, end % 60), tzinfo=zone)
    return end_local.astimezone(UTC)

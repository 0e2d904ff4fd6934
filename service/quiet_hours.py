"""Quiet hours: when a non-urgent text must wait, in the recipient community's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.models import Community


def quiet_until(community: Community, now: datetime) -> datetime | None:
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

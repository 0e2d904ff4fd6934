"""The current time for request handlers and jobs, with a test seam to freeze it.

Everything that decides by the clock (reminders, check-in windows, quiet hours) asks
``clock.now()``; tests call ``clock.freeze(moment)`` to drive a whole day in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(moment: datetime | None) -> None:
    """Pin ``now()`` to ``moment`` (an aware datetime), or unpin it with None."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = moment.astimezone(UTC) if moment is not None else None

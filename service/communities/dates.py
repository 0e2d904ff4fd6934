"""How a community's texts write dates and times: the month as a word, its clock (its own
setting, else its country's), and "today" / "tomorrow" for texts sent at once.

Imports ``flows.dates`` and the models only, so every roster module may use it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flows.dates import DateStyle
from service.models import Community


def date_style(community: Community, language: str, now: datetime | None = None) -> DateStyle:
    """The style of a text to a volunteer of ``community`` in ``language``. With ``now`` (a
    text sent at once: a reply, a reminder, a call-out) it says "today" and "tomorrow"; a text
    that may wait in the queue (past quiet hours) gets the date, which cannot go stale
    overnight."""
    today = now.astimezone(ZoneInfo(community.timezone)).date() if now is not None else None
    return DateStyle(language, community.country, community.clock or "", today)

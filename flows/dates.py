"""Dates and times as texts show them: the month as a word ("Tue 8 Dec, 9:00", "Tue Dec 8,
9am"), "today" and "tomorrow" where they apply, and the 12- or 24-hour clock the community's
country uses (or its own setting). Never "8/12", which is August to an American and December
to most others. Words and patterns come from each language's catalog. Pure; imports only the
stdlib and ``flows.catalog``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum

from flows import catalog

TimeOfDay = time  # ``DateStyle.time`` shadows the name inside the class


class Clock(StrEnum):
    """How times are written: ``9am`` / ``2:30pm`` or ``9:00`` / ``14:30``."""

    H12 = "12h"
    H24 = "24h"


# Countries whose people write times on the 12-hour clock (the rest: 24-hour).
TWELVE_HOUR_COUNTRIES = frozenset(
    [
        "US",
        "CA",
        "AU",
        "NZ",
        "IN",
        "PH",
        "PK",
        "BD",
        "LK",
        "NP",
        "EG",
        "SA",
        "JO",
        "MY",
        "HN",
        "SV",
        "NI",
        "GT",
        "PR",
    ]
)
# Countries that write the month before the day ("Tue Dec 8"), where the language's catalog
# has that pattern (``_day_pattern_month_first``; Spanish and Hindi keep the day first).
MONTH_FIRST_COUNTRIES = frozenset(["US", "CA", "PH"])


def clock_for(country: str, setting: str = "") -> Clock:
    """The community's clock: its own setting, else its country's habit."""
    if setting in (Clock.H12, Clock.H24):
        return Clock(setting)
    return Clock.H12 if country.upper() in TWELVE_HOUR_COUNTRIES else Clock.H24


def _words(language: str, key: str, count: int) -> list[str]:
    words = catalog.render(language, key).split(",")
    if len(words) != count:
        words = catalog.render(catalog.DEFAULT_LANGUAGE, key).split(",")
    return [word.strip() for word in words]


@dataclass(frozen=True)
class DateStyle:
    """How one volunteer's texts write dates: their language, the community's country and
    clock setting, and the community's local date today (None: never "today"/"tomorrow")."""

    language: str
    country: str = ""
    clock: str = ""  # "12h", "24h", or "" for the country's habit
    today: date | None = None

    def day(self, day: date, *, relative: bool = True) -> str:
        """``Tue 8 Dec`` (``Tue Dec 8``), or ``today`` / ``tomorrow``."""
        if relative and self.today is not None:
            if day == self.today:
                return catalog.render(self.language, "dates.today")
            if (day - self.today).days == 1:
                return catalog.render(self.language, "dates.tomorrow")
        name = "_day_pattern"
        month_first = self.country.upper() in MONTH_FIRST_COUNTRIES
        if month_first and catalog.has_pattern(self.language, "_day_pattern_month_first"):
            name = "_day_pattern_month_first"
        return catalog.pattern(self.language, name).format(
            weekday=_words(self.language, "days", 7)[day.weekday()],
            day=day.day,
            month=_words(self.language, "months", 12)[day.month - 1],
        )

    def time(self, moment: time) -> str:
        """``9:00`` / ``14:30`` on the 24-hour clock, ``9am`` / ``2:30pm`` on the 12-hour."""
        if clock_for(self.country, self.clock) is Clock.H24:
            return f"{moment.hour}:{moment.minute:02d}"
        hour = moment.hour % 12 or 12
        minutes = f":{moment.minute:02d}" if moment.minute else ""
        suffix = catalog.pattern(self.language, "_pm" if moment.hour >= 12 else "_am")
        return f"{hour}{minutes}{suffix}"

    def when(self, local: datetime) -> str:
        """A start time in the community's zone: ``Tue 8 Dec, 9:00``, ``tomorrow, 9am``."""
        return catalog.pattern(self.language, "_when_pattern").format(
            day=self.day(local.date()), time=self.time(local.time())
        )

    def window(self, start: TimeOfDay, end: TimeOfDay) -> str:
        """A drop-off window: ``10:00-12:00``, ``10am-12pm``."""
        return f"{self.time(start)}-{self.time(end)}"

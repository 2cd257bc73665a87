"""A reporting period in the clinic's timezone."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from alliance.models import Clinic


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` inclusive, in the clinic's timezone."""

    start: dt.date
    end: dt.date
    tz: dt.tzinfo

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), self.tz)

    @property
    def end_at(self) -> dt.datetime:
        """Midnight after the last day (exclusive)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), self.tz)

    def weeks(self) -> list[dt.date]:
        """The Mondays of the weeks the period touches."""
        monday = self.start - dt.timedelta(days=self.start.weekday())
        return [monday + dt.timedelta(weeks=n) for n in range((self.end - monday).days // 7 + 1)]

    def months(self) -> list[dt.date]:
        """The first days of the months the period touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return months

    @classmethod
    def weeks_to(cls, end: dt.date, weeks: int, tz) -> "Period":
        """``weeks`` calendar weeks (Monday to Sunday) ending with the week of ``end``."""
        monday = end - dt.timedelta(days=end.weekday())
        return cls(start=monday - dt.timedelta(weeks=weeks - 1), end=end, tz=tz)

    @classmethod
    def months_to(cls, end: dt.date, months: int, tz) -> "Period":
        """``months`` calendar months ending with the month of ``end``."""
        first = end.replace(day=1)
        year, month = divmod(first.year * 12 + first.month - 1 - (months - 1), 12)
        return cls(start=dt.date(year, month + 1, 1), end=end, tz=tz)


def today_in(clinic: Clinic | None) -> dt.date:
    return timezone.localdate(timezone=clinic.tzinfo if clinic else None)

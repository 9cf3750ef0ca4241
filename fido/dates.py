"""Calendar days in TIME_ZONE and days written as YYYY-MM-DD: the date helpers every app uses."""

import datetime as dt

from django.utils import timezone


def local_day(moment: dt.datetime) -> dt.date:
    """The calendar day of a moment in TIME_ZONE."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in TIME_ZONE, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def as_date(value: dt.date | str | None) -> dt.date | None:
    """A day from a date or its YYYY-MM-DD text (as databases and caches hand it back); None stays None."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def iso(day: dt.date | None) -> str | None:
    """A day as YYYY-MM-DD; None stays None."""
    return day.isoformat() if day else None

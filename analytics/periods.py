"""An optional inclusive period of calendar days in TIME_ZONE (SPEC §6): how a day is written and the rule of a
period, defined once for the API's period parameters and the admin's analytics form."""

import datetime as dt
import re

from django.core.exceptions import ValidationError

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INVALID_DAY = "Use a date written as YYYY-MM-DD."
REVERSED = "Must not be after date_to."


def parse_day(text) -> dt.date:
    """A calendar day written exactly as YYYY-MM-DD; ValueError otherwise."""
    if not isinstance(text, str) or not ISO_DAY.match(text):
        raise ValueError(INVALID_DAY)
    return dt.date.fromisoformat(text)


def check_period(date_from: dt.date | None, date_to: dt.date | None) -> None:
    """Refuse a period that ends before it starts (the error names date_from)."""
    if date_from and date_to and date_from > date_to:
        raise ValidationError({"date_from": ValidationError(REVERSED, code="invalid")})

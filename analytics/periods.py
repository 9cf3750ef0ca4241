"""An optional inclusive period of calendar days in TIME_ZONE, for the API's period parameters and the
admin's analytics form. A day and a reversed range follow the rules of transactions/rules.py, so a period gets
the same words here as in the transaction list's date filters."""

import datetime as dt

from django.core.exceptions import ValidationError

from transactions.rules import INVALID, parse_day, reversed_ranges

INVALID_DAY = INVALID["day"]

__all__ = ["INVALID_DAY", "check_period", "parse_day"]  # parse_day: a day as YYYY-MM-DD; RuleError (ValueError)


def check_period(date_from: dt.date | None, date_to: dt.date | None) -> None:
    """Refuse a period that ends before it starts (the error names date_from)."""
    errors = reversed_ranges({"date_from": date_from, "date_to": date_to})
    if errors:
        raise ValidationError({name: ValidationError(message, code="invalid") for name, message in errors.items()})

"""The rules of a transaction's fields and their messages (SPEC §5), defined once for the API's serializer and
the admin's form: each check returns the code of the rule a value breaks (None: it keeps them all), and
``MESSAGES`` says what each code means."""

import datetime as dt
import unicodedata
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

# The fields a client writes, in the order the API and the admin show them.
WRITABLE_FIELDS = ("user_id", "full_name", "transaction_date", "transaction_amount", "transaction_type")

BIGINT_MAX = 2**63 - 1  # the largest value of a bigint column: user ids and row ids
MAX_USER_ID = BIGINT_MAX
MAX_AMOUNT = Decimal("999999999999.99")
CENT = Decimal("0.01")
NAME_MAX_LENGTH = 255
EARLIEST_DATE = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# Control characters, and the line and paragraph separators that act like a newline.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})

MESSAGES = {
    "range": f"Must be between 1 and {MAX_USER_ID}.",
    "positive": "Must be greater than 0.",
    "max_value": f"Must be at most {MAX_AMOUNT}.",
    "max_decimal_places": "Must have at most 2 decimal places.",
    "too_old": "Must not be earlier than 1900-01-01.",
    "future": "Must not be later than 5 minutes past the server's current time.",
    "control_characters": "Must not contain NUL or other control characters.",
}


def messages(*codes: str) -> dict[str, str]:
    """The messages of these codes, for a serializer field's ``default_error_messages``."""
    return {code: MESSAGES[code] for code in codes}


def user_id_error(value: int) -> str | None:
    """A user id is 1 to 2^63-1."""
    return None if 1 <= value <= MAX_USER_ID else "range"


def amount_error(value: Decimal) -> str | None:
    """An amount (a finite Decimal) is above 0, at most MAX_AMOUNT, with at most 2 decimal places."""
    if value <= 0:
        return "positive"
    if value > MAX_AMOUNT:
        return "max_value"
    if value != value.quantize(CENT, rounding=ROUND_DOWN):
        return "max_decimal_places"
    return None


def date_error(value: dt.datetime) -> str | None:
    """A transaction date (aware) is from 1900-01-01 to 5 minutes past now; OverflowError if it cannot compare."""
    if value < EARLIEST_DATE:
        return "too_old"
    if value > timezone.now() + FUTURE_TOLERANCE:
        return "future"
    return None


def name_error(value: str) -> str | None:
    """A name holds no character of FORBIDDEN_CATEGORIES but NUL, which each framework's own check reports."""
    if any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in value.replace("\x00", "")):
        return "control_characters"
    return None


def validator(check: Callable[[Any], str | None]) -> Callable[[Any], None]:
    """A Django validator (the admin form's fields) that raises the message of the rule `check` finds broken."""

    def validate(value) -> None:
        code = check(value)
        if code is not None:
            raise ValidationError(MESSAGES[code], code=code)

    return validate

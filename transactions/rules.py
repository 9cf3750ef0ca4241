"""The rules of a transaction's fields, of the list's filters and of the query string, with their messages,
defined once for the API's serializers and filters and the admin's forms: each check returns the code of
the rule a value breaks (None: it keeps them all), each parser raises ``RuleError`` with that code, and
``MESSAGES`` says what each code means. ``analytics/periods.py`` builds its periods on the day rule here."""

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django import forms
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
# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder the text
# around them, so a name holding one can show in a list as something it is not ("Trojan Source").
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# Characters that show as nothing between letters, so two names that look the same differ only by them; the
# search hash (fields.normalize_name) leaves them out: soft hyphen, zero-width space, non-joiner and joiner,
# left-to-right and right-to-left marks, word joiner and the invisible operators, zero-width no-break space (BOM).
ZERO_WIDTH = frozenset(map(chr, [0x00AD, *range(0x200B, 0x2010), *range(0x2060, 0x2065), 0xFEFF]))

# Digits are ASCII only: Python's int(), Decimal() and `\d` also read other scripts' digits (U+0665, U+FF15).
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_NUMBER_TEXT = 100  # longer digit strings are out of every range; int() of thousands of digits is slow

MESSAGES = {
    "range": f"Must be between 1 and {MAX_USER_ID}.",
    "positive": "Must be greater than 0.",
    "negative": "Must not be negative.",
    "max_value": f"Must be at most {MAX_AMOUNT}.",
    "max_decimal_places": "Must have at most 2 decimal places.",
    "too_old": "Must not be earlier than 1900-01-01.",
    "future": "Must not be later than 5 minutes past the server's current time.",
    "blank": "Must not be blank.",
    "control_characters": "Must not contain NUL or other control characters.",
    "bidi_controls": "Must not contain bidirectional overrides or isolates (U+202A to U+202E, U+2066 to U+2069).",
    "unknown_parameter": "Unknown query parameter.",
    "repeated_parameter": "Give this query parameter once.",
}
# Query parameters that bound a range: lower bound → (upper bound, what a lower bound above the upper one gets).
RANGES = {
    "date_from": ("date_to", "Must not be after date_to."),
    "amount_min": ("amount_max", "Must not be above amount_max."),
}
# What "invalid" (a value that is not even of the right kind) says, for each kind of value.
INVALID = {
    "json_integer": 'Must be a JSON integer, such as 12345678 (not a string such as "12345678", a decimal or true).',
    "integer": "Must be a whole number written with the digits 0-9.",
    "decimal": "Must be a decimal number written with the digits 0-9, such as 125.50.",
    "day": "Use a date written as YYYY-MM-DD.",
    "date_time": "Use an ISO 8601 date-time, such as 2026-11-20T14:03:00Z, or a date, YYYY-MM-DD.",
    "name": "Must be a string.",
}


class RuleError(ValueError):
    """A value breaks the rule of this code (a key of MESSAGES, or "invalid" with the INVALID message of its kind)."""

    def __init__(self, code: str, message: str | None = None):
        super().__init__(message or MESSAGES[code])
        self.code = code
        self.message = message or MESSAGES[code]


def messages(*codes: str, invalid: str | None = None) -> dict[str, str]:
    """The messages of these codes (and of "invalid" for a kind of value), for a field's error messages."""
    found = {code: MESSAGES[code] for code in codes}
    if invalid:
        found["invalid"] = INVALID[invalid]
    return found


# --- Checks of a value of the right kind ---------------------------------------------------------------------
def user_id_error(value: int) -> str | None:
    """A user id is 1 to 2^63-1."""
    return None if 1 <= value <= MAX_USER_ID else "range"


def amount_error(value: Decimal) -> str | None:
    """An amount (a finite Decimal) is above 0, at most MAX_AMOUNT, with at most 2 decimal places."""
    if value <= 0:
        return "positive"
    return amount_bound_error(value)


def amount_bound_error(value: Decimal) -> str | None:
    """A bound of an amount filter is an amount, or 0."""
    if value < 0:
        return "negative"
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
    """A name is not blank once spaces and zero-width characters are left out, and holds no control character
    (but NUL, which each framework's own check reports) and no bidirectional override or isolate."""
    if not "".join(char for char in value if char not in ZERO_WIDTH).strip():
        return "blank"
    if any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in value.replace("\x00", "")):
        return "control_characters"
    if not BIDI_CONTROLS.isdisjoint(value):
        return "bidi_controls"
    return None


def reversed_ranges(values: Mapping[str, Any]) -> dict[str, str]:
    """The ranges of RANGES whose lower bound is above the upper one: {the lower bound's name: message}.

    The same answer wherever a range is taken (list filters, analytics periods, the admin's analytics form):
    a 400 naming the lower bound, code "invalid". A missing bound closes no range.
    """
    return {
        lower: message
        for lower, (upper, message) in RANGES.items()
        if values.get(lower) is not None and values.get(upper) is not None and values[lower] > values[upper]
    }


# --- Parsers of text (query parameters, form fields, strings in a body) ---------------------------------------
def parse_integer(text: str) -> int:
    """A whole number written in ASCII digits, optionally signed; RuleError("invalid") otherwise."""
    text = text.strip()
    if not INTEGER_TEXT.fullmatch(text):
        raise RuleError("invalid", INVALID["integer"])
    if len(text) > MAX_NUMBER_TEXT:
        return -1 if text.startswith("-") else BIGINT_MAX + 1  # out of every range, without the cost of int()
    return int(text)


def parse_user_id(text: str) -> int:
    """A user id written as text: ASCII digits, 1 to 2^63-1."""
    value = parse_integer(text)
    if code := user_id_error(value):
        raise RuleError(code)
    return value


def parse_decimal(text: str) -> Decimal:
    """A finite decimal written out in ASCII digits (no underscores, NaN, Infinity or inner spaces)."""
    text = text.strip()
    if not DECIMAL_TEXT.fullmatch(text):
        raise RuleError("invalid", INVALID["decimal"])
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RuleError("invalid", INVALID["decimal"]) from None


def parse_amount_bound(text: str) -> Decimal:
    """A bound of an amount filter written as text."""
    value = parse_decimal(text)
    if code := amount_bound_error(value):
        raise RuleError(code)
    return value


def parse_day(text) -> dt.date:
    """A calendar day written exactly as YYYY-MM-DD."""
    if not isinstance(text, str) or not DAY_TEXT.fullmatch(text):
        raise RuleError("invalid", INVALID["day"])
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RuleError("invalid", INVALID["day"]) from None


# --- The same rules for Django forms (the admin) -----------------------------------------------------------------
def validator(check: Callable[[Any], str | None]) -> Callable[[Any], None]:
    """A Django validator (the admin form's fields) that raises the message of the rule `check` finds broken."""

    def validate(value) -> None:
        code = check(value)
        if code is not None:
            raise ValidationError(MESSAGES[code], code=code)

    return validate


def form_value(parse: Callable[[str], Any], text: str) -> Any:
    """`parse(text)` for a Django form field: a broken rule becomes the form's ValidationError, same words."""
    try:
        return parse(text)
    except RuleError as exc:
        raise ValidationError(exc.message, code=exc.code) from None


class RuleFormField(forms.CharField):
    """A form field (a filter's, the admin's) read by one of the parsers above, with its words; empty means unset."""

    def __init__(self, *, parse: Callable[[str], Any], codes: tuple[str, ...] = (), invalid: str | None = None, **kw):
        self.parse = parse
        # Every code the parser can raise, so that the OpenAPI schema lists them among a filter's 400s.
        kw["error_messages"] = {**messages(*codes, invalid=invalid), **kw.get("error_messages", {})}
        super().__init__(**kw)

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        return form_value(self.parse, text)

"""Shape and rules of the transaction representation (SPEC §5)."""

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from .models import MAX_AMOUNT, MAX_USER_ID, Transaction, TransactionType

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
EARLIEST_DATE = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
CENT = Decimal("0.01")
MAX_REPORTED_EXTRA_FIELDS = 10
# A decimal written out in a string: no underscores, no NaN or Infinity, no spaces inside.
DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_USER_ID})
class StrictUserIdField(serializers.Field):
    """A JSON integer from 1 to 2^63-1; no strings, floats or booleans."""

    default_error_messages = {
        "invalid": "A valid integer is required.",
        "range": f"Must be between 1 and {MAX_USER_ID}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if not 1 <= data <= MAX_USER_ID:
            self.fail("range")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "example": "125.50"})
class MoneyField(serializers.Field):
    """A positive amount with at most 2 decimal places, from a JSON string or number, never a float."""

    default_error_messages = {
        "invalid": "A valid decimal number is required.",
        "positive": "Must be greater than 0.",
        "max_value": f"Must be at most {MAX_AMOUNT}.",
        "max_decimal_places": "Must have at most 2 decimal places.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if isinstance(data, str):
            data = data.strip()
            if not DECIMAL_TEXT.match(data):
                self.fail("invalid")
        try:
            value = Decimal(data)
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value <= 0:
            self.fail("positive")
        if value > MAX_AMOUNT:
            self.fail("max_value")
        if value != value.quantize(CENT, rounding="ROUND_DOWN"):
            self.fail("max_decimal_places")
        return value.quantize(CENT)

    def to_representation(self, value):
        return str(Decimal(value).quantize(CENT))


@extend_schema_field(OpenApiTypes.DATETIME)
class TransactionDateField(serializers.Field):
    """ISO 8601 date-time (naive means TIME_ZONE) or a bare date (start of that day)."""

    default_error_messages = {
        "invalid": "Use an ISO 8601 date-time, such as 2026-11-20T14:03:00Z, or a date, YYYY-MM-DD.",
        "future": "Must not be later than 5 minutes past the server's current time.",
        "too_old": "Must not be earlier than 1900-01-01.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        try:
            if len(text) == 10:
                parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
            else:
                parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            try:
                parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
            except (ValueError, OverflowError):
                self.fail("invalid")
        try:
            if parsed < EARLIEST_DATE:
                self.fail("too_old")
            if parsed > timezone.now() + FUTURE_TOLERANCE:
                self.fail("future")
        except OverflowError:
            self.fail("invalid")
        return parsed.astimezone(dt.UTC)

    def to_representation(self, value):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# Control characters, and the line and paragraph separators that act like a newline.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def has_forbidden_characters(name: str) -> bool:
    """Whether a name holds a character of FORBIDDEN_CATEGORIES (the API's and the admin's one rule)."""
    return any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in name)


class NameField(serializers.CharField):
    """A person's name: a JSON string, trimmed, 1-255 characters, no NUL or other control characters."""

    default_error_messages = {"control_characters": "Must not contain NUL or other control characters."}

    def __init__(self, **kwargs):
        super().__init__(max_length=255, min_length=1, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    def run_validators(self, value):
        # NUL is refused by CharField itself (code null_characters_not_allowed); this catches the rest.
        if has_forbidden_characters(value.replace("\x00", "")):
            self.fail("control_characters")
        super().run_validators(value)


class TransactionSerializer(serializers.ModelSerializer):
    """A transaction as clients see and write it; rejects any field it does not accept."""

    rejects_unknown_fields = True  # also published in the OpenAPI schema (fido.openapi)

    user_id = StrictUserIdField()
    full_name = NameField(
        help_text="Plain text for clients holding `transactions.view_full_name` (every API client); "
        "masked (`A*** M*****`) for a staff session without it."
    )
    transaction_date = TransactionDateField()
    transaction_amount = MoneyField()
    transaction_type = serializers.ChoiceField(choices=TransactionType.choices)
    # In UTC like transaction_date, whatever TIME_ZONE is.
    created_at = serializers.DateTimeField(read_only=True, default_timezone=dt.UTC)
    updated_at = serializers.DateTimeField(read_only=True, default_timezone=dt.UTC)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "user_id",
            "full_name",
            "transaction_date",
            "transaction_amount",
            "transaction_type",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors = {}
            for name in data:
                if name in self.fields and name not in writable:
                    errors[name] = [ErrorDetail("This field is read-only.", code="read_only")]
                elif name not in writable:
                    errors[name] = [ErrorDetail("Unknown field.", code="unknown_field")]
                if len(errors) == MAX_REPORTED_EXTRA_FIELDS:
                    break  # naming a hundred thousand keys would cost seconds and megabytes
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

"""Shape and rules of the transaction representation (docs/api.md, "A transaction")."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from . import rules
from .models import Transaction, TransactionType

MAX_REPORTED_EXTRA_FIELDS = 10


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": rules.MAX_USER_ID})
class StrictUserIdField(serializers.Field):
    """A JSON integer from 1 to 2^63-1; no strings, floats or booleans."""

    default_error_messages = rules.messages("range", invalid="json_integer")

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if code := rules.user_id_error(data):
            self.fail(code)
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "example": "125.50"}
)
class MoneyField(serializers.Field):
    """A positive amount with at most 2 decimal places, from a JSON string or number, never a float."""

    default_error_messages = rules.messages("positive", "max_value", "max_decimal_places", invalid="decimal")

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if isinstance(data, str):
            try:
                value = rules.parse_decimal(data)
            except rules.RuleError:
                self.fail("invalid")
        else:
            value = Decimal(data)
        if not value.is_finite():
            self.fail("invalid")
        if code := rules.amount_error(value):
            self.fail(code)
        return value.quantize(rules.CENT)

    def to_representation(self, value):
        return str(Decimal(value).quantize(rules.CENT))


@extend_schema_field(OpenApiTypes.DATETIME)
class TransactionDateField(serializers.Field):
    """ISO 8601 date-time (naive means TIME_ZONE) or a bare date (start of that day)."""

    default_error_messages = rules.messages("future", "too_old", invalid="date_time")

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
            code = rules.date_error(parsed)
        except OverflowError:
            self.fail("invalid")
        if code:
            self.fail(code)
        return parsed.astimezone(dt.UTC)

    def to_representation(self, value):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class NameField(serializers.CharField):
    """A person's name: a JSON string, trimmed, 1-255 characters, no control characters or bidirectional overrides."""

    default_error_messages = rules.messages("blank", "control_characters", "bidi_controls", invalid="name")

    def __init__(self, **kwargs):
        super().__init__(max_length=rules.NAME_MAX_LENGTH, min_length=1, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    def run_validators(self, value):
        # NUL is refused by CharField itself (code null_characters_not_allowed); this checks the rest.
        if code := rules.name_error(value):
            self.fail(code)
        super().run_validators(value)


class TransactionSerializer(serializers.ModelSerializer):
    """A transaction as clients see and write it; rejects any field it does not accept."""

    rejects_unknown_fields = True  # also published in the OpenAPI schema (fido.openapi)
    # A body that is not an object (`[]`, `null`, a string): an error about the whole body (`attr` null).
    default_error_messages = {"invalid": "The body must be a JSON object of the transaction's fields."}

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
        fields = ["id", *rules.WRITABLE_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def run_validation(self, data=serializers.empty):
        if not isinstance(data, dict):
            # One answer for every non-object (DRF says "No data provided" for null, and names a Python type).
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail(self.error_messages["invalid"], code="invalid")]}
            )
        return super().run_validation(data)

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

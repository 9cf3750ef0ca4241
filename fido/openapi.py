"""OpenAPI: every status code a client can get, per operation, in the one error shape (docs/api.md, "Errors").

drf-standardized-errors documents the codes DRF itself raises (400, 401, 403, 404, 405, 406, 415,
500). This adds ours: 413 (the body limit, on operations that take a body), and 409 and 422 (the
idempotency contract, on operations that honour ``Idempotency-Key``). It also documents the 400s
raised outside serializers and filter forms (cursor, page size, idempotency key).
"""

from django.db import models
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema_field
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ValidationErrorEnum
from drf_standardized_errors.openapi_utils import get_error_serializer
from drf_standardized_errors.settings import package_settings
from inflection import camelize
from rest_framework import serializers
from rest_framework.settings import api_settings

from transactions.idempotency import HEADER as IDEMPOTENCY_HEADER

BODY_METHODS = ("POST", "PUT", "PATCH")

DESCRIPTIONS = {
    "400": "Malformed JSON, or a field, filter or header value that breaks its rule (`attr` names it).",
    "401": "Missing or bad credentials: send `Authorization: Token <key>`.",
    "403": "Authenticated, but the client's scope does not allow this.",
    "404": "No such resource.",
    "405": "The path does not take this method.",
    "406": "The `Accept` header asks for a format the API does not produce.",
    "409": "A request with the same `Idempotency-Key` is still in progress; retry later.",
    "413": "The request body is over 1 MiB.",
    "415": "The body's content type is not `application/json`.",
    "422": "The `Idempotency-Key` was already used with a different body.",
    "429": "Too many requests from this client; retry after the `Retry-After` seconds.",
    "500": "An unexpected error; the body never holds details.",
}


class ErrorCode409Enum(models.TextChoices):
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"


class ErrorCode413Enum(models.TextChoices):
    REQUEST_TOO_LARGE = "request_too_large"


class ErrorCode422Enum(models.TextChoices):
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"


def _error_response_serializer(status_code: int, codes: type[models.TextChoices]) -> type[serializers.Serializer]:
    error = type(
        f"Error{status_code}Serializer",
        (serializers.Serializer,),
        {
            "code": serializers.ChoiceField(choices=codes.choices),
            "detail": serializers.CharField(),
            "attr": serializers.CharField(allow_null=True),
        },
    )
    return type(
        f"ErrorResponse{status_code}Serializer",
        (serializers.Serializer,),
        {"type": serializers.ChoiceField(choices=ClientErrorEnum.choices), "errors": error(many=True)},
    )


ErrorResponse409Serializer = _error_response_serializer(409, ErrorCode409Enum)
ErrorResponse413Serializer = _error_response_serializer(413, ErrorCode413Enum)
ErrorResponse422Serializer = _error_response_serializer(422, ErrorCode422Enum)

EXAMPLES = [
    OpenApiExample(
        name,
        value={"type": "client_error", "errors": [{"code": code, "detail": DESCRIPTIONS[status], "attr": None}]},
        response_only=True,
        status_codes=[status],
    )
    for name, status, code in [
        ("IdempotencyInProgress", "409", ErrorCode409Enum.IDEMPOTENCY_IN_PROGRESS),
        ("RequestTooLarge", "413", ErrorCode413Enum.REQUEST_TOO_LARGE),
        ("IdempotencyKeyReused", "422", ErrorCode422Enum.IDEMPOTENCY_KEY_REUSED),
    ]
]


class ExtraFieldCodeEnum(models.TextChoices):
    UNKNOWN_FIELD = "unknown_field"
    READ_ONLY = "read_only"


class ExtraParameterCodeEnum(models.TextChoices):
    UNKNOWN_PARAMETER = "unknown_parameter"
    REPEATED_PARAMETER = "repeated_parameter"


def _any_name_error(operation_id: str, kind: str, codes: type[models.TextChoices]) -> type[serializers.Serializer]:
    """The error about a name the client chose (`attr` can be any string): an unknown field or query parameter."""
    return type(
        f"{kind}ErrorSerializer",
        (serializers.Serializer,),
        {
            "attr": serializers.CharField(),
            "code": serializers.ChoiceField(choices=codes.choices),
            "detail": serializers.CharField(),
            "Meta": type(
                "Meta",
                (),
                {"ref_name": f"{camelize(operation_id)}{kind}{package_settings.ERROR_COMPONENT_NAME_SUFFIX}"},
            ),
        },
    )


@extend_schema_field({"type": "string", "nullable": True, "enum": [None]})
class _NullField(serializers.Field):
    """Always null: the `attr` of an error about no one field."""


def _whole_request_error(operation_id: str, codes: set[str]) -> type[serializers.Serializer]:
    """The error about the whole body (a body that is not a JSON object): `attr` is null."""
    return type(
        "WholeBodyErrorSerializer",
        (serializers.Serializer,),
        {
            "attr": _NullField(),
            "code": serializers.ChoiceField(choices=sorted((code, code) for code in codes)),
            "detail": serializers.CharField(),
            "Meta": type(
                "Meta",
                (),
                {"ref_name": f"{camelize(operation_id)}WholeBody{package_settings.ERROR_COMPONENT_NAME_SUFFIX}"},
            ),
        },
    )


class AutoSchema(StandardizedErrorsAutoSchema):
    """drf-standardized-errors' schema, told which operations can answer 409, 413 and 422.

    A view declares ``idempotent_actions`` (the actions that honour ``Idempotency-Key``); a paginator
    declares ``validation_error_codes`` (its query parameters and their error codes), and so may a view
    (``query_validation_error_codes``) that validates query parameters itself; a serializer
    with ``rejects_unknown_fields`` gets ``additionalProperties: false`` in its request schema, and a view
    with ``rejects_unknown_query_parameters`` (fido/query.py) documents the 400 of an unknown parameter.
    """

    def _is_idempotent(self) -> bool:
        return self.method == "POST" and getattr(self.view, "action", None) in getattr(
            self.view, "idempotent_actions", ()
        )

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "413":
            return status_code not in responses and self.method in BODY_METHODS
        if status_code in ("409", "422"):
            return status_code not in responses and self._is_idempotent()
        return super()._should_add_error_response(responses, status_code)

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        errors = dict(super()._get_extra_validation_errors())
        paginator = self._get_paginator()
        if paginator is not None and self._is_list_view():
            for field, codes in getattr(paginator, "validation_error_codes", {}).items():
                errors.setdefault(field, set()).update(codes)
        for field, codes in getattr(self.view, "query_validation_error_codes", {}).items():
            errors.setdefault(field, set()).update(codes)
        if self._is_idempotent():
            errors.setdefault(IDEMPOTENCY_HEADER, set()).add("invalid")
        return errors

    def _rejects_unknown_fields(self) -> bool:
        return self.method in BODY_METHODS and getattr(self.get_request_serializer(), "rejects_unknown_fields", False)

    def _rejects_unknown_query_parameters(self) -> bool:
        return getattr(self.view, "rejects_unknown_query_parameters", False)

    def _should_add_validation_error_response(self) -> bool:
        return super()._should_add_validation_error_response() or self._rejects_unknown_query_parameters()

    def _get_serializer_for_validation_error_response(self):
        extras = []
        operation_id = self.get_operation_id()
        if self._rejects_unknown_fields():
            extras.append(_any_name_error(operation_id, "ExtraField", ExtraFieldCodeEnum))
        if self._rejects_unknown_query_parameters():
            extras.append(_any_name_error(operation_id, "ExtraParameter", ExtraParameterCodeEnum))
        codes_by_field = self._get_validation_error_codes_by_field(self._determine_fields_with_error_codes())
        whole = codes_by_field.pop(api_settings.NON_FIELD_ERRORS_KEY, None)
        if whole:
            extras.append(_whole_request_error(operation_id, whole))
        if not extras:
            return super()._get_serializer_for_validation_error_response()
        # As drf-standardized-errors builds it (one error component per field), plus one for an error about the
        # whole body (`attr` null: fido/exceptions.py), and one for a field or query parameter the operation does
        # not take, whose `attr` can be any name: a oneOf without discriminator.
        per_field = [get_error_serializer(operation_id, name, codes) for name, codes in codes_by_field.items()]
        errors = PolymorphicProxySerializer(
            component_name=f"{camelize(operation_id)}Error",
            serializers=[*per_field, *extras],
            resource_type_field_name=None,
            many=True,
        )
        return type(
            "ValidationErrorSerializer",
            (serializers.Serializer,),
            {
                "type": serializers.ChoiceField(choices=ValidationErrorEnum.choices),
                "errors": errors,
                "Meta": type("Meta", (), {"ref_name": f"{camelize(operation_id)}ValidationError"}),
            },
        )

    def _get_filter_parameters(self):
        # An empty filter value (`?user_id=`) means no filter, as HTML forms send it. A filter whose schema is
        # given by its class (transactions/filters.py) is described by its own help text.
        filters = getattr(getattr(self.view, "filterset_class", None), "base_filters", {})
        parameters = []
        for parameter in super()._get_filter_parameters():
            if parameter.get("in") == "query":
                parameter = {**parameter, "allowEmptyValue": True}
                found = filters.get(parameter["name"])
                if "description" not in parameter and found is not None and found.extra.get("help_text"):
                    parameter["description"] = found.extra["help_text"]
            parameters.append(parameter)
        return parameters

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and getattr(serializer, "rejects_unknown_fields", False):
            # Tell clients and fuzzers that an extra field is an error, as the serializer says.
            schema["additionalProperties"] = False
        return schema

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        if not response.get("description") and str(status_code) in DESCRIPTIONS:
            response["description"] = DESCRIPTIONS[str(status_code)]
        return response

    def _get_error_response_examples(self) -> list[OpenApiExample]:
        return super()._get_error_response_examples() + [
            example for example in EXAMPLES if set(example.status_codes) & set(self._get_allowed_error_status_codes())
        ]

"""JSON parsing that never turns money into a float."""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .logs import remember_body_secrets

MAX_DEPTH = 64


def _check_structure(data) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings holding a lone surrogate (a `\\ud800` escape).

    Depth is capped so that no later stage (validation, fingerprinting, error rendering) can run out
    of stack on a body that json.loads happened to accept; a lone surrogate cannot be encoded as
    UTF-8, so it could not even be echoed back in an error.
    """
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise ParseError("JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff)") from None
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


class DecimalJSONParser(JSONParser):
    """Parses JSON numbers with a fraction as Decimal, never float.

    The non-standard constants NaN and Infinity become Decimal too, so that the field they were sent
    for rejects them and the 400 names it (no field accepts a non-finite number).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
        except (ValueError, LookupError) as exc:  # LookupError: an unknown charset
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from exc
        # The names in the body stay out of every log line of this request from here on.
        remember_body_secrets(data)
        _check_structure(data)
        return data

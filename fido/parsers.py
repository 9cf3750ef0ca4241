"""JSON parsing that never turns money into a float."""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_lone_surrogate(data) -> bool:
    """True when a key or string anywhere in `data` holds a lone surrogate (a `\\ud800` escape).

    Such a string cannot be encoded as UTF-8, so it could not even be echoed back in an error.
    """
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
            raise ParseError("JSON parse error - nested too deeply") from exc
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff)")
        return data

"""JSON parsing that never turns money into a float and never lets a repeated key decide a value."""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .logs import remember_body_secrets

MAX_DEPTH = 64
MAX_KEY_SHOWN = 100


def _object_without_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict; a key given twice, at any depth, is refused.

    Python's json (like many parsers) keeps the last value of a repeated key while others keep the first,
    so `{"transaction_amount": "10.00", "transaction_amount": "99999.00"}` could be read as two different
    bodies by a gateway and by us: refusing it is the only reading both agree on.
    """
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        for key, _value in pairs:
            if key in seen:
                shown = key if len(key) <= MAX_KEY_SHOWN else f"{key[:MAX_KEY_SHOWN]}…"
                shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate, escaped
                raise ParseError(f'JSON parse error - the key "{shown}" is repeated in one object')
            seen.add(key)
    return data


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
    for rejects them and the 400 names it (no field accepts a non-finite number). An object that repeats
    a key is a 400.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(
                text, parse_float=Decimal, parse_constant=Decimal, object_pairs_hook=_object_without_repeated_keys
            )
        except (ValueError, LookupError) as exc:  # LookupError: an unknown charset
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from exc
        # The names in the body stay out of every log line of this request from here on.
        remember_body_secrets(data)
        _check_structure(data)
        return data

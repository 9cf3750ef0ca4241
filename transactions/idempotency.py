"""The idempotency contract of POST (docs/api.md, "Idempotent POST"), with its state in the database.

A request first *claims* its (client, key) in a short transaction of its own, so a concurrent
repeat sees it in progress (409). The write and the record of its response then commit together:
if the process dies in between, nothing was written, and the claim lapses after its lease so a
retry can take it over. The stored response is encrypted, since it holds the name, and names the
transaction it shows, so that deleting the transaction deletes the record with it (the model's foreign
key); transactions/retention.py deletes the other records after their 24 hours.
"""

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from fido.errors import Conflict, UnprocessableEntity

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
LEASE = timedelta(seconds=30)


class IdempotencyKeyMismatch(UnprocessableEntity):
    default_detail = "This idempotency key was already used with a different request body."
    default_code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    default_detail = "A request with this idempotency key is still in progress."
    default_code = "idempotency_in_progress"


@dataclass(frozen=True)
class Claim:
    record_id: int
    owner_token: str


def read_key(request) -> str | None:
    """The request's Idempotency-Key, None when absent; a malformed one is a 400."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.match(key):
        raise ValidationError({HEADER: ["Must be 1 to 255 visible ASCII characters."]})
    return key


def fingerprint(request) -> str:
    """Keyed (FIELD_HASH_KEY) so that a stored fingerprint cannot be matched against guessed names."""
    body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    message = f"{request.method} {request.path}\n{body}".encode()
    return hmac.new(settings.FIELD_HASH_KEY.encode(), message, hashlib.sha256).hexdigest()


def _claim(*, client, key: str, request_fingerprint: str) -> Claim | IdempotencyRecord:
    """Take the key for this request, or return the completed record to replay."""
    # Two rounds at most: a record seen by the insert can be released before we lock it.
    for _ in range(2):
        outcome = _insert_claim(client=client, key=key, request_fingerprint=request_fingerprint)
        if outcome is None:
            outcome = _take_over_claim(client=client, key=key, request_fingerprint=request_fingerprint)
        if outcome is not None:
            return outcome
    raise IdempotencyInProgress()


def _insert_claim(*, client, key: str, request_fingerprint: str) -> Claim | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                client=client,
                key=key,
                request_fingerprint=request_fingerprint,
                owner_token=token,
                locked_until=now + LEASE,
                created_at=now,
            )
    except IntegrityError:
        return None
    return Claim(record.pk, token)


def _take_over_claim(*, client, key: str, request_fingerprint: str) -> Claim | IdempotencyRecord | None:
    now = timezone.now()
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().filter(client=client, key=key).first()
        if record is None:
            return None
        expired = record.created_at <= now - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
        if expired:
            record.request_fingerprint = request_fingerprint
            record.state = IdempotencyRecord.State.IN_PROGRESS
            record.response_status = None
            record.response_body = None
            record.response_location = ""
            record.transaction_id = None
            record.created_at = now
        elif record.request_fingerprint != request_fingerprint:
            raise IdempotencyKeyMismatch()
        elif record.state == IdempotencyRecord.State.COMPLETED:
            return record
        elif record.locked_until > now:
            raise IdempotencyInProgress()
        # Free (expired) or abandoned by a request that died before committing: take it over.
        record.owner_token = uuid.uuid4().hex
        record.locked_until = now + LEASE
        record.save()
        return Claim(record.pk, record.owner_token)


def _release(claim: Claim) -> None:
    IdempotencyRecord.objects.filter(
        pk=claim.record_id, owner_token=claim.owner_token, state=IdempotencyRecord.State.IN_PROGRESS
    ).delete()


def _complete(claim: Claim, response: Response) -> None:
    record = IdempotencyRecord.objects.select_for_update().filter(pk=claim.record_id).first()
    if record is None or record.owner_token != claim.owner_token or record.state != IdempotencyRecord.State.IN_PROGRESS:
        # Our lease lapsed and another request took the key: roll our write back.
        raise IdempotencyInProgress()
    record.state = IdempotencyRecord.State.COMPLETED
    record.response_status = response.status_code
    record.response_body = json.dumps(response.data, cls=DjangoJSONEncoder)
    record.response_location = response.headers.get("Location", "")
    record.transaction_id = _created_transaction_id(response)
    record.save()


def _created_transaction_id(response: Response) -> int | None:
    """The transaction a stored response shows, so that the record (and the name in it) goes with it.

    The idempotent POST creates a transaction and answers 201 with it; any other answer shows none.
    """
    data = response.data
    if response.status_code == HTTPStatus.CREATED and isinstance(data, dict) and isinstance(data.get("id"), int):
        return data["id"]
    return None


def replay(record: IdempotencyRecord) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if record.response_location:
        headers["Location"] = record.response_location
    return Response(json.loads(record.response_body), status=record.response_status, headers=headers)


def run_idempotently(request, perform: Callable[[], Response]) -> Response:
    """Run `perform` (a write) at most once per client and Idempotency-Key, replaying its response."""
    key = read_key(request)
    if key is None:
        return perform()
    outcome = _claim(client=request.user, key=key, request_fingerprint=fingerprint(request))
    if isinstance(outcome, IdempotencyRecord):
        return replay(outcome)
    try:
        with transaction.atomic():
            response = perform()
            _complete(outcome, response)
    except IdempotencyInProgress:
        raise
    except Exception:
        # The write failed (bad input, say) and nothing was stored: free the key for a corrected retry.
        _release(outcome)
        raise
    return response

"""The audit trail of transactions: who changed which one, when, from what to what. Append-only.

- Recording: ``services.py`` calls one ``record_*`` function per write, inside the write's database
  transaction, so the record commits or rolls back with the change: one INSERT, no extra read (an update
  is recorded from the row the service has already locked and the changes it is about to apply).
- Who: the API client's name or the staff user's username (``AuditContextMiddleware`` keeps the request,
  whose user DRF sets once it has authenticated), a command's name (``command_context``), else ``system``.
  The request id is the one the logs carry (fido/logs.py); a command makes one per run and logs with it.
- The name is kept only as ciphertext (``name_from`` / ``name_to``, rotated with every other encrypted
  column), so the history can show it to those allowed to see names, masked to everyone else.
- Append-only: the model refuses updates and deletes; on PostgreSQL a trigger does too (migration
  0004). Two narrow ways through, each a transaction-local setting the trigger checks: the retention
  purge (``audit_purge``, only records older than ``MIN_RETENTION_DAYS``) and key rotation
  (``allow_reencryption``, only the two ciphertext columns).
"""

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from fido.db_router import PRIMARY
from fido.logs import request_id_var

from .masking import mask_name
from .models import AuditRecord, Transaction
from .rules import CENT, WRITABLE_FIELDS

Action = AuditRecord.Action
ActorKind = AuditRecord.ActorKind

SYSTEM_ACTOR = "system"
# The commands that write transactions, each running under command_context (the admin offers them as actors).
WRITING_COMMANDS = ("seed_demo",)
# The floor of AUDIT_RETENTION_DAYS: no purge deletes a younger record (the PostgreSQL trigger holds the same number).
MIN_RETENTION_DAYS = 365
# The fields a record's `changes` holds; the name goes to the ciphertext columns instead.
VALUE_FIELDS = tuple(field for field in WRITABLE_FIELDS if field != "full_name")
# Transaction-local settings the PostgreSQL trigger checks (migration 0004).
_PURGE_SETTING = "fido.audit_purge"
_REENCRYPT_SETTING = "fido.audit_reencrypt"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, as the audit names them."""

    name: str
    kind: str


_actor: ContextVar[Actor | None] = ContextVar("fido_audit_actor", default=None)
_request: ContextVar[object | None] = ContextVar("fido_audit_request", default=None)


class AuditContextMiddleware:
    """Makes the request being served known to the audit, which reads its user when a write is recorded.

    The user is read then, not here: DRF authenticates API clients inside the view, and sets the
    user it found on this request too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def command_actor(name: str) -> str:
    """How the audit names a management command."""
    return f"manage.py {name}"


@contextlib.contextmanager
def command_context(name: str) -> Iterator[str]:
    """Within it, writes are recorded as made by `manage.py <name>`, under a request id made for this run.

    The id is set for the logs too, so the command's log lines and its audit records share it.
    """
    request_id = uuid.uuid4().hex
    actor_token = _actor.set(Actor(command_actor(name), ActorKind.COMMAND))
    id_token = request_id_var.set(request_id)
    try:
        yield request_id
    finally:
        request_id_var.reset(id_token)
        _actor.reset(actor_token)


def current_actor() -> Actor:
    """The command running, or the request's client or staff user, or `system`."""
    actor = _actor.get()
    if actor is not None:
        return actor
    user = getattr(_request.get(), "user", None)
    if user is not None and user.is_authenticated:
        # fido/authentication.py gives an API client's user its scope; a session user has none.
        kind = ActorKind.CLIENT if getattr(user, "api_scope", None) else ActorKind.STAFF
        return Actor(user.get_username(), kind)
    return Actor(SYSTEM_ACTOR, ActorKind.SYSTEM)


def current_request_id() -> str:
    """The request id of the request being served (as its log lines carry it), else the logs' current one."""
    return getattr(_request.get(), "request_id", None) or request_id_var.get() or ""


def audit_value(field: str, value):
    """A field's value as the API writes it: amounts with 2 places, instants in UTC ISO 8601."""
    if value is None:
        return None
    if field == "transaction_amount":
        return str(Decimal(value).quantize(CENT))
    if field == "transaction_date":
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _values(txn: Transaction) -> dict:
    return {field: audit_value(field, getattr(txn, field)) for field in VALUE_FIELDS}


def _append(*, action: str, **fields) -> AuditRecord:
    actor = current_actor()
    return AuditRecord.objects.create(
        action=action, actor=actor.name, actor_kind=actor.kind, request_id=current_request_id(), **fields
    )


def record_created(txn: Transaction) -> AuditRecord:
    """Record a new transaction: every field from nothing to its value."""
    changes = {field: {"from": None, "to": value} for field, value in _values(txn).items()}
    return _append(action=Action.CREATED, transaction_id=txn.pk, changes=changes, name_to=txn.full_name)


def record_update(txn: Transaction, changes: dict) -> AuditRecord:
    """Record an update about to be applied to `txn` (as loaded, locked): the fields whose value changes.

    Called before the change is applied, in the same database transaction: if applying it fails,
    the record is rolled back with it.
    """
    before = _values(txn)
    after = {field: audit_value(field, changes.get(field, getattr(txn, field))) for field in VALUE_FIELDS}
    changed = {
        field: {"from": before[field], "to": after[field]} for field in VALUE_FIELDS if before[field] != after[field]
    }
    name_changed = "full_name" in changes and changes["full_name"] != txn.full_name
    return _append(
        action=Action.UPDATED,
        transaction_id=txn.pk,
        changes=changed,
        name_from=txn.full_name if name_changed else None,
        name_to=changes["full_name"] if name_changed else None,
    )


def record_deleted(txn: Transaction) -> AuditRecord:
    """Record a transaction about to be deleted: every field from its value to nothing."""
    changes = {field: {"from": value, "to": None} for field, value in _values(txn).items()}
    return _append(action=Action.DELETED, transaction_id=txn.pk, changes=changes, name_from=txn.full_name)


def id_runs(ids: Iterable[int]) -> list[list[int]]:
    """Ids as [first, last] runs of consecutive numbers: one run for a load nothing else wrote during."""
    runs: list[list[int]] = []
    for txn_id in sorted(ids):
        if runs and txn_id == runs[-1][1] + 1:
            runs[-1][1] = txn_id
        else:
            runs.append([txn_id, txn_id])
    return runs


def record_bulk_created(txns: list[Transaction]) -> AuditRecord | None:
    """Record one bulk load (one batch, one database transaction): how many rows, and their ids."""
    if not txns:
        return None
    ids = [txn.pk for txn in txns if txn.pk is not None]
    runs = id_runs(ids) if len(ids) == len(txns) else None  # ids unknown where the database returns none
    return _append(
        action=Action.CREATED,
        row_count=len(txns),
        id_ranges=runs,
        first_id=runs[0][0] if runs else None,
        last_id=runs[-1][1] if runs else None,
    )


def _covers(record: AuditRecord, txn_id: int) -> bool:
    return record.transaction_id == txn_id or any(first <= txn_id <= last for first, last in record.id_ranges or ())


def audit_history(*, txn_id: int) -> list[AuditRecord]:
    """A transaction's audit records, oldest first: its own, and the bulk load that inserted it."""
    candidates = AuditRecord.objects.filter(
        Q(transaction_id=txn_id) | Q(first_id__isnull=False, first_id__lte=txn_id, last_id__gte=txn_id)
    ).order_by("id")
    return [record for record in candidates if _covers(record, txn_id)]


def changed_fields(record: AuditRecord) -> list[str]:
    """The fields a record says changed, in field order."""
    name_changed = record.name_from is not None or record.name_to is not None
    return [field for field in WRITABLE_FIELDS if field in record.changes or (field == "full_name" and name_changed)]


def changes_shown(record: AuditRecord, *, full_names: bool) -> dict:
    """A record's changes in field order, the name decrypted, and masked unless `full_names`."""
    changes = dict(record.changes)
    if record.name_from is not None or record.name_to is not None:
        shown = [name if name is None or full_names else mask_name(name) for name in (record.name_from, record.name_to)]
        changes["full_name"] = {"from": shown[0], "to": shown[1]}
    return {field: changes[field] for field in WRITABLE_FIELDS if field in changes}


def _set_local(setting: str, using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [setting])


def allow_reencryption(using: str = PRIMARY) -> None:
    """Let this database transaction rewrite the audit's ciphertext columns, and nothing else (key rotation)."""
    _set_local(_REENCRYPT_SETTING, using)


def retention_cutoff(now: datetime | None = None) -> datetime | None:
    """The moment before which records are purged, or None when AUDIT_RETENTION_DAYS is 0 (keep forever)."""
    days = settings.AUDIT_RETENTION_DAYS
    return None if not days else (now or timezone.now()) - timedelta(days=days)


def audit_purge(*, before: datetime, batch_size: int = 10_000, max_batches: int | None = None) -> int:
    """Delete the records older than `before` in batches, each its own transaction; return how many.

    The one path that deletes audit records. Refuses a cutoff younger than MIN_RETENTION_DAYS (the
    PostgreSQL trigger refuses such rows as well).
    """
    if before > timezone.now() - timedelta(days=MIN_RETENTION_DAYS):
        raise ValueError(f"Audit records are kept at least {MIN_RETENTION_DAYS} days.")
    purged = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(using=PRIMARY):
            ids = list(
                AuditRecord.objects.using(PRIMARY)
                .filter(at__lt=before)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            _set_local(_PURGE_SETTING, PRIMARY)
            # The base class's delete: AuditRecordQuerySet refuses deletes on every other path.
            deleted, _ = models.QuerySet.delete(AuditRecord.objects.using(PRIMARY).filter(id__in=ids))
        purged += deleted
        batches += 1
    return purged

"""The audit trail in the back office: admin writes recorded under the staff user, a read-only audit list
(superusers included) filterable by actor, action and date, and each transaction's history on its page."""

import datetime as dt
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from transactions import services
from transactions.models import AuditRecord

from .conftest import make_txn
from .test_transaction_admin import ADD, change_url, form_body

pytestmark = pytest.mark.django_db

AUDIT_LIST = reverse("admin:transactions_auditrecord_changelist")


def audit_rows(response) -> list[AuditRecord]:
    assert response.status_code == HTTPStatus.OK
    return list(response.context["cl"].result_list)


def test_admin_add_change_and_delete_are_recorded_under_the_staff_user(admin_client, admin_user):
    added = admin_client.post(ADD, form_body(), HTTP_X_REQUEST_ID="admin-add-1")
    assert added.status_code == HTTPStatus.FOUND
    record = AuditRecord.objects.get()
    txn_id = record.transaction_id
    changed = admin_client.post(
        reverse("admin:transactions_transaction_change", args=[txn_id]), form_body(transaction_amount="300.00")
    )
    assert changed.status_code == HTTPStatus.FOUND
    deleted = admin_client.post(reverse("admin:transactions_transaction_delete", args=[txn_id]), {"post": "yes"})
    assert deleted.status_code == HTTPStatus.FOUND

    records = list(AuditRecord.objects.order_by("id"))
    assert [(r.action, r.actor, r.actor_kind) for r in records] == [
        ("created", admin_user.username, "staff"),
        ("updated", admin_user.username, "staff"),
        ("deleted", admin_user.username, "staff"),
    ]
    assert records[0].request_id == "admin-add-1"
    assert records[1].request_id == changed["X-Request-ID"]
    assert records[1].changes == {"transaction_amount": {"from": "250.00", "to": "300.00"}}
    assert records[0].name_to == "Kwame Nkrumah"


def test_the_bulk_delete_action_records_each_row(admin_client):
    txns = [make_txn(user_id=user_id) for user_id in (1, 2, 3)]
    response = admin_client.post(
        reverse("admin:transactions_transaction_changelist"),
        {"action": "delete_selected", "_selected_action": [txn.pk for txn in txns], "post": "yes"},
    )
    assert response.status_code == HTTPStatus.FOUND
    deleted = AuditRecord.objects.filter(action="deleted")
    assert sorted(deleted.values_list("transaction_id", flat=True)) == sorted(txn.pk for txn in txns)
    assert set(deleted.values_list("actor", flat=True)) == {"admin"}


def test_the_audit_list_filters_by_actor_action_and_date(admin_client):
    txn = make_txn()  # recorded as `system`: no request, no command
    services.transaction_delete(txn_id=txn.pk)
    old = AuditRecord.objects.create(
        at=timezone.now() - dt.timedelta(days=400),
        actor="ledger",
        actor_kind="client",
        action="created",
        transaction_id=9,
    )

    assert len(audit_rows(admin_client.get(AUDIT_LIST))) == 3
    assert audit_rows(admin_client.get(AUDIT_LIST, {"actor": "ledger"})) == [old]
    assert [r.action for r in audit_rows(admin_client.get(AUDIT_LIST, {"action": "deleted"}))] == ["deleted"]
    now = timezone.now()  # the bounds the date filter's "Past 7 days" sends
    this_week = {"at__gte": str(now - dt.timedelta(days=7)), "at__lt": str(now + dt.timedelta(days=1))}
    assert old not in audit_rows(admin_client.get(AUDIT_LIST, this_week))
    assert len(audit_rows(admin_client.get(AUDIT_LIST, this_week))) == 2
    # The actor filter offers users and the writing commands without scanning the audit table.
    page = admin_client.get(AUDIT_LIST).text
    assert "?actor=admin" in page
    assert "?actor=manage.py+seed_demo" in page


def test_the_audit_list_finds_a_deleted_transaction_by_id_and_a_request_by_its_id(admin_client, write_client, txn_body):
    created = write_client.post("/api/v1/transactions/", txn_body, format="json", HTTP_X_REQUEST_ID="find-me")
    txn_id = created.json()["id"]
    write_client.delete(f"/api/v1/transactions/{txn_id}/")

    by_id = audit_rows(admin_client.get(AUDIT_LIST, {"q": str(txn_id)}))
    by_link = audit_rows(admin_client.get(AUDIT_LIST, {"transaction_id": str(txn_id)}))
    by_request = audit_rows(admin_client.get(AUDIT_LIST, {"q": "find-me"}))

    assert sorted(r.action for r in by_id) == ["created", "deleted"]
    assert by_link == by_id
    assert [r.action for r in by_request] == ["created"]


def test_nobody_can_add_change_or_delete_a_record_in_the_admin_not_even_a_superuser(admin_client):
    make_txn(full_name="Ama Mensah")
    record = AuditRecord.objects.get()
    change = reverse("admin:transactions_auditrecord_change", args=[record.pk])

    assert admin_client.get(reverse("admin:transactions_auditrecord_add")).status_code == HTTPStatus.FORBIDDEN
    delete = reverse("admin:transactions_auditrecord_delete", args=[record.pk])
    assert admin_client.get(delete).status_code == HTTPStatus.FORBIDDEN
    assert admin_client.post(delete, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert admin_client.post(change, {"actor": "someone else", "action": "deleted"}).status_code == HTTPStatus.FORBIDDEN
    listing = admin_client.get(AUDIT_LIST)
    assert 'name="action"' not in listing.text  # no actions, delete_selected included
    admin_client.post(AUDIT_LIST, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})

    assert list(AuditRecord.objects.values_list("pk", "actor", "action")) == [(record.pk, "system", "created")]
    view = admin_client.get(change)
    assert view.status_code == HTTPStatus.OK
    assert 'name="_save"' not in view.text and 'name="_continue"' not in view.text  # read-only: no save
    assert "Ama Mensah" in view.text  # a superuser holds view_full_name


def test_a_record_page_masks_the_name_for_staff_without_the_name_permission(staff_client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_auditrecord"))
    make_txn(full_name="Ama Mensah")
    record = AuditRecord.objects.get()

    page = staff_client.get(reverse("admin:transactions_auditrecord_change", args=[record.pk])).text
    assert "A*** M*****" in page
    assert "Ama Mensah" not in page


def test_staff_without_the_audit_permission_do_not_see_the_list(staff_client):
    assert staff_client.get(AUDIT_LIST).status_code == HTTPStatus.FORBIDDEN


def test_the_transaction_page_shows_its_history_masked_per_viewer(staff_client, staff_user, admin_client, txn):
    services.transaction_update(txn_id=txn.pk, full_name="Kofi Boateng", transaction_amount="99.00")

    clerk = staff_client.get(change_url(txn)).text
    admin = admin_client.get(change_url(txn)).text

    assert 'id="audit-trail"' in clerk
    assert "A*** M*****" in clerk and "K*** B******" in clerk and "99.00" in clerk
    assert "Kofi Boateng" not in clerk.split('id="audit-trail"')[1]
    assert f"{AUDIT_LIST}?transaction_id={txn.pk}" not in clerk  # no audit permission: no link to the list
    assert "Ama Mensah" in admin and f"{AUDIT_LIST}?transaction_id={txn.pk}" in admin

"""The transaction admin: masking, search through the name hash, writes through the services."""

import datetime as dt
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from transactions import fields
from transactions.models import OutboxEvent, Transaction
from transactions.signals import transaction_written

from .conftest import make_txn

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:transactions_transaction_changelist")
ADD = reverse("admin:transactions_transaction_add")


def change_url(txn):
    return reverse("admin:transactions_transaction_change", args=[txn.pk])


def results(response) -> list[Transaction]:
    assert response.status_code == HTTPStatus.OK
    return list(response.context["cl"].result_list)


def form_body(**overrides) -> dict:
    return {
        "user_id": "42",
        "full_name": "Kwame Nkrumah",
        "transaction_date_0": "2026-03-02",
        "transaction_date_1": "09:30:00",
        "transaction_amount": "250.00",
        "transaction_type": "debit",
        **overrides,
    }


def test_list_masks_names_for_staff_without_the_permission(staff_client, txn):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == HTTPStatus.OK
    assert "A*** M*****" in response.text
    assert "Ama Mensah" not in response.text


def test_list_shows_names_to_staff_with_the_permission(staff_client, staff_user, txn):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_full_name"))
    response = staff_client.get(CHANGELIST)
    assert "Ama Mensah" in response.text
    assert "A*** M*****" not in response.text


def test_superuser_sees_names(admin_client, txn):
    assert "Ama Mensah" in admin_client.get(CHANGELIST).text


def test_change_form_masks_the_name_without_the_permission(staff_client, txn):
    response = staff_client.get(change_url(txn))
    assert response.status_code == HTTPStatus.OK
    assert "A*** M*****" in response.text
    assert "Ama Mensah" not in response.text
    assert 'name="full_name"' not in response.text


def test_change_form_shows_an_editable_name_with_the_permission(admin_client, txn):
    response = admin_client.get(change_url(txn))
    assert 'name="full_name"' in response.text
    assert 'value="Ama Mensah"' in response.text


def test_timestamps_are_read_only(admin_client, txn):
    response = admin_client.get(change_url(txn))
    assert 'name="created_at"' not in response.text
    assert 'name="updated_at"' not in response.text
    assert "Created at" in response.text


def test_search_by_exact_name_finds_the_row_and_a_near_miss_does_not(admin_client):
    wanted = make_txn(user_id=42, full_name="Ama Mensah")
    make_txn(user_id=43, full_name="Ama Mensa")
    make_txn(user_id=44, full_name="Kofi Ama Mensah")

    assert results(admin_client.get(CHANGELIST, {"q": "Ama Mensah"})) == [wanted]
    assert results(admin_client.get(CHANGELIST, {"q": "  ama   MENSAH "})) == [wanted]
    assert results(admin_client.get(CHANGELIST, {"q": "Ama Mens"})) == []
    assert results(admin_client.get(CHANGELIST, {"q": "Mensah"})) == []


def test_search_by_user_id(admin_client):
    mine = [make_txn(user_id=7, day=dt.date(2026, 3, day)) for day in (1, 2)]
    make_txn(user_id=77)
    assert set(results(admin_client.get(CHANGELIST, {"q": "7"}))) == set(mine)
    assert results(admin_client.get(CHANGELIST, {"q": str(2**63)})) == []


def test_name_search_decrypts_only_the_rows_it_shows(admin_client, monkeypatch):
    make_txn(user_id=42, full_name="Ama Mensah")
    for user_id in range(100, 130):
        make_txn(user_id=user_id, full_name=f"Someone Else {user_id}")
    decrypted = []
    real_decrypt = fields.decrypt_str
    monkeypatch.setattr(fields, "decrypt_str", lambda token: decrypted.append(token) or real_decrypt(token))

    assert len(results(admin_client.get(CHANGELIST, {"q": "Ama Mensah"}))) == 1
    assert 1 <= len(decrypted) <= 2  # the row shown (and its repr in the page), never the other 30


def test_each_row_links_to_the_user_analytics_page(admin_client, txn):
    response = admin_client.get(CHANGELIST)
    assert f"{reverse('admin:user-analytics')}?user_id=42" in response.text


def test_filters_by_type(admin_client):
    credit = make_txn(kind="credit")
    make_txn(kind="debit")
    assert results(admin_client.get(CHANGELIST, {"transaction_type__exact": "credit"})) == [credit]


def test_adding_goes_through_the_service(admin_client):
    written = []

    def receiver(sender, before, after, **kwargs):
        written.append((before, after))

    transaction_written.connect(receiver)
    try:
        response = admin_client.post(ADD, form_body())
    finally:
        transaction_written.disconnect(receiver)
    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    txn = Transaction.objects.get()
    assert (txn.user_id, txn.full_name, txn.transaction_amount) == (42, "Kwame Nkrumah", Decimal("250.00"))
    assert txn.transaction_date == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    assert written == [(None, written[0][1])] and written[0][1].id == txn.pk
    assert list(OutboxEvent.objects.values_list("kind", "transaction_id")) == [("created", txn.pk)]


def test_staff_without_the_permission_can_add_typing_the_name(staff_client):
    response = staff_client.get(ADD)
    assert 'name="full_name"' in response.text
    assert staff_client.post(ADD, form_body()).status_code == HTTPStatus.FOUND
    assert Transaction.objects.get().full_name == "Kwame Nkrumah"


def test_changing_goes_through_the_service_and_keeps_the_hidden_name(staff_client, txn):
    body = form_body(user_id="43", transaction_amount="99.99", transaction_type="credit")
    del body["full_name"]
    response = staff_client.post(change_url(txn), body)
    assert response.status_code == HTTPStatus.FOUND
    txn.refresh_from_db()
    assert (txn.user_id, txn.full_name, txn.transaction_amount) == (43, "Ama Mensah", Decimal("99.99"))
    event = OutboxEvent.objects.get(kind="updated")
    assert (event.transaction_id, event.user_id, event.previous_user_id) == (txn.pk, 43, 42)


def test_deleting_goes_through_the_service(admin_client, txn):
    response = admin_client.post(reverse("admin:transactions_transaction_delete", args=[txn.pk]), {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert not Transaction.objects.exists()
    assert OutboxEvent.objects.filter(kind="deleted", transaction_id=txn.pk).exists()


def test_bulk_delete_goes_through_the_service(admin_client):
    txns = [make_txn(user_id=user_id) for user_id in (1, 2, 3)]
    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [txn.pk for txn in txns[:2]], "post": "yes"},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert list(Transaction.objects.values_list("user_id", flat=True)) == [3]
    assert OutboxEvent.objects.filter(kind="deleted").count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", "0"),
        ("transaction_amount", "0"),
        ("transaction_amount", "1.005"),
        ("transaction_amount", "1000000000000.00"),
        ("full_name", "Ama\x07Mensah"),
        ("full_name", "Ama\u2028Mensah"),
        ("full_name", "Ama\u2029Mensah"),
        ("full_name", "   "),
        ("transaction_date_0", "2999-01-01"),
        ("transaction_type", "refund"),
    ],
)
def test_the_form_applies_the_api_rules(admin_client, field, value):
    response = admin_client.post(ADD, form_body(**{field: value}))
    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors
    assert not Transaction.objects.exists()

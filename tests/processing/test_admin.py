"""Back office for processing results: alerts acknowledged from admin; statistics and profiles read-only."""

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.test import override_settings

from analytics.models import Alert

pytestmark = pytest.mark.django_db


@override_settings(LARGE_TRANSACTION_THRESHOLD=Decimal("1000.00"))
def test_staff_acknowledge_alerts_from_the_list(write_api, admin_client, admin_user):
    txn = write_api.create(transaction_amount="5000.00")
    alert = Alert.objects.get(transaction_id=txn["id"])

    response = admin_client.post(
        "/admin/analytics/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True
    )

    assert response.status_code == HTTPStatus.OK
    alert.refresh_from_db()
    assert alert.acknowledged
    assert alert.acknowledged_by == admin_user
    assert alert.acknowledged_at is not None


@pytest.mark.parametrize("model", ["alert", "userstatistics", "creditprofile"])
def test_processing_results_are_inspectable_but_not_editable(write_api, admin_client, model):
    write_api.create(transaction_amount="25000.00")

    changelist = admin_client.get(f"/admin/analytics/{model}/")
    add = admin_client.get(f"/admin/analytics/{model}/add/")

    assert changelist.status_code == HTTPStatus.OK
    assert b"Ama Mensah" not in changelist.content
    assert add.status_code == HTTPStatus.FORBIDDEN

"""Every registered model's changelist, add form and change form render; the admin works with DEBUG off."""

import datetime as dt
import re
from decimal import Decimal
from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from analytics import processing
from transactions.models import OutboxEvent
from transactions.services import transaction_create

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label for model, _ in REGISTERED]


@pytest.fixture
def some_of_everything(admin_user, django_capture_on_commit_callbacks):
    """At least one row of every model we can make; processing runs so derived models get rows too."""
    with django_capture_on_commit_callbacks(execute=True):
        for amount in ("120.00", "25000.00"):  # the second is large enough to raise an alert
            transaction_create(
                user_id=42,
                full_name="Ama Mensah",
                transaction_date=dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC),
                transaction_amount=Decimal(amount),
                transaction_type="credit",
            )
    # With a broker (services mode) no worker runs here: apply the events as the worker would
    # (idempotent, so a no-op for events the embedded mode already processed).
    for event_id in OutboxEvent.objects.values_list("id", flat=True):
        processing.process_event(event_id=event_id)
    Group.objects.create(name="back-office")
    # A failed admin login: the login rate limit's attempt and failure rows (django-axes).
    Client().post(reverse("admin:login"), {"username": "nobody", "password": "wrong-password"})
    call_command("create_api_client", "smoke-reader", scope="read", stdout=StringIO(), stderr=StringIO())


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_changelist_and_forms_render(admin_client, some_of_everything, model, model_admin):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == HTTPStatus.OK
    response = admin_client.get(url(model, "changelist"), {"q": "42"})
    assert response.status_code == HTTPStatus.OK

    if model_admin.has_add_permission(response.wsgi_request):
        assert admin_client.get(url(model, "add")).status_code == HTTPStatus.OK

    obj = model._default_manager.first()
    assert obj is not None, f"the fixture made no {model._meta.label} row"
    assert admin_client.get(url(model, "change", obj.pk)).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "path", ["admin:index", "admin:user-analytics", "admin:password_change", "admin:transactions_transaction_add"]
)
def test_site_pages_render(admin_client, some_of_everything, path):
    assert admin_client.get(reverse(path), {"user_id": 42} if "analytics" in path else {}).status_code == HTTPStatus.OK


@pytest.fixture
def collected_static(tmp_path):
    """Static files collected as for production: hashed names and a manifest, served by WhiteNoise."""
    production = {
        "DEBUG": False,
        "STATIC_ROOT": tmp_path / "static",
        "WHITENOISE_USE_FINDERS": False,
        "WHITENOISE_AUTOREFRESH": False,
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
    }
    with override_settings(**production):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


def test_admin_works_with_debug_off(collected_static, admin_user, some_of_everything):
    client = Client()
    login = client.get(reverse("admin:login"))
    assert login.status_code == HTTPStatus.OK
    stylesheet = next(
        line.split('href="')[1].split('"')[0] for line in login.text.splitlines() if "admin/css/base." in line
    )
    assert stylesheet != "/static/admin/css/base.css", "expected the hashed name from the manifest"
    css = client.get(stylesheet)
    assert css.status_code == HTTPStatus.OK
    assert css["Content-Type"].startswith("text/css")
    assert b"".join(css.streaming_content)

    client.force_login(admin_user)
    for path in ["admin:index", "admin:transactions_transaction_changelist", "admin:transactions_transaction_add"]:
        assert client.get(reverse(path)).status_code == HTTPStatus.OK, path
    assert client.get(reverse("admin:user-analytics"), {"user_id": 42}).status_code == HTTPStatus.OK


def test_the_api_docs_work_with_debug_off(collected_static):
    """Swagger UI and ReDoc load their own (hashed, collected) files in production, nothing from elsewhere."""
    client = Client()
    for page in ("/api/docs/", "/api/redoc/"):
        html = client.get(page).text
        assets = [part.split('"')[0] for part in html.split('="/static/')[1:]]
        assert assets, page
        for asset in assets:
            assert "drf_spectacular_sidecar/" in asset, asset
            response = client.get(f"/static/{asset}")
            assert response.status_code == HTTPStatus.OK, asset
            assert b"".join(response.streaming_content)
        assert all(re.search(r"\.[0-9a-f]{12}\.", asset) for asset in assets), assets  # the manifest's names

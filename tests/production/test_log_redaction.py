"""What the log redaction learns, and where: API tokens by shape, names from the parser (one parse per
body) and from the admin's forms."""

import json
import logging
import secrets
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.conf import settings

from fido import logs
from transactions import services

NAME = "Kofi Asante-Lindqvist"


def test_every_form_of_an_api_token_is_redacted():
    new = "fido_" + secrets.token_hex(32)
    legacy = secrets.token_hex(20)

    text = logs.redact(f"a={new} b={new[:20]} c={new[5:]} d=Token {legacy} e=fido_ok request=0123abcd")

    for secret in (new, new[:20], new[5:], legacy):
        assert secret not in text
    assert "e=fido_ok" in text and "request=0123abcd" in text  # words and short hex numbers stay


@pytest.mark.django_db
def test_the_names_of_a_json_body_are_learnt_by_its_one_parse(write_client, txn_body, log_output, monkeypatch):
    parses = []
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        if NAME in str(text):
            parses.append(text)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)

    def fail(**fields):
        raise RuntimeError(f"storage refused {fields['full_name']}")

    monkeypatch.setattr(services, "transaction_create", fail)
    write_client.raise_request_exception = False

    response = write_client.post("/api/v1/transactions/", {**txn_body, "full_name": f" {NAME} "}, format="json")

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert len(parses) == 1
    output = log_output.getvalue()
    assert "storage refused [redacted]" in output
    assert NAME not in output


@pytest.mark.django_db
def test_the_names_of_an_admin_form_are_kept_out_of_the_logs(admin_client, log_output, monkeypatch):
    def fail(**fields):
        logging.getLogger("fido.test").error("could not store %s", fields["full_name"])
        raise RuntimeError(f"storage refused {fields['full_name']}")

    monkeypatch.setattr(services, "transaction_create", fail)
    admin_client.raise_request_exception = False

    form = {
        "user_id": "42",
        "full_name": NAME,
        "transaction_date_0": "2026-11-20",
        "transaction_date_1": "14:03:00",
        "transaction_amount": "125.50",
        "transaction_type": "credit",
    }
    # As a browser posts the admin's forms (they have no file field).
    response = admin_client.post(
        "/admin/transactions/transaction/add/", urlencode(form), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    output = log_output.getvalue()
    assert "could not store [redacted]" in output
    assert NAME not in output
    assert settings.SECRET_KEY not in output

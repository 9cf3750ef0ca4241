"""The database never holds the plain name, whatever path the name took in."""

import logging
from http import HTTPStatus

import pytest
from django.db import connection

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

CREATED_NAME = "Zanele Okonkwo-Vasquez"
UPDATED_NAME = "Kwabena Thorsdottir"
PUT_NAME = "Ingrid Nakamura-Osei"


def _every_value_in_the_database() -> str:
    """Every column of every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608  (names from introspection)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    chunks.append(str(value))
    return "\n".join(chunks)


def test_no_table_holds_a_plain_name(write_client, txn_body, caplog):
    caplog.set_level(logging.DEBUG)
    created = write_client.post(
        LIST_URL, {**txn_body, "full_name": CREATED_NAME}, format="json", HTTP_IDEMPOTENCY_KEY="dump-1"
    )
    assert created.status_code == HTTPStatus.CREATED
    replayed = write_client.post(
        LIST_URL, {**txn_body, "full_name": CREATED_NAME}, format="json", HTTP_IDEMPOTENCY_KEY="dump-1"
    )
    url = detail_url(created.json()["id"])
    write_client.patch(url, {"full_name": UPDATED_NAME}, format="json")
    write_client.put(url, {**txn_body, "full_name": PUT_NAME}, format="json")
    write_client.post(LIST_URL, {**txn_body, "full_name": PUT_NAME, "user_id": 0}, format="json")  # a failed write

    dump = _every_value_in_the_database()

    assert replayed["Idempotent-Replayed"] == "true"
    assert write_client.get(url).json()["full_name"] == PUT_NAME
    # The dump did read the rows that once held the name: the transaction and the idempotency record.
    assert "dump-1" in dump
    assert str(created.json()["id"]) in dump
    for name in (CREATED_NAME, UPDATED_NAME, PUT_NAME):
        for form in (name, name.casefold(), name.upper(), name.split()[0], name.split()[-1]):
            assert form not in dump, form
            assert form not in caplog.text, form

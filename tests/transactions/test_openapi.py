"""The OpenAPI schema and its UIs: public, valid, every error status documented."""

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

COMMON = {"401", "403", "405", "406", "500"}
EXPECTED = {
    ("/api/v1/transactions/", "get"): COMMON | {"200", "400"},
    ("/api/v1/transactions/", "post"): COMMON | {"201", "400", "409", "413", "415", "422"},
    ("/api/v1/transactions/{id}/", "get"): COMMON | {"200", "404"},
    ("/api/v1/transactions/{id}/", "put"): COMMON | {"200", "400", "404", "413", "415"},
    ("/api/v1/transactions/{id}/", "patch"): COMMON | {"200", "400", "404", "413", "415"},
    ("/api/v1/transactions/{id}/", "delete"): COMMON | {"204", "404"},
    ("/api/v1/users/{user_id}/transactions/", "get"): COMMON | {"200", "400", "404"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    return response.json()


def test_schema_is_served_without_authentication(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["openapi"].startswith("3.")


# Swagger UI's page loads its start-up script from `?script=` (no inline script), which names the schema.
@pytest.mark.parametrize("url", ["/api/docs/?script=", "/api/redoc/"])
def test_docs_pages_are_served_without_authentication(anon_client, url):
    response = anon_client.get(url)

    assert response.status_code == HTTPStatus.OK
    assert b"/api/schema/" in response.content


@pytest.mark.parametrize(("path", "method"), sorted(EXPECTED))
def test_every_operation_documents_its_error_codes(schema, path, method):
    responses = schema["paths"][path][method]["responses"]

    assert EXPECTED[(path, method)] <= set(responses)
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            assert response["description"], status
            assert "application/json" in response["content"], status


def test_no_operation_claims_codes_it_cannot_answer(schema):
    for path, method in EXPECTED:
        responses = set(schema["paths"][path][method]["responses"])
        if method != "post":
            assert not {"409", "422"} & responses, (path, method)
        if method in ("get", "delete"):
            assert "413" not in responses, (path, method)


def test_token_scheme_lets_swagger_authorize_with_token_prefix(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]

    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/"):
            for operation in operations.values():
                assert {"tokenAuth": []} in operation["security"]


def test_request_bodies_forbid_unknown_fields(schema):
    components = schema["components"]["schemas"]

    assert components["TransactionRequest"]["additionalProperties"] is False
    assert components["PatchedTransactionRequest"]["additionalProperties"] is False
    assert set(components["TransactionRequest"]["required"]) == {
        "user_id",
        "full_name",
        "transaction_date",
        "transaction_amount",
        "transaction_type",
    }


def test_idempotency_key_header_is_documented_on_create(schema):
    parameters = schema["paths"]["/api/v1/transactions/"]["post"]["parameters"]

    assert [p["name"] for p in parameters if p["in"] == "header"] == ["Idempotency-Key"]


def test_error_codes_of_our_own_statuses_are_enumerated(schema):
    enums = schema["components"]["schemas"]

    assert enums["ErrorCode409Enum"]["enum"] == ["idempotency_in_progress"]
    assert enums["ErrorCode413Enum"]["enum"] == ["request_too_large"]
    assert enums["ErrorCode422Enum"]["enum"] == ["idempotency_key_reused"]


def test_a_400_for_an_unknown_field_is_documented(schema):
    errors = schema["components"]["schemas"]["V1TransactionsCreateError"]["oneOf"]
    extra = schema["components"]["schemas"]["V1TransactionsCreateExtraFieldErrorComponent"]

    assert {"$ref": "#/components/schemas/V1TransactionsCreateExtraFieldErrorComponent"} in errors
    assert extra["properties"]["attr"] == {"type": "string"}


def test_filters_document_that_an_empty_value_means_no_filter(schema):
    parameters = schema["paths"]["/api/v1/transactions/"]["get"]["parameters"]

    assert all(p.get("allowEmptyValue") for p in parameters if p["name"] not in ("cursor", "page_size"))


@pytest.mark.parametrize("operation", ["Create", "Update", "PartialUpdate"])
def test_the_day_total_limit_is_documented_on_every_write(schema, operation):
    component = schema["components"]["schemas"][f"V1Transactions{operation}TransactionAmountErrorComponent"]

    assert "day_total_limit" in component["properties"]["code"]["enum"]

"""The way in for a newcomer: `/` leads to the docs, `/api/v1/` lists the endpoints, the browsable API has login and
logout for staff, and the docs pages load nothing from elsewhere."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from fido.api_root import ENDPOINTS

pytestmark = pytest.mark.django_db

ROOT = "/api/v1/"


@pytest.fixture
def create_txn(write_client, txn_body):
    def create(**overrides) -> dict:
        response = write_client.post("/api/v1/transactions/", {**txn_body, **overrides}, format="json")
        assert response.status_code == HTTPStatus.CREATED, response.content
        return response.json()

    return create


def test_the_site_root_redirects_to_the_api_docs():
    response = Client().get("/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/api/docs/"


def test_the_api_root_lists_every_endpoint_and_no_data(read_client, create_txn):
    create_txn()

    response = read_client.get(ROOT)

    assert response.status_code == HTTPStatus.OK
    urls = response.json()
    assert set(urls) == set(ENDPOINTS)
    assert urls["transactions"] == "http://testserver/api/v1/transactions/"
    assert urls["transaction"] == "http://testserver/api/v1/transactions/{id}/"
    assert urls["user_analytics"] == "http://testserver/api/v1/users/{user_id}/analytics/"
    assert urls["docs"] == "http://testserver/api/docs/"
    assert "Ama" not in response.content.decode()


def test_every_listed_endpoint_answers(read_client, create_txn):
    txn = create_txn(user_id=12345678)
    urls = read_client.get(ROOT).json()

    for name, url in urls.items():
        concrete = url.replace("{id}", str(txn["id"])).replace("{user_id}", "12345678")
        response = read_client.get(concrete)
        # The credit profile is computed by the processing after the write (not run here); 404 until then.
        expected = HTTPStatus.NOT_FOUND if name == "user_credit_profile" else HTTPStatus.OK
        assert response.status_code == expected, (name, response.status_code)


def test_the_api_root_needs_credentials_like_every_api_endpoint(anon_client):
    response = anon_client.get(ROOT)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Token"


def test_the_api_root_refuses_unknown_query_parameters(read_client):
    response = read_client.get(ROOT, {"debug": 1})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"][0]["attr"] == "debug"


def test_the_browsable_api_shows_a_login_link_to_a_visitor():
    response = Client().get(ROOT, HTTP_ACCEPT="text/html")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert 'href="/api/auth/login/?next=/api/v1/"' in response.content.decode().replace("'", '"')


def test_staff_log_in_to_the_browsable_api_and_out_again(django_user_model):
    django_user_model.objects.create_user("clerk", password="clerk-password-1", is_staff=True)
    browser = Client()
    page = browser.get("/api/auth/login/?next=/api/v1/")
    assert page.status_code == HTTPStatus.OK

    logged_in = browser.post("/api/auth/login/?next=/api/v1/", {"username": "clerk", "password": "clerk-password-1"})
    assert logged_in.status_code == HTTPStatus.FOUND
    assert logged_in["Location"] == "/api/v1/"
    root = browser.get(ROOT, HTTP_ACCEPT="text/html")
    assert root.status_code == HTTPStatus.OK
    assert "Log out" in root.content.decode()

    logged_out = browser.post("/api/auth/logout/?next=/api/v1/")
    assert logged_out.status_code == HTTPStatus.FOUND
    assert browser.get(ROOT).status_code == HTTPStatus.UNAUTHORIZED


def test_only_staff_log_in_to_the_browsable_api(django_user_model):
    django_user_model.objects.create_user("someone", password="someone-password-1", is_staff=False)
    browser = Client()

    response = browser.post("/api/auth/login/", {"username": "someone", "password": "someone-password-1"})

    assert response.status_code == HTTPStatus.OK  # the form again
    assert "staff account" in response.content.decode()
    assert "_auth_user_id" not in browser.session


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_only_files_of_this_service(path):
    response = Client().get(path)

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "http://" not in html.replace("http://testserver", "")
    assert "https://" not in html
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert "drf_spectacular_sidecar" in asset


def test_swagger_ui_s_start_up_script_is_a_file_not_inline():
    page = Client().get("/api/docs/").content.decode()
    script = Client().get("/api/docs/?script=")

    assert "<script>" not in page  # every <script> has a src: the policy allows no inline script
    assert script.status_code == HTTPStatus.OK
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_self_hosted_assets_are_served_with_their_types(live_server):
    import urllib.request

    for asset, kind in [
        ("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", "javascript"),
        ("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css", "text/css"),
        ("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js", "javascript"),
    ]:
        with urllib.request.urlopen(f"{live_server.url}{asset}") as response:  # noqa: S310 (our own test server)
            assert response.status == HTTPStatus.OK
            assert kind in response.headers["Content-Type"]

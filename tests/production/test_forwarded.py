"""Behind the proxy: X-Forwarded-Proto and X-Forwarded-For are believed from FORWARDED_ALLOW_IPS only.

Whether a request is HTTPS is gunicorn's answer (it reads X-Forwarded-Proto from the allowed peers only; the
CI edge check sends forged headers to a real gunicorn); the service itself must not believe the header from
anyone, which is what these tests check. The client's address (fido/proxy.py) follows the same rule.
"""

from http import HTTPStatus
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from fido.env_checks import check_environment
from fido.proxy import client_ip, parse_allowed

from .test_start_up_validation import manage_check


def request(peer: str | None, forwarded: str | None = None) -> SimpleNamespace:
    meta = {"REMOTE_ADDR": peer} if peer is not None else {}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return SimpleNamespace(META=meta)


@pytest.fixture
def proxy_at(settings):
    settings.FORWARDED_ALLOW_IPS = "10.0.0.2, 192.168.50.0/24"
    return settings


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),  # the proxy speaks for the client
        ("192.168.50.9", "203.0.113.7", "203.0.113.7"),  # anywhere in an allowed network
        ("10.0.0.2", "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # the last entry: the one the proxy added
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("10.0.0.2", None, "10.0.0.2"),  # nothing forwarded: the peer itself
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("198.51.100.20", "203.0.113.7", "198.51.100.20"),  # anyone else's header proves nothing
        ("10.0.0.3", "203.0.113.7", "10.0.0.3"),
    ],
)
def test_the_client_address_comes_from_x_forwarded_for_only_when_an_allowed_proxy_sent_it(
    proxy_at, peer, forwarded, client
):
    assert client_ip(request(peer, forwarded)) == client


def test_a_star_trusts_every_peer(settings):
    settings.FORWARDED_ALLOW_IPS = "*"

    assert client_ip(request("198.51.100.20", "203.0.113.7")) == "203.0.113.7"


def test_the_default_trusts_a_proxy_on_the_same_host_only(settings):
    assert settings.FORWARDED_ALLOW_IPS == "127.0.0.1"
    assert client_ip(request("127.0.0.1", "203.0.113.7")) == "203.0.113.7"
    assert client_ip(request("172.30.255.10", "203.0.113.7")) == "172.30.255.10"


def test_allowed_proxies_parse_as_gunicorn_reads_them():
    assert parse_allowed("*") == (True, ())
    everyone, networks = parse_allowed("127.0.0.1, 10.0.0.0/8,::1")
    assert not everyone
    assert [str(network) for network in networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="'proxy' is not an IP address or network"):
        parse_allowed("127.0.0.1,proxy")


@pytest.mark.parametrize("value", ["proxy", "10.0.0.300", "", "10.0.0.0/33"])
def test_a_bad_forwarded_allow_ips_is_a_start_up_error(value):
    with pytest.raises(ImproperlyConfigured, match="FORWARDED_ALLOW_IPS"):
        check_environment({"FORWARDED_ALLOW_IPS": value})


def test_a_bad_forwarded_allow_ips_stops_the_service_naming_it():
    result = manage_check(FORWARDED_ALLOW_IPS="nginx")

    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS must be comma-separated IP addresses or networks" in result.stderr


@pytest.mark.parametrize("name", ["ADMIN_LOGIN_FAILURE_LIMIT", "ADMIN_LOGIN_COOLOFF_MINUTES"])
@pytest.mark.parametrize("value", ["0", "five", "-1"])
def test_the_login_rate_limit_needs_positive_numbers(name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        check_environment({name: value})


@pytest.mark.django_db
def test_the_service_never_believes_x_forwarded_proto_itself(settings):
    """HTTPS_ONLY: a plain-HTTP request claiming HTTPS in a header is still redirected; only the server's
    own scheme (gunicorn's, from the allowed proxy) counts."""
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    forged = client.get("/api/v1/transactions/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")
    secure = client.get("/api/v1/transactions/", secure=True)

    assert forged.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert forged["Location"].startswith("https://")
    assert secure.status_code == HTTPStatus.UNAUTHORIZED
    assert getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is None


def test_a_forged_forwarded_for_does_not_escape_the_anonymous_rate_limit(proxy_at):
    proxy_at.THROTTLE_RATE_ANON = "3/min"
    browser = Client(REMOTE_ADDR="203.0.113.50")

    answers = [
        browser.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}").status_code for number in range(5)
    ]

    assert answers[:3] == [HTTPStatus.OK] * 3
    assert answers[3:] == [HTTPStatus.TOO_MANY_REQUESTS] * 2


def test_behind_the_proxy_each_client_address_has_its_own_anonymous_limit(proxy_at):
    proxy_at.THROTTLE_RATE_ANON = "1/min"
    proxy = Client(REMOTE_ADDR="10.0.0.2")

    first = proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.60")
    other = proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.61")
    again = proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.60")

    assert (first.status_code, other.status_code, again.status_code) == (
        HTTPStatus.OK,
        HTTPStatus.OK,
        HTTPStatus.TOO_MANY_REQUESTS,
    )

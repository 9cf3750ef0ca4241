"""GET /metrics: Prometheus' text format, open or behind a bearer token, off by configuration, and
each figure moving when its cause happens: a request on a route, a cache hit and miss, a pending, an old and
a failed outbox event, a failed, given-up and delivered alert push, messages in the Celery queue, a broker down.

Under several gunicorn workers: tests/production/test_metrics_gunicorn.py and the production stage."""

import json
import re
import socket
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone
from kombu import Queue
from prometheus_client.parser import text_string_to_metric_families

from analytics import statistics, tasks
from analytics.models import Alert
from fido.celery import app as celery_app
from fido.env_checks import check_environment
from tests.processing.conftest import WebhookReceiver
from tests.production.test_start_up_validation import manage_check
from tests.redis_server import RedisServer, redis_server_binary
from transactions.models import OutboxEvent

pytestmark = pytest.mark.django_db

LIST = "/api/v1/transactions/"
TOKEN = "metrics-token-0123456789abcdef"


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics answer (parsed by prometheus_client's own parser), by name and labels."""
    response = client.get("/metrics", **headers)
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def eager():
    """Tasks in-process, as embedded mode runs them, also in the services run (no worker here)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def webhook_receiver():
    """A local receiver answering the given statuses in turn (200 once they run out)."""
    receivers = []

    def start(statuses=()):
        receiver = WebhookReceiver(list(statuses))
        receiver.thread.start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The endpoint ---------------------------------------------------------------------------------------


def test_metrics_are_open_without_a_token_and_parse_as_prometheus_text(anon_client, settings):
    settings.METRICS_TOKEN = ""

    samples = scrape(anon_client)

    names = {name for name, _ in samples}
    assert {
        "fido_database_up",
        "fido_outbox_pending_events",
        "fido_outbox_oldest_pending_age_seconds",
        "fido_outbox_failed_events",
        "fido_webhook_pushes",
        "fido_webhook_failed_attempts",
        "fido_webhook_recent_pushes",
    } <= names
    assert value(samples, "fido_database_up") == 1


def test_with_a_token_metrics_need_it_as_a_bearer_token(anon_client, settings):
    settings.METRICS_TOKEN = TOKEN

    for header in (
        "",
        "Bearer",
        "Bearer wrong-token-0123456789",
        f"Token {TOKEN}",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
    ):
        response = anon_client.get("/metrics", HTTP_AUTHORIZATION=header)
        assert response.status_code == HTTPStatus.UNAUTHORIZED, header
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"fido_" not in response.content

    assert value(scrape(anon_client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"), "fido_database_up") == 1


def test_metrics_can_be_turned_off(anon_client, settings):
    settings.METRICS_ENABLED = False

    response = anon_client.get("/metrics")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert b"fido_" not in response.content


def test_metrics_answer_any_host_and_plain_http_behind_tls_like_the_probes(anon_client, settings):
    """Prometheus calls the container by its address: no ALLOWED_HOSTS entry, no redirect to HTTPS."""
    settings.ALLOWED_HOSTS = ["fido.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    assert value(scrape(anon_client, HTTP_HOST="10.0.0.7:8000"), "fido_database_up") == 1


def test_metrics_take_only_get_and_head(anon_client):
    assert anon_client.head("/metrics").status_code == HTTPStatus.OK
    response = anon_client.post("/metrics")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, HEAD"


def test_openmetrics_is_served_to_a_client_that_asks_for_it(anon_client):
    response = anon_client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")

    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


# --- Requests and the cache -------------------------------------------------------------------------------


def test_a_request_is_counted_and_timed_under_its_route_template_never_its_path(anon_client, write_client, txn_body):
    txn_id = write_client.post(LIST, txn_body, format="json").json()["id"]
    route = "api/v1/transactions/{pk}/"
    before = scrape(anon_client)

    assert write_client.get(f"{LIST}{txn_id}/").status_code == HTTPStatus.OK
    assert write_client.get(f"{LIST}999999999/").status_code == HTTPStatus.NOT_FOUND

    after = scrape(anon_client)
    for status in ("200", "404"):
        counted = value(after, "fido_http_requests_total", route=route, method="GET", status=status)
        assert counted == value(before, "fido_http_requests_total", route=route, method="GET", status=status) + 1
    timed = value(after, "fido_http_request_duration_seconds_count", route=route, method="GET")
    assert timed == value(before, "fido_http_request_duration_seconds_count", route=route, method="GET") + 2
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any(f"/{txn_id}/" in route or "999999999" in route for route in routes)


def test_unknown_paths_and_methods_share_bounded_labels(anon_client):
    before = scrape(anon_client)

    anon_client.get("/no/such/path/12345")
    anon_client.generic("BREW", "/api/v1/transactions/")

    after = scrape(anon_client)
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (
        value(after, "fido_http_requests_total", **unmatched)
        == value(before, "fido_http_requests_total", **unmatched) + 1
    )
    other = {"route": "api/v1/transactions/", "method": "other", "status": "401"}
    assert value(after, "fido_http_requests_total", **other) == value(before, "fido_http_requests_total", **other) + 1
    assert not any("12345" in label_value or "BREW" in label_value for _, labels in after for _, label_value in labels)


def test_a_cache_miss_then_a_hit_are_counted(anon_client, read_client, write_client, txn_body):
    write_client.post(LIST, txn_body, format="json")
    route = "api/v1/users/{user_id}/analytics/"
    before = scrape(anon_client)

    assert read_client.get("/api/v1/users/42/analytics/")["X-Cache"] == "MISS"
    assert read_client.get("/api/v1/users/42/analytics/")["X-Cache"] == "HIT"

    after = scrape(anon_client)
    for result in ("miss", "hit"):
        counted = value(after, "fido_cache_responses_total", route=route, result=result)
        assert counted == value(before, "fido_cache_responses_total", route=route, result=result) + 1


# --- The outbox ---------------------------------------------------------------------------------------------


def test_a_pending_event_is_counted_and_its_age_shown(anon_client, write_client, txn_body):
    assert value(scrape(anon_client), "fido_outbox_pending_events") == 0

    # In a test's transaction the commit never comes, so the event stays pending as in a broker outage.
    write_client.post(LIST, txn_body, format="json")
    OutboxEvent.objects.update(created_at=timezone.now() - timezone.timedelta(seconds=90))

    samples = scrape(anon_client)
    assert value(samples, "fido_outbox_pending_events") == 1
    assert 90 <= value(samples, "fido_outbox_oldest_pending_age_seconds") < 120


def test_a_failed_event_is_counted(anon_client, write_client, txn_body, monkeypatch):
    write_client.post(LIST, txn_body, format="json")
    event = OutboxEvent.objects.get()

    def failing_refresh(*args, **kwargs):
        raise ConnectionError("statistics store unreachable")

    monkeypatch.setattr(statistics, "refresh_locked", failing_refresh)
    tasks.process_event.apply(args=[event.pk])

    samples = scrape(anon_client)
    assert value(samples, "fido_outbox_failed_events") == 1
    assert value(samples, "fido_outbox_pending_events") == 0


def test_done_events_and_idempotency_records_show_their_oldest_age(anon_client, write_client, txn_body, settings):
    settings.OUTBOX_RETENTION_DAYS = 3
    write_client.post(LIST, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    tasks.process_event.apply(args=[OutboxEvent.objects.get().pk])
    OutboxEvent.objects.update(created_at=timezone.now() - timezone.timedelta(days=2))

    samples = scrape(anon_client)

    assert 2 * 86400 <= value(samples, "fido_outbox_oldest_done_age_seconds") < 2 * 86400 + 60
    assert value(samples, "fido_outbox_retention_seconds") == 3 * 86400
    assert 0 <= value(samples, "fido_idempotency_oldest_record_age_seconds") < 60


# --- Alert pushes -------------------------------------------------------------------------------------------


def test_webhook_failures_give_ups_and_deliveries_are_counted(
    anon_client, write_client, txn_body, webhook_receiver, closed_port, eager, django_capture_on_commit_callbacks
):
    large = {**txn_body, "transaction_amount": "25000.00"}
    before = scrape(anon_client)

    with override_settings(ALERT_WEBHOOK_URL=f"http://127.0.0.1:{closed_port}/hook", ALERT_WEBHOOK_SECRET="s"):
        with django_capture_on_commit_callbacks(execute=True):
            write_client.post(LIST, large, format="json")
        failing = scrape(anon_client)
        alert = Alert.objects.get()
        with override_settings(ALERT_WEBHOOK_MAX_ATTEMPTS=2):
            tasks.deliver_alert.apply(args=[alert.pk])
        given_up = scrape(anon_client)

    receiver = webhook_receiver([200])
    with (
        override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET="s"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        write_client.post(LIST, {**large, "user_id": 43}, format="json")
    delivered = scrape(anon_client)

    assert value(failing, "fido_webhook_pushes", state="pending") == 1
    assert value(failing, "fido_webhook_retrying_pushes") == 1
    assert value(failing, "fido_webhook_failed_attempts") == 1
    assert value(given_up, "fido_webhook_pushes", state="failed") == 1
    assert value(given_up, "fido_webhook_pushes", state="pending") == 0
    assert value(given_up, "fido_webhook_retrying_pushes") == 0
    assert value(before, "fido_webhook_recent_pushes", state="delivered") == 0
    assert value(delivered, "fido_webhook_recent_pushes", state="delivered") == 1
    assert value(delivered, "fido_webhook_recent_pushes", state="failed") == 1
    assert len(receiver.requests) == 1


# --- The Celery queue -----------------------------------------------------------------------------------------


@pytest.fixture
def broker():
    """A redis-server of this test's own as the Celery broker (never the shared one)."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    with override_settings(CELERY_BROKER_URL=server.url):
        yield server
    server.close()


def test_the_queue_depth_is_asked_of_the_broker(anon_client, broker):
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    empty = scrape(anon_client)

    with celery_app.connection_for_write(url=broker.url) as connection, connection.Producer() as producer:
        for event_id in range(3):
            producer.publish({"event": event_id}, routing_key=queue, declare=[Queue(queue)], serializer="json")
    samples = scrape(anon_client)

    assert value(empty, "fido_celery_broker_up") == 1
    assert value(empty, "fido_celery_queue_messages", queue=queue) == 0
    assert value(samples, "fido_celery_queue_messages", queue=queue) == 3
    assert broker.admin().llen(queue) == 3


def test_a_broker_that_is_down_is_reported_down_and_the_scrape_still_answers(anon_client, broker):
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    broker.enter("down")

    samples = scrape(anon_client)

    assert value(samples, "fido_celery_broker_up") == 0
    assert ("fido_celery_queue_messages", (("queue", queue),)) not in samples
    assert value(samples, "fido_database_up") == 1


def test_a_broker_that_never_answers_cannot_hang_the_scrape(anon_client, settings):
    settings.HEALTH_CHECK_TIMEOUT = 0.3
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"

        samples = scrape(anon_client)

    assert value(samples, "fido_celery_broker_up") == 0


def test_without_a_broker_no_queue_is_reported(anon_client, settings):
    settings.CELERY_BROKER_URL = ""

    names = {name for name, _ in scrape(anon_client)}

    assert not {"fido_celery_broker_up", "fido_celery_queue_messages"} & names


# --- The operators' files: dashboard, alert rules, docs -------------------------------------------------------

BASE_DIR = Path(__file__).resolve().parents[2]
METRIC_NAME = re.compile(r"\b(fido_[a-z0-9_]+|up)\b(?=\s*[{\[)\s]|$)")


class Scrape(NamedTuple):
    families: set[str]  # as prometheus_client names them: counters without `_total`
    samples: set[str]  # what a query names: `_total`, `_bucket`, `_sum`, `_count`


@pytest.fixture
def real_scrape(anon_client, read_client, write_client, txn_body, broker) -> Scrape:
    """The names of a scrape after some traffic, with a broker (RabbitMQ would add its queue's consumers)."""
    write_client.post(LIST, txn_body, format="json")
    read_client.get("/api/v1/users/42/analytics/")
    read_client.get("/api/v1/users/42/analytics/")
    families = list(text_string_to_metric_families(anon_client.get("/metrics").content.decode()))
    return Scrape({family.name for family in families}, {s.name for family in families for s in family.samples})


def names_in(expression: str) -> set[str]:
    return set(METRIC_NAME.findall(expression))


def test_the_grafana_dashboard_is_importable_and_uses_only_real_metrics(real_scrape):
    dashboard = json.loads((BASE_DIR / "deploy" / "grafana" / "fido-dashboard.json").read_text())

    assert [entry["name"] for entry in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    used = set()
    for panel in (panel for panel in dashboard["panels"] if panel["type"] != "row"):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        used |= {name for target in panel["targets"] for name in names_in(target["expr"])}
    assert used - real_scrape.samples == set()
    shown = {family for family in real_scrape.families if any(name.startswith(family) for name in used)}
    assert real_scrape.families - shown == set()  # a panel for every metric


def test_the_alert_rules_parse_and_use_only_real_metrics(real_scrape):
    rules = yaml.safe_load((BASE_DIR / "deploy" / "prometheus" / "alerts.yml").read_text())

    [group] = rules["groups"]
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]
        assert names_in(rule["expr"]) - real_scrape.samples <= {"up"}, rule["alert"]  # up: Prometheus' own
    exprs = [" ".join(rule["expr"].split()) for rule in group["rules"]]
    assert "max(fido_outbox_oldest_pending_age_seconds) > 60" in exprs
    assert "max(fido_outbox_failed_events) > 0" in exprs
    assert any("fido_webhook_retrying_pushes" in expr for expr in exprs)
    assert any('fido_webhook_pushes{state="failed"}' in expr for expr in exprs)
    assert any('status=~"5.."' in expr for expr in exprs)
    assert any("fido_database_up" in expr for expr in exprs)


def test_the_operators_page_describes_every_metric_and_every_alert(real_scrape):
    page = (BASE_DIR / "docs" / "metrics.md").read_text()
    rules = yaml.safe_load((BASE_DIR / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]

    assert {name for name in real_scrape.families if f"`{name}" not in page} == set()
    assert {rule["alert"] for rule in rules if f"`{rule['alert']}`" not in page} == set()
    assert "`fido_celery_queue_consumers`" in page


# --- Start-up validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METRICS_ENABLED", "maybe"),
        ("METRICS_TOKEN", "CHANGE_ME"),  # deploy/env.example's placeholder: too short, start-up refuses it
        ("METRICS_TOKEN", "sixteen chars ok"),  # a space cannot be sent in the header
        ("METRICS_TOKEN", "abcdefghijklmnop=q"),
        ("OUTBOX_RETENTION_DAYS", "0"),
        ("OUTBOX_RETENTION_DAYS", "7d"),
    ],
)
def test_bad_metrics_and_retention_values_stop_start_up_without_quoting_the_token(name, value):
    with pytest.raises(ImproperlyConfigured, match=name) as caught:
        check_environment({name: value})

    if name == "METRICS_TOKEN":
        assert value not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("METRICS_ENABLED", "0"), ("METRICS_TOKEN", ""), ("METRICS_TOKEN", TOKEN), ("OUTBOX_RETENTION_DAYS", "30")],
)
def test_documented_metrics_and_retention_values_are_accepted(name, value):
    check_environment({name: value})


def test_a_production_process_refuses_the_placeholder_token():
    result = manage_check(METRICS_TOKEN="CHANGE_ME")

    assert result.returncode != 0
    assert "METRICS_TOKEN" in result.stderr
    assert "CHANGE_ME" not in result.stderr

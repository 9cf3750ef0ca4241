"""A value that would fail only when used stops start-up instead, naming the variable and
never echoing a key. `manage.py check` runs in a subprocess with a production environment."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from fido.env_checks import check_environment, check_fernet_keys

BASE_DIR = Path(__file__).resolve().parents[2]
GOOD_KEY = Fernet.generate_key().decode()
# The incident: a key whose trailing "=" was lost in a copy and paste (1,601 creates answered 500).
KEY_WITHOUT_PADDING = GOOD_KEY.rstrip("=")
# Decodes cleanly, but to 31 bytes instead of 32.
SHORT_KEY = base64.urlsafe_b64encode(os.urandom(31)).decode()


def manage_check(**variables: str) -> subprocess.CompletedProcess:
    """`manage.py check` with DEBUG off, valid secrets, no .env file, and `variables` on top."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "THROTTLE_", "ALERT_"))
    }
    env.update(ENV_FILE="", DEBUG="0", SECRET_KEY="s" * 50, FIELD_HASH_KEY="h" * 32, FIELD_ENCRYPTION_KEYS=GOOD_KEY)
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_production_environment_with_valid_values_starts():
    result = manage_check(
        FIELD_ENCRYPTION_KEYS=f"{GOOD_KEY},{Fernet.generate_key().decode()}",
        THROTTLE_RATE_USER="100/min",
        THROTTLE_RATE_ANON="",
        TIME_ZONE="Europe/Paris",
        REDIS_URL="redis://cache:6379/0",
        CELERY_BROKER_URL="amqp://fido:secret@broker:5672/fido",
        ALERT_WEBHOOK_URL="https://alerts.example.com/hook",
        ALERT_WEBHOOK_SECRET="w" * 32,
        ANALYTICS_CACHE_TTL="300",
        HTTPS_ONLY="1",
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("keys", "entry"),
    [
        ("not-a-fernet-key", "entry 1 of 1"),
        (KEY_WITHOUT_PADDING, "entry 1 of 1"),
        (f"{GOOD_KEY},{SHORT_KEY}", "entry 2 of 2"),
    ],
    ids=["garbage", "trailing-equals-lost", "second-key-too-short"],
)
def test_a_malformed_encryption_key_stops_start_up_naming_the_variable_not_the_key(keys, entry):
    result = manage_check(FIELD_ENCRYPTION_KEYS=keys)

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert entry in result.stderr
    for key in keys.split(","):
        assert key not in result.stderr + result.stdout


def test_every_other_value_that_would_fail_at_use_stops_start_up_and_each_is_named():
    bad = {
        "THROTTLE_RATE_USER": "6000",  # every request: IndexError in the throttle
        "THROTTLE_RATE_ANON": "lots/min",
        "ANALYTICS_CACHE_TTL": "5m",
        "REDIS_SOCKET_TIMEOUT": "-1",
        "HTTPS_ONLY": "ture",  # read as false: no HTTPS redirect, no secure cookies
        "REDIS_URL": "http://cache:6379/0",
        "CELERY_BROKER_URL": "amqq://fido:broker-password@broker:5672/fido",
        "ALERT_WEBHOOK_URL": "ftp://alerts.example.com/hook",
        "ALERT_WEBHOOK_SECRET": "w" * 32,
        "TIME_ZONE": "Europe/Pariss",
        "LOG_FORMAT": "jsno",
    }

    result = manage_check(**bad)

    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    for name in set(bad) - {"ALERT_WEBHOOK_SECRET"}:
        assert name in message
    assert "broker-password" not in result.stderr  # URLs are never echoed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THROTTLE_RATE_USER", "0/min"),
        ("THROTTLE_RATE_USER", "10/fortnight"),
        ("OVERVIEW_MAX_AGE", "0"),
        ("CONN_MAX_AGE", "-5"),
        ("DB_CONNECT_TIMEOUT", ""),
        ("HEALTH_CHECK_TIMEOUT", "nan"),
        ("ALERT_WEBHOOK_TIMEOUT", "3s"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://fido@db/fido"),
        ("DATABASE_REPLICA_URLS", "postgres://fido@r1:5432/fido,sqlite:///replica.sqlite3"),
        ("ALERT_WEBHOOK_URL", "https:///no-host"),
        ("LOG_LEVEL", "VERBOSE"),
    ],
)
def test_each_check_refuses_its_bad_values(name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        check_environment({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THROTTLE_RATE_USER", "600/min"),
        ("THROTTLE_RATE_USER", " 10 / second "),
        ("THROTTLE_RATE_ANON", ""),
        ("OVERVIEW_MAX_AGE", "60"),
        ("CONN_MAX_AGE", "0"),
        ("REDIS_SOCKET_TIMEOUT", "0.25"),
        ("DEBUG", "True"),
        ("HTTPS_ONLY", ""),
        ("REDIS_URL", ""),
        ("REDIS_URL", "rediss://:pw@cache:6380/0"),
        ("CELERY_BROKER_URL", "redis://broker:6379/1"),
        ("DATABASE_URL", "sqlite:///db.sqlite3"),
        ("TIME_ZONE", "America/Argentina/Buenos_Aires"),
        ("LOG_LEVEL", "warning"),
    ],
)
def test_each_check_accepts_the_documented_forms(name, value):
    check_environment({name: value})


def test_the_key_check_never_quotes_a_key():
    with pytest.raises(ImproperlyConfigured) as caught:
        check_fernet_keys("FIELD_ENCRYPTION_KEYS", [GOOD_KEY, KEY_WITHOUT_PADDING, GOOD_KEY])

    assert "entry 2 of 3" in str(caught.value)
    assert KEY_WITHOUT_PADDING not in str(caught.value)
    assert caught.value.__cause__ is None

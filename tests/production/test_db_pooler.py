"""DATABASE_POOLER=pgbouncer (docs/performance.md, "Scaling"): what a transaction-mode pooler needs
is switched on for every PostgreSQL alias, and a value the service cannot use stops start-up.

The settings are read by a fresh process, as each web or worker process reads them. That these settings
are enough is proven against a real PgBouncer by ci/scale/run.py (the API suite, the worker and the load
test through it).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from fido.env_checks import check_environment

BASE_DIR = Path(__file__).resolve().parents[2]
PRINT_DATABASES = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({alias: {'cursors_off': db.get('DISABLE_SERVER_SIDE_CURSORS', False), "
    "'options': db.get('OPTIONS', {})} for alias, db in settings.DATABASES.items()}))"
)


def databases_with(**variables: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    env.update(ENV_FILE="", DEBUG="1", DJANGO_SETTINGS_MODULE="fido.settings", **variables)
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", PRINT_DATABASES], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_behind_pgbouncer_no_server_side_cursor_prepared_statement_or_server_binding_on_any_alias():
    databases = databases_with(
        DATABASE_URL="postgres://fido@pgbouncer:6432/fido",
        DATABASE_REPLICA_URLS="postgres://fido@replica1:5432/fido,postgres://fido@replica2:5432/fido",
        DATABASE_POOLER="pgbouncer",
    )

    assert sorted(databases) == ["default", "replica_1", "replica_2"]
    for database in databases.values():
        assert database["cursors_off"] is True
        assert database["options"]["prepare_threshold"] is None
        assert database["options"]["server_side_binding"] is False


def test_without_a_pooler_server_side_cursors_stay_available_and_replicas_connect_within_two_seconds():
    databases = databases_with(
        DATABASE_URL="postgres://fido@db:5432/fido", DATABASE_REPLICA_URLS="postgres://fido@replica1:5432/fido"
    )

    assert databases["default"]["cursors_off"] is False
    assert databases["default"]["options"]["connect_timeout"] == 5
    assert databases["replica_1"]["options"]["connect_timeout"] == 2  # libpq's floor: a dead replica costs 2 s at most


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DATABASE_POOLER": "pgbouncr"}, "DATABASE_POOLER"),
        ({"DATABASE_POOLER": "pgbouncer", "DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_POOLER"),
        ({"DATABASE_POOLER": "pgbouncer"}, "DATABASE_POOLER"),  # no DATABASE_URL: SQLite by default
        ({"DATABASE_REPLICA_RETRY_AFTER": "0"}, "DATABASE_REPLICA_RETRY_AFTER"),
    ],
)
def test_values_the_service_cannot_use_stop_start_up(variables, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        check_environment(variables)


@pytest.mark.parametrize(
    "variables",
    [
        {"DATABASE_POOLER": "", "DATABASE_URL": "sqlite:///db.sqlite3"},
        {"DATABASE_POOLER": "pgbouncer", "DATABASE_URL": "postgres://fido@pgbouncer:6432/fido"},
        {"DATABASE_REPLICA_RETRY_AFTER": "30"},
    ],
)
def test_the_documented_forms_are_accepted(variables):
    check_environment(variables)

"""Fuzzing (schemathesis): every operation of the live /api/schema/, called over HTTP with a write
token, must never answer a server error, an undocumented status code, or a body or content type
that contradicts the schema. The schema is read from the running server, so operations added
later are covered without touching this file.

Bounded: FUZZ_MAX_EXAMPLES cases per operation and generation mode (default 25), no shrinking.
(schemathesis' own pytest loader does not work with pytest 9, so the operations are walked here.)
"""

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from transactions.clients import api_client_create

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_operation(operation, mode: GenerationMode, headers: dict, counts: Counter) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case):
        counts[operation.label] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _summary(exc: BaseException) -> str:
    """The failure's headline lines (schemathesis prints pages of detail per failure)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    heads = [line for line in lines if line.startswith(("- ", "curl ", "[", "`", "Schemathesis found"))]
    return " | ".join(heads[:8]) or type(exc).__name__


@pytest.mark.django_db(transaction=True)
def test_every_operation_survives_fuzzing(live_server, capsys):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    headers = {"Authorization": f"Token {api_client_create(name='fuzzer', scope='write').key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    counts: Counter = Counter()
    failures = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, headers, counts)
            except (Exception, BaseExceptionGroup) as exc:  # report every failing operation, not the first
                failures.append(f"{operation.label} ({mode.value}): {_summary(exc)}")

    with capsys.disabled():
        print(f"\nfuzzing: {len(operations)} operations, {sum(counts.values())} cases, {len(failures)} failures")
    assert operations
    assert set(counts) == {operation.label for operation in operations}
    assert failures == [], "\n\n".join(failures)

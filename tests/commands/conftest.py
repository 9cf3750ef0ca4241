"""Helpers of the command tests: run a command and capture what it prints."""

from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command


@dataclass
class Ran:
    stdout: str
    stderr: str


@pytest.fixture
def run():
    def run(*args, **options) -> Ran:
        out, err = StringIO(), StringIO()
        call_command(*args, stdout=out, stderr=err, **options)
        return Ran(out.getvalue(), err.getvalue())

    return run

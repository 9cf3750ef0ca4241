"""Helpers of the command tests: run a command and capture what it prints."""

import subprocess
import sys
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

MANAGE_PY = str(Path(settings.BASE_DIR) / "manage.py")


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run `manage.py` in a child process, as an operator would: exit code and output as text."""
    return subprocess.run([sys.executable, MANAGE_PY, *args], capture_output=True, text=True)  # noqa: S603


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

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError


def test_prints_a_new_working_key(run):
    first, second = run("generate_encryption_key").stdout, run("generate_encryption_key").stdout
    assert first.endswith("\n") and first.count("\n") == 1
    assert first != second
    key = first.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"Ama Mensah")) == b"Ama Mensah"


def test_rejects_arguments(run):
    with pytest.raises(CommandError, match="unrecognized arguments"):
        run("generate_encryption_key", "extra")


def test_help_and_bad_arguments_from_the_command_line():
    help_text = subprocess.run(
        [sys.executable, "manage.py", "generate_encryption_key", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "FIELD_ENCRYPTION_KEYS" in help_text
    bad = subprocess.run([sys.executable, "manage.py", "generate_encryption_key", "x"], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "unrecognized arguments: x" in bad.stderr

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError

from .conftest import manage


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
    help_text = manage("generate_encryption_key", "--help")
    assert help_text.returncode == 0
    assert "FIELD_ENCRYPTION_KEYS" in help_text.stdout
    bad = manage("generate_encryption_key", "x")
    assert bad.returncode != 0
    assert "unrecognized arguments: x" in bad.stderr

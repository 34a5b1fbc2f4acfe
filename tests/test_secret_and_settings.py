"""The deployment secret and the settings table."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from candor.errors import ConfigurationError, InvalidInput
from candor.services.secret import create_secret_file, load_secret
from candor.settings import Settings, describe


def test_the_secret_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "candor.secret"
    assert create_secret_file(path) is True
    first = path.read_bytes()
    assert create_secret_file(path) is False
    assert path.read_bytes() == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    secret = load_secret(Settings.load(environ={}, secret_file=path))
    assert secret.current.id == 1
    assert len(secret.current.material) == 32


def test_hashes_depend_on_the_secret(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    create_secret_file(a)
    create_secret_file(b)
    hash_a = load_secret(Settings.load(environ={}, secret_file=a)).identifier_hasher()
    hash_b = load_secret(Settings.load(environ={}, secret_file=b)).identifier_hasher()
    value = ("cn_resident_id", "11010519491231002X")
    assert hash_a.digest(*value) == hash_a.digest(*value)
    assert hash_a.digest(*value) != hash_b.digest(*value)
    # The scheme is part of what is hashed: the same text under two schemes is two identifiers.
    assert hash_a.digest("other", value[1]) != hash_a.digest(*value)
    assert "material" not in repr(hash_a) and "key=" not in repr(hash_a)


def test_the_secret_can_come_from_the_environment(tmp_path: Path) -> None:
    material = base64.b64encode(bytes(range(32))).decode()
    settings = Settings.load(environ={"CANDOR_SECRET": material}, secret_file=tmp_path / "none")
    assert load_secret(settings).current.material == bytes(range(32))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not base64 !!", "not base64"),
        (base64.b64encode(b"short").decode(), "at least 32 bytes"),
        (json.dumps({"format": "other", "keys": []}), "not a candor secret"),
        (json.dumps({"format": "candor-secret/1", "keys": []}), "holds no keys"),
        ('{"format": "candor-secret/1", "keys": [{"id": 1}]}', "malformed"),
    ],
)
def test_unusable_secrets_are_refused_without_showing_them(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "candor.secret"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message) as raised:
        load_secret(Settings.load(environ={}, secret_file=path))
    assert content not in raised.value.detail or len(content) < 8


def test_a_missing_secret_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="run `candor init`"):
        load_secret(Settings.load(environ={}, secret_file=tmp_path / "missing"))


def test_settings_come_from_flags_then_environment_then_defaults() -> None:
    environ = {"CANDOR_DATABASE_URL": "sqlite:///env.db", "CANDOR_INGEST_BATCH_ROWS": "123"}
    assert Settings.load(environ={}).database_url == "sqlite:///candor.db"
    assert Settings.load(environ=environ).database_url == "sqlite:///env.db"
    assert Settings.load(environ=environ, database_url="sqlite:///flag.db").database_url == (
        "sqlite:///flag.db"
    )
    assert Settings.load(environ=environ).ingest_batch_rows == 123


@pytest.mark.parametrize("value", ["many", "0", "-5"])
def test_a_bad_number_setting_names_the_variable(value: str) -> None:
    with pytest.raises(InvalidInput, match="CANDOR_INGEST_BATCH_ROWS"):
        Settings.load(environ={"CANDOR_INGEST_BATCH_ROWS": value})


def test_every_setting_has_help() -> None:
    for env, _default, text in describe():
        assert env.startswith("CANDOR_")
        assert len(text) > 20

"""Readiness checks the real database and Redis; settings come from defaults, env, then mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.config import Settings, SettingsError


def test_readyz_checks_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["database"] == checks["redis"] == "ok"
    assert checks["worker"].startswith("no heartbeat")  # reported, but not a reason to be unready


def test_readyz_reports_an_unreachable_redis(settings: dict[str, object]) -> None:
    app = create_app(settings | {"redis_url": "redis://127.0.0.1:1/0"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("error")


def test_embedded_default_uses_sqlite_and_embedded_redis_in_data_dir(tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/movierec.db"
    assert settings.uses_embedded_redis


def test_environment_overrides_defaults_and_mapping_overrides_environment() -> None:
    environ = {
        "MOVIEREC_API_KEYS": "a, b",
        "MOVIEREC_MAX_BODY_BYTES": "10",
        "MOVIEREC_SQL_ECHO": "yes",
    }
    settings = Settings.load(environ=environ)
    assert settings.api_keys == ("a", "b") and settings.max_body_bytes == 10 and settings.sql_echo
    assert Settings.load({"max_body_bytes": 20}, environ=environ).max_body_bytes == 20


@pytest.mark.parametrize(
    ("name", "value"), [("MOVIEREC_MAX_BODY_BYTES", "x"), ("MOVIEREC_SQL_ECHO", "maybe")]
)
def test_bad_environment_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.load(environ={name: value})


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load({"no_such_thing": 1}, environ={})

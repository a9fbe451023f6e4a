"""Request ids and JSON log lines: an id sent is echoed when it is a sane token, else one is made;
every record logged while a request is answered carries it; ``MOVIEREC_LOG_FORMAT=json`` writes
one JSON object a line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from server import create_app
from server.config import SettingsError
from server.logs import JsonFormatter, RequestIdFilter, request_id_from


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What a JSON handler on the root logger writes while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def logging_app(settings: dict[str, Any]) -> Flask:
    app = create_app(settings | {"log_format": "json"})

    @app.get("/test-logs")
    def logs_a_line() -> dict[str, str]:
        logging.getLogger("movierec.test").warning("rating %s refused", "x", extra={"user": "7"})
        return {"ok": "yes"}

    return app


def test_a_sane_request_id_is_echoed_and_carried_by_log_records(
    settings: dict[str, Any], lines: io.StringIO
) -> None:
    client = logging_app(settings).test_client()
    response = client.get("/test-logs", headers={"X-Request-ID": "edge-42.a/b"})
    assert response.headers["X-Request-ID"] == "edge-42.a/b"
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    ours = [record for record in records if record["logger"] == "movierec.test"]
    assert ours == [
        {
            "time": ours[0]["time"],
            "level": "WARNING",
            "logger": "movierec.test",
            "message": "rating x refused",
            "request_id": "edge-42.a/b",
            "user": "7",
        }
    ]
    # after the request, records carry no id
    logging.getLogger("movierec.test").warning("outside")
    last = json.loads(lines.getvalue().splitlines()[-1])
    assert last["message"] == "outside" and "request_id" not in last


@pytest.mark.parametrize(
    "sent", [None, "", "x" * 129, "two words", 'quote"d', "new\nline", "é"], ids=repr
)
def test_an_insane_or_missing_request_id_is_replaced(settings: dict[str, Any], sent: str) -> None:
    client = create_app(settings).test_client()
    headers = {} if sent is None else {"X-Request-ID": sent}
    try:
        response = client.get("/healthz", headers=headers)
    except ValueError:  # werkzeug refuses a newline in a header before the app sees it
        return
    echoed = response.headers["X-Request-ID"]
    assert echoed != sent and len(echoed) == 32 and echoed.isalnum()


def test_request_ids_differ_between_requests(settings: dict[str, Any]) -> None:
    client = create_app(settings).test_client()
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5
    assert request_id_from("a" * 128) == "a" * 128


def test_an_error_response_carries_the_id_too(settings: dict[str, Any]) -> None:
    client = create_app(settings).test_client()
    response = client.get("/api/v1/movies/424242", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 404 and response.headers["X-Request-ID"] == "r-1"


def test_an_exception_is_logged_as_one_json_line(lines: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("movierec.test").exception("failed")
    record = json.loads(lines.getvalue().strip())
    assert record["message"] == "failed" and "RuntimeError: boom" in record["exception"]


def test_an_unknown_log_format_fails_at_start(settings: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        create_app(settings | {"log_format": "xml"})

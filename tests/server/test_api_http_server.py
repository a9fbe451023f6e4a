"""The app behind gunicorn, as ``movierec serve`` runs it: what gunicorn answers itself (a request
line or headers over its limits) and a chunked body over the size limit come in the one JSON
error shape with the right status."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.workers.conftest import ROOT, wait_for
from tests.workers.test_serve import free_port

SERVE = """
import json, sys
from server.app import create_app
from server.http_server import gunicorn_options, serve
app = create_app(json.loads(sys.argv[1]))
serve(app, gunicorn_options("127.0.0.1", int(sys.argv[2]), 1, access_log=False))
"""
BODY_LIMIT = 1024


@pytest.fixture
def served(settings: dict[str, Any], tmp_path: Path) -> Iterator[int]:
    """The port of a gunicorn serving the test app (one worker)."""
    port = free_port()
    config = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
    config["max_body_bytes"] = BODY_LIMIT
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, json.dumps(config), str(port)],
        env=environ | {"PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _answers(port), timeout=60, every=0.2)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def _answers(port: int) -> bool:
    try:
        request(port, "GET", "/healthz")
    except OSError:
        return False
    return True


def request(port: int, method: str, path: str, **options: Any) -> tuple[int, str, Any]:
    """Status, content type and JSON body of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, **options)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), json.loads(response.read())
    finally:
        connection.close()


def assert_json_error(answer: tuple[int, str, Any], status: int, code: str) -> None:
    got, content_type, body = answer
    assert (got, content_type) == (status, "application/json"), answer
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code and body["error"]["message"]


def test_gunicorns_own_answers_have_the_json_error_shape(served: int) -> None:
    """Gunicorn refuses these before the app runs; it sent its HTML page."""
    long_line = "/api/v1/movies?q=" + "a" * 5000
    assert_json_error(request(served, "GET", long_line), 414, "uri_too_long")
    huge_header = {"X-Padding": "x" * 9000}
    too_large = request(served, "GET", "/healthz", headers=huge_header)
    assert_json_error(too_large, 431, "headers_too_large")
    assert request(served, "GET", "/healthz")[0] == 200  # and it keeps serving


def test_a_chunked_body_over_the_limit_is_413_behind_gunicorn(served: int) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def chunked(body: bytes) -> tuple[int, str, Any]:
        chunks = iter([body[:500], body[500:]])
        return request(
            served, "POST", "/api/v1/users", body=chunks, headers=auth, encode_chunked=True
        )

    name = "x" * (2 * BODY_LIMIT)
    assert_json_error(
        chunked(json.dumps({"id": "u1", "name": name}).encode()), 413, "payload_too_large"
    )
    assert chunked(json.dumps({"id": "u1", "name": "Ada"}).encode())[0] == 201

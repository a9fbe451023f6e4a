"""A bounded Schemathesis run against the app: every operation of the OpenAPI document through
every phase (examples, coverage, fuzzing, stateful) and every check (no 5xx; statuses, content
types and headers as documented; invalid data rejected and valid data accepted; credentials
enforced), with a fixed seed, derandomized, and a bounded number of examples per operation.

The app is served over HTTP from a thread of this process (Werkzeug's server): Schemathesis 4's
WSGI transport breaks in its ``ignored_auth`` check (it hands Werkzeug's test client a
``max_redirects`` argument), and a real socket is closer to production anyway.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import schemathesis
from flask import Flask
from schemathesis.engine import Status, events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder
from werkzeug.serving import WSGIRequestHandler, make_server

from server.api.openapi import API_PREFIX
from server.http_server import json_error_response
from tests.conftest import API_KEY

SEED = 20240601
# The statuses that refuse a request, its size included (a request line too long: 414).
REJECTIONS = (400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429, 431)


@schemathesis.serializer("application/x-ndjson")
def ndjson(context: object, value: object) -> bytes:
    """The bulk feedback endpoint's body (a string in the document) as it is sent."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


EXAMPLES_PER_OPERATION = 25


@dataclass
class Findings:
    """What a run found: every request and response, failed checks and errors."""

    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passed: Counter[str] = field(default_factory=Counter)  # checks that passed, by name

    def record(self, recorder: ScenarioRecorder) -> None:
        for interaction in recorder.interactions.values():
            self.requests += 1
            response = interaction.response
            if response is not None and response.status_code >= 500:
                request = interaction.request
                self.server_errors.append(f"{request.method} {request.uri}: {response.status_code}")
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status == Status.SUCCESS:
                    self.passed[check.name] += 1
                if check.status == Status.FAILURE and check.failure_info is not None:
                    self.failures.append(
                        _describe(recorder, case_id, check.name, check.failure_info)
                    )


def _describe(recorder: ScenarioRecorder, case_id: str, name: str, info: object) -> str:
    failure = info.failure  # type: ignore[attr-defined]
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        answer = f"\n-> {response.status_code} {response.content[:300]!r}"
    sample = info.code_sample  # type: ignore[attr-defined]
    return f"{name}: {failure.title}\n{failure.message}\n{sample}{answer}"


class ServerErrors(WSGIRequestHandler):
    """What the server answers before the app (a request line too long, a malformed request)
    in the JSON error shape, as ``movierec serve`` does (``server/http_server.py``); Werkzeug's
    own pages are HTML."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        self.wfile.write(json_error_response(f"HTTP/1.1 {int(code)} -\r\n".encode()))


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app's base URL, served from a thread while the block runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=ServerErrors)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def run_schemathesis(base_url: str) -> Findings:
    """Every phase and check over the whole document, with the service key."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {API_KEY}"},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
            # The bulk endpoint's body is text, one JSON object a line: the document can say no
            # more than "a string", so a "schema-violating" body is one that is not text, which
            # the serializer above sends as JSON text, and each of whose lines is reported.
            "checks": {"negative_data_rejection": {"expected-statuses": list(REJECTIONS)}},
            "operations": [
                {
                    "include-operation-id": "feedback.post_feedback_bulk",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}{API_PREFIX}/openapi.json", config=config)
    findings = Findings()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            findings.record(event.recorder)
        elif isinstance(event, events.NonFatalError):
            findings.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            findings.errors.append(repr(event.exception))
    return findings


def test_the_api_keeps_to_its_document(app: Flask, auth: dict[str, str]) -> None:
    client = app.test_client()  # a little data for the fuzzer to find beside what it creates
    client.post("/api/v1/users", json={"id": "u1"}, headers=auth)
    movie = {"id": "m1", "title": "Heat", "genres": ["Crime"]}
    client.post("/api/v1/movies", json=movie, headers=auth)
    client.put("/api/v1/users/u1/ratings/m1", json={"rating": 4}, headers=auth)
    started = time.monotonic()
    with served(app) as base_url:
        findings = run_schemathesis(base_url)
    print(f"schemathesis: {findings.requests} requests in {time.monotonic() - started:.1f} s")
    print(f"checks passed: {dict(findings.passed)}")
    assert findings.requests > 500  # it ran
    # Answers were checked against the documented schemas (every operation documents one).
    assert findings.passed["response_schema_conformance"] > 500, findings.passed
    assert findings.server_errors == []
    failures = sorted(set(findings.failures))
    assert not failures, "\n\n".join(failures)
    assert findings.errors == []

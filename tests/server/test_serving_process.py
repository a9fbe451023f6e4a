"""What a web process sets up on its first read: the serving context, built once, after which
the long-lived objects of the plugins' imports are frozen out of the garbage collector's scans."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.context import get_serving


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start unfrozen and leave the test process as it was found."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_first_read_builds_the_serving_context_once_and_freezes_the_heap(
    app: Flask, client: FlaskClient, auth: dict[str, str], unfrozen: None
) -> None:
    assert client.post("/api/v1/users", json={"id": "ada"}, headers=auth).status_code == 201
    assert gc.get_freeze_count() == 0
    assert client.get("/api/v1/users/ada/recommendations").status_code == 200
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the plugins' modules and the app, at least
    with app.app_context():
        first = get_serving()
        assert client.get("/api/v1/users/ada/recommendations").status_code == 200
        assert get_serving() is first

"""The OpenAPI document is valid and describes exactly the app's real routes."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


def test_openapi_is_valid_and_matches_routes(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    routed = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == routed
    put_rating = document["paths"]["/api/v1/users/{user_id}/ratings/{movie_id}"]["put"]
    assert put_rating["security"] == [{"apiKey": []}]
    assert set(put_rating["responses"]) == {"200", "201", "default"}
    assert "RatingIn" in document["components"]["schemas"]
    assert [p["name"] for p in put_rating["parameters"]] == ["user_id", "movie_id"]

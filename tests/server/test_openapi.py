"""The OpenAPI document is valid and describes exactly the app's real routes."""

from __future__ import annotations

import re
from typing import Any

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


def parameters(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    operation = document["paths"][f"/api/v1{path}"][method]
    return {parameter["name"]: parameter for parameter in operation["parameters"]}


def test_the_document_states_every_rule_the_server_checks(client: FlaskClient) -> None:
    """What a generated client or a fuzzer reads is what the server enforces (it said less)."""
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    rating = schemas["RatingIn"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"], rating["multipleOf"]) == (0.5, 5.0, 0.5)
    predictions = parameters(document, "/users/{user_id}/predictions")
    assert predictions["movie_id"]["required"] and not predictions["algorithm"]["required"]
    search = parameters(document, "/movies")
    # A query string has no null: a parameter is absent or a value.
    assert search["year"]["schema"] == {
        "type": "integer",
        "minimum": 1800,
        "maximum": 2200,
        "title": "Year",
    }
    assert search["offset"]["schema"]["maximum"] == 2**63 - 1
    genre = search["genre"]["schema"]
    assert (genre["type"], genre["minLength"], genre["maxLength"]) == ("string", 1, 64)
    assert re.search(genre["pattern"], "Drama") and not re.search(genre["pattern"], " \x1c")
    assert not re.search(genre["pattern"], "Dra\x00ma")
    year = schemas["MovieIn"]["properties"]["year"]["anyOf"][0]
    assert (year["minimum"], year["maximum"]) == (1800, 2200)
    for path, name in (("/users/{user_id}", "user_id"), ("/movies/{movie_id}", "movie_id")):
        assert not re.search(parameters(document, path)[name]["schema"]["pattern"], "a\x00b")


def test_reads_of_a_persons_data_say_they_need_credentials(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    secured = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    reads = {
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/ratings",
        "/api/v1/users/{user_id}/ratings/{movie_id}",
        "/api/v1/users/{user_id}/recommendations",
        "/api/v1/users/{user_id}/predictions",
        "/api/v1/movies/{movie_id}/ratings",
    }
    assert {(path, "get") for path in reads} <= secured
    public = {"/api/v1/movies", "/api/v1/movies/{movie_id}", "/api/v1/genres"}
    assert not {(path, "get") for path in public} & secured

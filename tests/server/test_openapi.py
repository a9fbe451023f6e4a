"""The OpenAPI document is valid and describes exactly the app's real routes: every operation
with the schema of its answers, each schema with an example that keeps to it, and real answers
(with trained models, so every kind of reason) that keep to them too."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from server import create_app
from server.api.openapi import HIDDEN, describe
from server.db import Database
from tests.conftest import SERVICE_AUTH
from tests.workers.conftest import (  # noqa: F401 (fixtures)
    context,
    pipeline_settings,
    seeded,
    train,
)


def test_openapi_is_valid_and_matches_routes(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")]
    hidden = {
        rule.endpoint for rule in rules if getattr(app.view_functions[rule.endpoint], HIDDEN, False)
    }
    assert hidden == {"api-docs.docs_page", "api-docs.asset"}  # the reference page is no operation
    routed = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in rules
        if rule.endpoint not in hidden
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


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema``, whose ``#/components/...`` references name the document's."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    root = {"$ref": f"urn:openapi{schema['$ref']}"}  # every schema here is a component's
    return Draft202012Validator(
        root, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def problems(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(document, schema).iter_errors(instance)
    ]


def test_every_operation_answers_with_a_schema_and_an_example(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for name, operation in operations(document):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, name
        for code, response in successes.items():
            if code == "204":
                assert "content" not in response, name
                continue
            media = response["content"]["application/json"]
            assert media["schema"]["$ref"].startswith("#/components/schemas/"), name
            assert problems(document, media["schema"], media["example"]) == [], name
        error = operation["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}, name


def test_every_schema_example_keeps_to_its_schema(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    with_examples = {name for name, schema in schemas.items() if schema.get("examples")}
    main = {
        "User", "Movie", "MovieWithRatings", "Rating", "RatingPage", "MoviePage", "Error",
        "Recommendations", "SimilarMovies", "PopularMovies", "Prediction", "AlgorithmList",
        "Champions", "Reason", "Because", "RankedItem",
    }  # fmt: skip
    assert main <= with_examples
    for name in with_examples:
        Draft202012Validator.check_schema(schemas[name])
        for example in schemas[name]["examples"]:
            assert problems(document, {"$ref": f"#/components/schemas/{name}"}, example) == [], name


def test_the_schemas_catch_what_breaks_the_shapes(client: FlaskClient) -> None:
    """The schemas say something: a missing field, a wrong type or an unknown reason fails."""
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]

    def fails(name: str, instance: Any) -> bool:
        return bool(problems(document, {"$ref": f"#/components/schemas/{name}"}, instance))

    item = schemas["RankedItem"]["examples"][0]
    assert fails("RankedItem", {k: v for k, v in item.items() if k != "reason"})
    assert fails("RankedItem", item | {"reason": {"kind": "because-i-said-so"}})
    assert fails("RankedItem", item | {"score": "high"})
    movie = schemas["Movie"]["examples"][0]
    assert fails("Movie", movie | {"year": "1999"})
    assert fails("Error", {"error": {"code": "not_found", "message": "No."}})
    # The fields movies are gaining are optional, and may be null.
    bare = {k: v for k, v in movie.items() if k not in ("poster_url", "display_title")}
    assert not fails("Movie", bare)
    assert not fails("Movie", movie | {"poster_url": None, "display_title": None})
    assert schemas["Movie"]["properties"]["display_title"]["type"] == ["string", "null"]
    assert schemas["Movie"]["examples"][0]["display_title"] == "The Matrix"


def test_summaries_are_plain_text_and_descriptions_markdown(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for name, operation in operations(document):
        assert "`" not in operation["summary"], name
        assert operation["summary"] and "\n" not in operation["summary"], name
    text = str(document)
    assert "``" not in text  # no reStructuredText literal anywhere, schemas' descriptions included
    retrain = document["paths"]["/api/v1/algorithms/{name}/retrain"]["post"]
    assert retrain["summary"] == "Queue a retrain of name now (even when its data has not changed)"
    assert "`already_waiting`" in retrain["description"]
    assert "`favorite_genres`" in document["components"]["schemas"]["UserIn"]["description"]


def test_every_query_parameter_says_what_it_does(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for name, operation in operations(document):
        for parameter in operation["parameters"]:
            if parameter["in"] == "query":
                assert parameter.get("description"), (name, parameter["name"])
                assert "description" not in parameter["schema"], (name, parameter["name"])
    popular = parameters(document, "/movies/popular")
    assert popular["window"]["description"].startswith("`all`, or ")


def test_every_operation_is_under_one_described_tag(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    tags = [tag["name"] for tag in document["tags"]]
    assert tags == [
        "Users",
        "Ratings",
        "Movies",
        "Feedback",
        "Recommendations",
        "Algorithms",
        "Document",
    ]
    assert all(tag["description"] for tag in document["tags"])
    for name, operation in operations(document):
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, name
    assert {op["tags"][0] for _, op in operations(document)} == set(tags)  # none is empty
    similar = document["paths"]["/api/v1/movies/{movie_id}/similar"]["get"]
    assert similar["tags"] == ["Recommendations"]


def test_describe_splits_a_docstring() -> None:
    summary, description = describe(
        """The user's top ``n`` movies: live; or not.

        Second ``paragraph``
        on two lines."""
    )
    assert summary == "The user's top n movies: live"
    assert description == (
        "The user's top `n` movies: live; or not.\n\nSecond `paragraph` on two lines."
    )


@pytest.fixture
def trained_client(
    pipeline_settings: dict[str, Any],  # noqa: F811
    seeded: Database,  # noqa: F811
    train: Callable[..., Any],  # noqa: F811
) -> FlaskClient:
    """A client of an app with synthetic data and als and content trained (lists with every
    kind of reason: because, alike, popular_in...)."""
    train("als", "content")
    return create_app(pipeline_settings).test_client()


def test_real_answers_keep_to_their_schemas(trained_client: FlaskClient) -> None:
    client = trained_client
    document = client.get("/api/v1/openapi.json").get_json()
    movie = client.get("/api/v1/movies?limit=1").get_json()["items"][0]["id"]
    raters = client.get(f"/api/v1/movies/{movie}/ratings", headers=SERVICE_AUTH).get_json()
    rater = raters["items"][0]["user_id"]
    reads = {
        "/api/v1/users/{user_id}": f"/api/v1/users/{rater}",
        "/api/v1/users/{user_id}/ratings": f"/api/v1/users/{rater}/ratings?limit=3",
        "/api/v1/users/{user_id}/ratings/{movie_id}": f"/api/v1/users/{rater}/ratings/{movie}",
        "/api/v1/users/{user_id}/recommendations": f"/api/v1/users/{rater}/recommendations",
        "/api/v1/users/{user_id}/predictions": (
            f"/api/v1/users/{rater}/predictions?movie_id={movie}"
        ),
        "/api/v1/movies": "/api/v1/movies?limit=3",
        "/api/v1/movies/{movie_id}": f"/api/v1/movies/{movie}",
        "/api/v1/movies/{movie_id}/ratings": f"/api/v1/movies/{movie}/ratings?limit=3",
        "/api/v1/movies/{movie_id}/similar": f"/api/v1/movies/{movie}/similar?algorithm=als",
        "/api/v1/movies/popular": "/api/v1/movies/popular?n=5",
        "/api/v1/genres": "/api/v1/genres",
        "/api/v1/algorithms": "/api/v1/algorithms",
        "/api/v1/champions": "/api/v1/champions",
    }
    kinds: set[str] = set()
    for path, url in reads.items():
        for attempt in ("cold", "cached"):  # a computed answer, then the cached one
            response = client.get(url, headers=SERVICE_AUTH)
            assert response.status_code == 200, (url, attempt, response.get_json())
            schema = document["paths"][path]["get"]["responses"]["200"]["content"]
            body = response.get_json()
            assert problems(document, schema["application/json"]["schema"], body) == [], url
            kinds |= {item["reason"]["kind"] for item in body.get("items", []) if "reason" in item}
    assert {"because", "alike", "popular"} <= kinds
    missing = client.get("/api/v1/users/nobody", headers=SERVICE_AUTH)
    error = document["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["default"]
    assert (
        problems(document, error["content"]["application/json"]["schema"], missing.get_json()) == []
    )

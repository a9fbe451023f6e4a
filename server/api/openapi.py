"""The OpenAPI 3.1 document, built from the app's real routes: every ``/api/v1`` rule in the URL
map becomes an operation, described by its view's docstring, ``operation`` spec and auth, and
answering with its schema of ``server.api.responses``. Docstrings are reStructuredText and the
document is Markdown: ``name`` becomes `name` in descriptions, and plain name in summaries."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pydantic
from flask import Flask

from server.api.operation import OperationSpec
from server.api.responses import RESPONSE_SCHEMAS, RESPONSES
from server.api.schemas import NO_NUL

API_PREFIX = "/api/v1"
# The attribute that keeps a view under API_PREFIX out of the document (the docs page).
HIDDEN = "openapi_hidden"

_DESCRIPTION = """\
The JSON API of movierec. Reads of the catalogue are public; writes, and reads of a person's
data, take a bearer credential (**Authorize**: the service API key that `movierec api-key`
prints, or a personal token). Every error answers with the one `Error` shape. Lists are paged
with `limit` and `offset`; ranked lists say where they came from (`source`, `model_version`,
`cached`), and each item why it is there (`because`, `reason`).
"""

# Each blueprint's operations under one tag (a section of the reference page), in this order.
TAGS = {
    "users": ("Users", "People, by the client's own ids, and their ratings."),
    "ratings": (
        "Ratings",
        "One person's rating of one movie. A change reaches their recommendations within moments.",
    ),
    "movies": ("Movies", "The catalogue: movies, their ratings, the genres."),
    "feedback": (
        "Feedback",
        "Feedback besides stars: watched (`view`), `like`, `watchlist`, `not_interested`."
        " Each reaches the person's recommendations within moments, like a rating.",
    ),
    "recommendations": (
        "Recommendations",
        "Live lists and predictions. Every list says where it came from (`source`,"
        " `model_version`, `cached`), and every item why it is there (`because`, `reason`).",
    ),
    "algorithms": (
        "Algorithms",
        "The recommender plugins, their active model versions, retraining, and the champions"
        " that serve each segment of people when a request names no algorithm.",
    ),
    "openapi": ("Document", "This OpenAPI document."),
}

_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "A service API key, or a personal token acting for its own user (an admin's for anyone)."
        " Reads of a person's data also take the web pages' session of that person."
    ),
}


# Bodies that are not one JSON object, by endpoint.
RAW_BODIES: dict[str, dict[str, Any]] = {
    "feedback.post_feedback_bulk": {
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "One JSON object a line"},
            "example": '{"user_id": "alice", "movie_id": "318", "type": "view"}\n'
            '{"user_id": "bob", "movie_id": "2571", "type": "like", "timestamp": 1700000000}\n',
        }
    }
}


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route under ``/api/v1``."""
    schemas: dict[str, Any] = dict(RESPONSE_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, HIDDEN, False):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                path, rule.endpoint, view, schemas
            )
    used = {tag for methods in paths.values() for op in methods.values() for tag in op["tags"]}
    described = [{"name": name, "description": text} for name, text in TAGS.values()]
    tags = [tag for tag in described if tag["name"] in used]
    tags += [{"name": name} for name in sorted(used - {tag["name"] for tag in described})]
    return {
        "openapi": "3.1.0",
        "info": {"title": "movierec", "version": "1", "description": _DESCRIPTION},
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": {name: _markdown_descriptions(schema) for name, schema in schemas.items()},
            "securitySchemes": {"apiKey": _BEARER},
        },
    }


def _operation(path: str, endpoint: str, view: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    spec: OperationSpec = getattr(view, "operation_spec", OperationSpec((200,), None, None))
    summary, description = describe(view.__doc__ or endpoint)
    error = {"description": "Error", "content": _json_ref("Error")}
    operation: dict[str, Any] = {
        "operationId": endpoint,
        "tags": [_tag(endpoint)],
        "summary": summary,
        "parameters": _path_parameters(path) + _query_parameters(spec.query),
        "responses": {str(code): _success(code, RESPONSES[endpoint]) for code in spec.success}
        | {"default": error},
    }
    if description.replace("`", "").rstrip(".") != summary:  # it says more than the summary
        operation["description"] = description
    if spec.body is not None:
        schema = _schema(spec.body)
        schemas.update(schema.pop("$defs", {}))  # the models inside the body, as components
        schemas[spec.body.__name__] = schema
        content = _json_ref(spec.body.__name__)
        operation["requestBody"] = {"required": True, "content": content}
    if endpoint in RAW_BODIES:
        operation["requestBody"] = {"required": True, "content": RAW_BODIES[endpoint]}
    if getattr(view, "requires_auth", False):
        operation["security"] = [{"apiKey": []}]
    return operation


def _tag(endpoint: str) -> str:
    """The tag of a view: its blueprint's."""
    blueprint = endpoint.split(".")[0]
    return TAGS[blueprint][0] if blueprint in TAGS else blueprint.capitalize()


def _success(status: int, schema: str | None) -> dict[str, Any]:
    """A successful answer: its body's schema and example (none for 204)."""
    if schema is None:
        return {"description": "No content"}
    content = _json_ref(schema)
    content["application/json"]["example"] = RESPONSE_SCHEMAS[schema]["examples"][0]
    return {"description": "Created" if status == 201 else "Success", "content": content}


def _json_ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


_LITERAL = re.compile(r"``(.+?)``")


def describe(docstring: str) -> tuple[str, str]:
    """A view's summary (its first sentence or clause, plain text) and description (the whole
    docstring, paragraphs unwrapped, in Markdown)."""
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines())
        for block in re.split(r"\n\s*\n", inspect.cleandoc(docstring))
        if block.strip()
    ]
    first = paragraphs[0] if paragraphs else docstring.strip()
    sentence = re.split(r"(?<=[.;])\s", first, maxsplit=1)[0].rstrip(".;")
    return _LITERAL.sub(r"\1", sentence), "\n\n".join(markdown(p) for p in paragraphs)


def markdown(text: str) -> str:
    """reStructuredText's inline literals (``name``) as Markdown's (`name`)."""
    return _LITERAL.sub(r"`\1`", text)


def _markdown_descriptions(schema: Any) -> Any:
    """``schema`` with every ``description`` in Markdown (pydantic takes a model's docstring)."""
    if isinstance(schema, dict):
        return {
            key: markdown(value)
            if key == "description" and isinstance(value, str)
            else _markdown_descriptions(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_markdown_descriptions(item) for item in schema]
    return schema


def _schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def _path_parameters(path: str) -> list[dict[str, Any]]:
    schema = {"type": "string", "pattern": NO_NUL}
    return [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name in re.findall(r"{([^}]+)}", path)
    ]


def _query_parameters(model: type[pydantic.BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    document = _schema(model)
    required = set(document.get("required", []))
    return [
        _query_parameter(name, name in required, _present(schema))
        for name, schema in document.get("properties", {}).items()
    ]


def _query_parameter(name: str, required: bool, schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter; its field's description is the parameter's, not its schema's."""
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required}
    if "description" in schema:
        parameter["description"] = markdown(schema["description"])
    parameter["schema"] = {key: value for key, value in schema.items() if key != "description"}
    return parameter


def _present(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without its ``null`` branch (nor that default): a parameter
    left out is no filter, and a query string has no spelling of null (``?year=null`` is not a
    year)."""
    branches: list[dict[str, Any]] = [
        branch for branch in schema.get("anyOf", []) if branch.get("type") != "null"
    ]
    if len(branches) != 1:
        return schema
    kept = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return branches[0] | kept

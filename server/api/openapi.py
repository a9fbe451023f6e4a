"""The OpenAPI 3.1 document, built from the app's real routes: every ``/api/v1`` rule in the URL
map becomes an operation, described by its view's docstring, ``operation`` spec and auth."""

from __future__ import annotations

import re
from typing import Any

import pydantic
from flask import Flask

from server.api.operation import OperationSpec
from server.api.schemas import NO_NUL

API_PREFIX = "/api/v1"
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}


_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "A service API key, or a personal token acting for its own user (an admin's for anyone)."
        " Reads of a person's data also take the web pages' session of that person."
    ),
}


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route under ``/api/v1``."""
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                path, rule.endpoint, view, schemas
            )
    return {
        "openapi": "3.1.0",
        "info": {"title": "movierec", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": _BEARER},
        },
    }


def _operation(path: str, endpoint: str, view: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    spec: OperationSpec = getattr(view, "operation_spec", OperationSpec((200,), None, None))
    doc = (view.__doc__ or endpoint).strip().splitlines()[0]
    error = {"description": "Error", "content": _json_ref("Error")}
    operation: dict[str, Any] = {
        "operationId": endpoint,
        "summary": doc,
        "parameters": _path_parameters(path) + _query_parameters(spec.query),
        "responses": {str(code): {"description": "Success"} for code in spec.success}
        | {"default": error},
    }
    if spec.body is not None:
        schemas[spec.body.__name__] = _schema(spec.body)
        content = _json_ref(spec.body.__name__)
        operation["requestBody"] = {"required": True, "content": content}
    if getattr(view, "requires_auth", False):
        operation["security"] = [{"apiKey": []}]
    return operation


def _json_ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


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
        {"name": name, "in": "query", "required": name in required, "schema": _present(schema)}
        for name, schema in document.get("properties", {}).items()
    ]


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

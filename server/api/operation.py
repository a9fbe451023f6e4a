"""The ``operation`` decorator: validates a view's body and query string with pydantic models,
passes them in as ``body=`` and ``query=``, and records what the OpenAPI document says of the view.
Declaring each model once keeps validation and documentation from drifting apart."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import pydantic
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from server.errors import MovieRecError, ValidationError
from server.http_errors import reject_nul

M = TypeVar("M", bound=pydantic.BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


class UnsupportedMediaType(MovieRecError):
    """The body is not JSON."""

    status = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class OperationSpec:
    """What the OpenAPI document says of one view."""

    success: tuple[int, ...]
    body: type[pydantic.BaseModel] | None
    query: type[pydantic.BaseModel] | None


def operation(
    *,
    success: tuple[int, ...] = (200,),
    body: type[pydantic.BaseModel] | None = None,
    query: type[pydantic.BaseModel] | None = None,
) -> Callable[[F], F]:
    """Validate the request's body and query string; document the view's responses."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_model(query, request.args.to_dict(), "parameter")
            return view(*args, **kwargs)

        wrapper.operation_spec = OperationSpec(success, body, query)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def parse_body(model: type[M]) -> M:
    """The request's JSON body as ``model``; 415 if not JSON, 413 if too large, 400 if malformed
    (nested too deep included), holding a NUL character, or invalid."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    raw = body_bytes()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # json nests by recursion: ~1,000 levels overflow it
        raise ValidationError("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", code="invalid_json")
    reject_nul(data)
    return parse_model(model, data, "field")


def body_bytes() -> bytes:
    """The whole body, or ``RequestEntityTooLarge`` (413) past ``MAX_CONTENT_LENGTH``.

    A body with a ``Content-Length`` is checked against the limit before it is read. A chunked
    one is not: Werkzeug stops reading it at the limit without saying so (the truncated JSON was
    a 400), so a chunked body that reaches the limit counts as too large.
    """
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


def parse_model(model: type[M], data: dict[str, Any], noun: str) -> M:
    """Validate ``data``; the first problem becomes a ``ValidationError`` naming its field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise _first_problem(error, noun) from None


def _first_problem(error: pydantic.ValidationError, noun: str) -> ValidationError:
    problem = error.errors(include_url=False)[0]
    location = [str(part) for part in problem["loc"]]
    field = ".".join(location) or None
    if problem["type"] == "missing":
        return ValidationError(f"'{field}' is required.", code=f"missing_{noun}", field=field)
    if problem["type"] == "extra_forbidden":
        return ValidationError(
            f"'{field}' is not a known {noun}.", code=f"unknown_{noun}", field=field
        )
    code = f"invalid_{location[0]}" if location else "invalid_input"
    return ValidationError(f"'{field}': {problem['msg']}.", code=code, field=field)

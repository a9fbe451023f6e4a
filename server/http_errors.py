"""The one JSON error shape for every 4xx and 5xx response of the API, and HTML error pages for
the web pages:

    {"error": {"code": "invalid_rating", "message": "...", "field": "rating"}}

Domain errors (``server.errors``), Werkzeug's HTTP errors and a database that does not answer
(503 with ``Retry-After``) are all turned into it here. Here too is the one refusal of NUL
characters, which no text of this app may hold (``reject_nul``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from server.errors import AuthenticationError, MovieRecError, Unavailable, ValidationError

log = logging.getLogger(__name__)

# How long a client should wait before retrying a 503.
RETRY_AFTER_SECONDS = 5


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The body of every error response."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Build a JSON error response in the one shape."""
    response = jsonify(error_body(code, message, field))
    response.status_code = status
    return response


# Stable codes for the HTTP errors Werkzeug raises before our code runs.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "headers_too_large",
}


# What a person reads on an error page (the JSON API keeps Werkzeug's technical descriptions).
_PAGE_MESSAGES = {
    "bad_request": "The form expired or came from another site: go back, reload and try again.",
    "forbidden": "That page is for administrators.",
    "not_found": "There is no such page.",
    "too_many_requests": "Too many attempts: wait a minute and try again.",
}
_PAGE_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    500: "Server error",
    503: "Unavailable",
}


def http_error_code(status: int) -> str:
    """The stable code of an HTTP error raised outside our code (Werkzeug's, gunicorn's)."""
    return _HTTP_CODES.get(status, "internal_error" if status == 500 else "http_error")


def wants_page() -> bool:
    """Whether the error should be an HTML page: a request for one of the web pages (not the
    API, the health checks, or a page script asking for JSON)."""
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return False
    return request.accept_mimetypes.best != "application/json"


def error_page(status: int, message: str) -> Response:
    """The HTML error page."""
    title = _PAGE_TITLES.get(status, "Error")
    response = make_response(render_template("error.html", title=title, message=message))
    response.status_code = status
    return response


def reject_nul(value: object, field: str | None = None) -> None:
    """``ValidationError`` when ``value`` (a string, or lists and objects of them, keys included)
    holds a NUL character. PostgreSQL cannot store one (a 500 before), and SQLite's LIKE stops at
    it (``?q=%00`` matched every movie)."""
    stack = [value]
    while stack:  # not recursive: a body may nest as deep as the JSON parser allows
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValidationError(
                    "NUL characters are not allowed.", code="invalid_character", field=field
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def reject_nul_in_request() -> None:
    """Refuse a NUL in the path, the query string or a form, before any view (JSON bodies are
    checked where they are parsed, ``server.api.operation.parse_body``)."""
    reject_nul(request.path)
    for name, value in request.args.items(multi=True):
        reject_nul([name, value], field=name)
    if request.mimetype in _FORMS:
        for name, value in request.form.items(multi=True):
            reject_nul([name, value], field=name)


def is_database_outage(error: Exception) -> bool:
    """Whether a database error means it cannot be reached or cannot work now (retrying later
    can succeed), rather than a bug in a statement."""
    if isinstance(error, (OperationalError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into the JSON shape, and the NUL check."""
    app.before_request(reject_nul_in_request)

    @app.errorhandler(MovieRecError)
    def _domain_error(error: MovieRecError) -> Response:
        if wants_page():
            response = error_page(error.status, error.message)
        else:
            response = jsonify(error.to_dict())
            response.status_code = error.status
        if isinstance(error, AuthenticationError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="movierec"'
        if error.status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database_error(error: Exception) -> Response:
        if not is_database_outage(error):
            return _unexpected(error)
        log.warning("database unavailable: %s", error.__class__.__name__)
        message = "The database is not answering; try again shortly."
        return _domain_error(Unavailable(message, code="database_unavailable"))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = http_error_code(status)
        if wants_page():
            return error_page(status, _PAGE_MESSAGES.get(code, error.description or error.name))
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        if wants_page():
            return error_page(500, "Something went wrong on our side. Please try again.")
        return error_response(500, "internal_error", "The server failed to handle the request.")

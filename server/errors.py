"""One error hierarchy and one JSON error shape for every 4xx and 5xx response:

    {"error": {"code": "invalid_rating", "message": "...", "field": "rating"}}

Services raise these domain errors; the app turns them (and Werkzeug's HTTP errors) into that shape.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class MovieRecError(Exception):
    """Base of every error a client can cause; carries its HTTP status and a stable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The body of the JSON error response."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(MovieRecError):
    """The input is malformed or out of range."""

    status = 400
    code = "invalid_input"


class AuthenticationError(MovieRecError):
    """No valid credentials were given."""

    status = 401
    code = "unauthorized"


class Forbidden(MovieRecError):
    """The credentials are valid but do not allow this."""

    status = 403
    code = "forbidden"


class NotFound(MovieRecError):
    """The addressed user, movie or rating does not exist."""

    status = 404
    code = "not_found"


class Conflict(MovieRecError):
    """The resource already exists, or its state does not allow the change."""

    status = 409
    code = "conflict"


class Unavailable(MovieRecError):
    """A service the request needs (the task broker) is down; retrying later can work."""

    status = 503
    code = "unavailable"


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Build a JSON error response in the one shape."""
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
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
    415: "unsupported_media_type",
    429: "too_many_requests",
}


# What a person reads on an error page (the JSON API keeps Werkzeug's technical descriptions).
_PAGE_MESSAGES = {
    "bad_request": "The form expired or came from another site: go back, reload and try again.",
    "forbidden": "That page is for administrators.",
    "not_found": "There is no such page.",
    "too_many_requests": "Too many attempts: wait a minute and try again.",
}
_PAGE_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 500: "Server error"}


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


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into the JSON shape."""

    @app.errorhandler(MovieRecError)
    def _domain_error(error: MovieRecError) -> Response:
        if wants_page():
            return error_page(error.status, error.message)
        response = jsonify(error.to_dict())
        response.status_code = error.status
        if isinstance(error, AuthenticationError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="movierec"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        if wants_page():
            return error_page(status, _PAGE_MESSAGES.get(code, error.description or error.name))
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        if wants_page():
            return error_page(500, "Something went wrong on our side. Please try again.")
        return error_response(500, "internal_error", "The server failed to handle the request.")

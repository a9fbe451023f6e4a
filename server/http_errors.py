"""The one JSON error shape for every 4xx and 5xx response of the API, and HTML error pages for
the web pages:

    {"error": {"code": "invalid_rating", "message": "...", "field": "rating"}}

Domain errors (``server.errors``) and Werkzeug's HTTP errors are both turned into it here.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from server.errors import AuthenticationError, MovieRecError

log = logging.getLogger(__name__)


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

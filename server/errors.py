"""One error hierarchy for everything a client can get wrong. Services raise these; the web app
turns them into the one JSON error shape (``server.http_errors``), the CLI into a message and a
non-zero exit. Nothing here knows of Flask.
"""

from __future__ import annotations

from typing import Any


class MovieRecError(Exception):
    """Base of every error a client can cause; carries its HTTP status and a stable code. The
    body of an error response: ``{"error": {"code": ..., "message": ..., "field": ...}}``."""

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
    """A service the request needs (the database, the task broker) is down; retrying later can
    work (the response says when: ``Retry-After``)."""

    status = 503
    code = "unavailable"

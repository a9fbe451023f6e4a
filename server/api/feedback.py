"""``/api/v1/users/{user_id}/feedback``: give, list and undo feedback besides stars; and
``/api/v1/feedback/bulk``: many people's feedback as NDJSON, a line each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from server.api.operation import UnsupportedMediaType, body_bytes, operation
from server.api.schemas import FeedbackIn, FeedbackQuery
from server.api.serialize import feedback_json, page_json
from server.auth import require_credentials, require_service_key
from server.context import get_db, get_queue
from server.services.feedback import (
    give_feedback,
    give_feedback_lines,
    list_feedback,
    remove_feedback,
)

bp = Blueprint("feedback", __name__)

NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-seq")


@bp.post("/users/<user_id>/feedback")
@require_credentials
@operation(success=(200, 201), body=FeedbackIn)
def post_feedback(user_id: str, body: FeedbackIn) -> tuple[dict[str, Any], int]:
    """Give feedback on a movie: 201 when it is new, 200 when it was already given (nothing
    changes: idempotent)."""
    change = give_feedback(get_db(), get_queue(), user_id, body.movie_id, body.type, body.timestamp)
    return feedback_json(change.given, user_id), 201 if change.created else 200


@bp.get("/users/<user_id>/feedback")
@require_credentials
@operation(query=FeedbackQuery)
def list_user_feedback(user_id: str, query: FeedbackQuery) -> dict[str, Any]:
    """A page of a person's feedback, newest first (of one type if asked)."""
    kinds = [] if query.type is None else [query.type]
    with get_db().transaction() as session:
        given, total = list_feedback(session, user_id, kinds, query.limit, query.offset)
    items = [feedback_json(item, user_id) for item in given]
    return page_json(items, total, query.limit, query.offset)


@bp.delete("/users/<user_id>/feedback/<kind>/<movie_id>")
@require_credentials
@operation(success=(204,))
def delete_feedback(user_id: str, kind: str, movie_id: str) -> tuple[str, int]:
    """Undo feedback: the movie may be suggested again (for ``not_interested``)."""
    remove_feedback(get_db(), get_queue(), user_id, movie_id, kind)
    return "", 204


@bp.post("/feedback/bulk")
@require_service_key
@operation()
def post_feedback_bulk() -> dict[str, Any]:
    """Many people's feedback as NDJSON (``Content-Type: application/x-ndjson``), one
    ``{"user_id", "movie_id", "type", "timestamp"?}`` object a line, up to 10,000 lines: each
    line is stored or refused whole, and the answer reports every line."""
    if request.mimetype not in NDJSON:
        raise UnsupportedMediaType(
            "Send one JSON object a line with 'Content-Type: application/x-ndjson'."
        )
    results = give_feedback_lines(get_db(), get_queue(), body_bytes().splitlines())
    counts = {status: 0 for status in ("created", "unchanged", "error")}
    for result in results:
        counts[result.status] += 1
    return {
        **counts,
        "lines": [
            {"line": result.line, "status": result.status}
            | ({} if result.error is None else result.error)
            for result in results
        ],
    }

"""Feedback besides stars on the pages: every card's "Watchlist" and "Not interested" buttons
(with an undo), and the watchlist page, which also lists what you said you do not want.

The buttons are forms (they work without JavaScript: the page reloads); ``app.js`` sends them
with ``fetch`` and updates the card in place. Both call ``server.services.feedback``, as the
API does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from server.context import get_db, get_queue
from server.errors import MovieRecError, ValidationError
from server.models import Movie
from server.services.feedback import (
    give_feedback,
    list_feedback,
    movies_with_feedback,
    remove_feedback,
)
from server.services.movies import is_shown, rating_summaries
from server.web.forms import ConfirmForm, safe_path
from server.web.rows import movie_card
from server.web.session import login_required, me, signed_in

bp = Blueprint("web-feedback", __name__)

# What the card buttons may say; ``view`` and ``like`` come through the API.
PAGE_TYPES = ("watchlist", "not_interested")
LISTED = 200


@bp.app_template_global()
def feedback_on(movie_id: str) -> frozenset[str] | None:
    """The card buttons' state: which of ``PAGE_TYPES`` the signed-in person gave this movie
    (their feedback is read once a request, for every card of the page); None for a visitor,
    who has no buttons."""
    person = me()
    if person is None:
        return None
    given: dict[str, set[str]] | None = g.get("page_feedback")
    if given is None:
        given = {}
        with get_db().transaction() as session:
            items, _ = list_feedback(session, person.username, PAGE_TYPES, 10_000, 0)
        for item in items:
            given.setdefault(item.movie_id, set()).add(item.type)
        g.page_feedback = given
    return frozenset(given.get(movie_id, ()))


@bp.post("/feedback")
@login_required
def change_feedback() -> Response:
    """Give or take back watchlist or not-interested feedback on a movie; JSON for ``fetch``,
    else back to the page the button was on."""
    person = signed_in()
    form = ConfirmForm()
    movie_id = request.form.get("movie_id", "")
    kind = request.form.get("type", "")
    action = request.form.get("change", "")
    try:
        if not form.validate_on_submit():
            raise ValidationError("The form expired: reload the page and try again.")
        if kind not in PAGE_TYPES or action not in ("add", "remove"):
            raise ValidationError("Unknown feedback.", field="type")
        if action == "add":
            give_feedback(get_db(), get_queue(), person.username, movie_id, kind)
        else:
            remove_feedback(get_db(), get_queue(), person.username, movie_id, kind)
    except MovieRecError as problem:
        if _wants_json():
            return _json(problem.to_dict(), problem.status)
        flash(problem.message, "error")
        return redirect(_back())
    if _wants_json():
        return _json({"movie_id": movie_id, "type": kind, "given": action == "add"}, 200)
    flash(_said(kind, action))
    return redirect(_back())


@bp.get("/watchlist")
@login_required
def watchlist() -> str:
    """The movies on your watchlist, newest first, and those you said you do not want."""
    person = signed_in()
    with get_db().transaction() as session:
        lists = {
            kind: _cards(session, movies_with_feedback(session, person.username, kind, LISTED))
            for kind in PAGE_TYPES
        }
    return render_template(
        "watchlist.html", wanted=lists["watchlist"], refused=lists["not_interested"]
    )


def _cards(session: Session, movies: list[Movie]) -> list[dict[str, Any]]:
    """Cards of the movies lists may show now (a hidden one is in no list, this one included)."""
    movies = [movie for movie in movies if is_shown(movie)]
    summaries = rating_summaries(session, [movie.id for movie in movies])
    return [movie_card(movie, summaries[movie.id]) for movie in movies]


def _said(kind: str, action: str) -> str:
    """What the page says once a button worked (without JavaScript)."""
    if kind == "watchlist":
        return "Added to your watchlist." if action == "add" else "Removed from your watchlist."
    if action == "add":
        return "You won't see it suggested again (your watchlist page can undo it)."
    return "It may be suggested again."


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _json(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _back() -> str:
    """The page the button was on, when it is a path of this site; else the watchlist."""
    return safe_path(request.form.get("next", "")) or url_for("web-feedback.watchlist")

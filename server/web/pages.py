"""Browsing, movie pages with a star rating, "For you", and onboarding for new people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask import session as session_store
from werkzeug.wrappers import Response

from server.api.serialize import ranked_json
from server.context import get_db, get_queue, get_serving
from server.errors import MovieRecError, ValidationError
from server.models import Rating
from server.services.movies import get_movie, list_genres, rating_summaries, search_movies
from server.services.onboarding import next_questions
from server.services.popular import popular_movies
from server.services.predictions import predict_rating
from server.services.ratings import rate_movie, rate_movies, remove_rating, to_half_stars
from server.services.recommendations import RankedAnswer, recommendations, similar_movies
from server.services.users import get_user, known_genres
from server.web.forms import (
    ConfirmForm,
    GenresForm,
    RatingForm,
    beyond_last_page,
    page_count,
    page_number,
)
from server.web.session import login_required, me, signed_in

bp = Blueprint("web", __name__)

PAGE_SIZE = 24
FOR_YOU_LENGTH = 20
SIMILAR_LENGTH = 10
ONBOARDING_MOVIES = 12
# The movies shown during onboarding are remembered (in the signed session cookie), so a skipped
# one is not asked again; the most recent this many.
ASKED_KEY = "onboarding_asked"
MAX_ASKED = 200


@bp.get("/")
def home() -> str | Response:
    """Signed-in people go to their recommendations; visitors see what is popular."""
    if me() is not None:
        return redirect(url_for("web.for_you"))
    with get_db().transaction() as session:
        pairs, _ = popular_movies(get_serving().cache, session, FOR_YOU_LENGTH, [], None)
    popular = ranked_json(get_serving().movies, _ranked(pairs, "popularity"))
    return render_template("home.html", popular=popular)


@bp.get("/movies")
def movies() -> tuple[str, int] | Response:
    """Search by title, filter by genre and year, a page at a time."""
    query = request.args.get("q", "").strip() or None
    genre = request.args.get("genre") or None
    year = request.args.get("year", type=int)
    page = page_number()
    error = None
    with get_db().transaction() as session:
        genres = list_genres(session)
        try:
            found, total = search_movies(
                session,
                query=query,
                genre=genre,
                year=year,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
        except MovieRecError as problem:
            error, found, total = problem.message, [], 0
        summaries = rating_summaries(session, [movie.id for movie in found])
        rows = [(movie, summaries[movie.id]) for movie in found]
    pages = page_count(total, PAGE_SIZE)
    if (last := beyond_last_page(page, pages)) is not None:
        return last
    return render_template(
        "movies.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        genres=genres,
        query=query or "",
        genre=genre or "",
        year=year or "",
        error=error,
    ), 400 if error else 200


@bp.get("/movies/<movie_id>")
def movie(movie_id: str) -> str:
    """A movie: details, your rating, the rating we predict for you, and similar movies."""
    person = me()
    serving = get_serving()
    with get_db().transaction() as session:
        found = get_movie(session, movie_id)
        summary = rating_summaries(session, [found.id])[found.id]
        form = RatingForm()
        prediction = None
        if person is not None:
            rating = session.get(Rating, (person.user_id, found.id))
            form.rating.data = f"{rating.stars:g}" if rating else None
            prediction = predict_rating(serving, session, person.username, movie_id)
    similar = with_why(
        ranked_json(serving.movies, similar_movies(serving, movie_id, SIMILAR_LENGTH))
    )
    return render_template(
        "movie.html",
        movie=found,
        summary=summary,
        form=form,
        prediction=prediction,
        similar=similar,
    )


@bp.post("/movies/<movie_id>/rating")
@login_required
def rate(movie_id: str) -> Response | tuple[Response, int]:
    """Set or remove your rating. Answers JSON to the page's script, else goes back."""
    person = signed_in()
    form = RatingForm()  # its CSRF token was checked by CSRFProtect before this view
    wants_json = request.accept_mimetypes.best == "application/json"
    stars: float | None = None
    try:
        if form.remove.data:
            remove_rating(get_db(), get_queue(), person.username, movie_id)
        else:
            half_stars = half_stars_of(form.rating.data)
            rate_movie(get_db(), get_queue(), person.username, movie_id, half_stars)
            stars = half_stars / 2
    except MovieRecError as error:
        if wants_json:
            return jsonify(error.to_dict()), error.status
        flash(error.message, "error")
        return redirect(url_for("web.movie", movie_id=movie_id))
    if wants_json:
        return jsonify({"movie_id": movie_id, "rating": stars})
    flash("Rating removed." if stars is None else f"Rated {stars:g} stars.")
    return redirect(url_for("web.movie", movie_id=movie_id))


@bp.get("/for-you")
@login_required
def for_you() -> str:
    """Your recommendations, live: the page's script refreshes them as the workers update."""
    return render_template("for_you.html", answer=_your_list())


@bp.get("/for-you.json")
@login_required
def for_you_json() -> dict[str, Any]:
    """The list of "For you" as JSON, for the page's refresh (the session authenticates it:
    the API takes bearer credentials only)."""
    return _your_list()


def _your_list() -> dict[str, Any]:
    serving = get_serving()
    return with_why(
        ranked_json(serving.movies, recommendations(serving, signed_in().username, FOR_YOU_LENGTH))
    )


def with_why(answer: dict[str, Any]) -> dict[str, Any]:
    """A list with each item's reason in words (the page and its script show the same)."""
    for item in answer["items"]:
        item["why"] = why_text(item)
    return answer


def why_text(item: dict[str, Any]) -> str:
    """An item's ``because`` and ``reason`` as a short sentence."""
    reason = item.get("reason") or {}
    kind = reason.get("kind")
    if item.get("because"):
        named = " and ".join(f"{m['title']} ({m['rating']:g}★)" for m in item["because"])
        return f"Because you rated {named}"
    if kind == "popular_in" and reason.get("genre"):
        return f"Popular in {reason['genre']}"
    if kind == "alike":
        shared = ", ".join(reason.get("genres") or [])
        both = reason.get("rated_both")
        parts = [
            f"Also {shared}" if shared else "",
            f"rated by {both} of the same people" if both else "",
        ]
        return "; ".join(part for part in parts if part) or "Alike"
    return {
        "similar_people": "Liked by people with your taste",
        "trending": "Trending now",
        "new": "New: nobody has rated it yet",
    }.get(str(kind), "Popular")


@bp.route("/welcome", methods=["GET", "POST"])
@login_required
def onboarding() -> str | Response:
    """Step 1 of onboarding: pick favourite genres."""
    person = signed_in()
    form = GenresForm()
    with get_db().transaction() as session:
        form.genres.choices = list_genres(session)
        user = get_user(session, person.username)
        if form.validate_on_submit():
            user.favorite_genres = known_genres(session, form.genres.data or [])
            return redirect(url_for("web.onboarding_ratings"))
        if request.method == "GET":
            form.genres.data = [genre.name for genre in user.favorite_genres]
    return render_template("welcome.html", form=form)


@bp.route("/welcome/rate", methods=["GET", "POST"])
@login_required
def onboarding_ratings() -> str | Response:
    """Step 2: rate the movies that tell the model the most of your taste, a page at a time
    (each page follows the answers before it); then "For you"."""
    person = signed_in()
    form = ConfirmForm()
    serving = get_serving()
    asked = set(session_store.get(ASKED_KEY, []))
    if form.validate_on_submit():
        try:
            saved = rate_movies(get_db(), get_queue(), person.username, _star_fields(request.form))
        except MovieRecError as error:
            flash(error.message, "error")
            return redirect(url_for("web.onboarding_ratings"))
        if request.form.get("more"):
            flash(f"Thanks: {saved} ratings saved. A few more, chosen from your answers:")
            return redirect(url_for("web.onboarding_ratings"))
        session_store.pop(ASKED_KEY, None)
        flash(f"Thanks: {saved} ratings saved. Here is what we think you will like.")
        return redirect(url_for("web.for_you"))
    with get_db().transaction() as session:
        user = get_user(session, person.username)
        genres = [genre.name for genre in user.favorite_genres]
        movies = next_questions(serving, session, user, asked, ONBOARDING_MOVIES)
    session_store[ASKED_KEY] = sorted(asked | set(movies))[-MAX_ASKED:]
    candidates = ranked_json(serving.movies, _ranked([(m, 0.0) for m in movies], "onboarding"))
    return render_template("welcome_rate.html", form=form, candidates=candidates, genres=genres)


def _star_fields(fields: Any) -> dict[str, int]:
    """Every ``rating-<movie id>`` field that has a value, as half stars by movie id."""
    return {
        name.removeprefix("rating-"): half_stars_of(value)
        for name, value in fields.items()
        if name.startswith("rating-") and value
    }


def _ranked(pairs: list[tuple[int, float]], source: str) -> RankedAnswer:
    return RankedAnswer(pairs, source, None, cached=False)


def half_stars_of(text: str | None) -> int:
    """A form's star value ("3.5") as half stars; ``ValidationError`` when it is not one."""
    try:
        return to_half_stars(float(text or ""))
    except ValueError:
        raise ValidationError(
            "Pick a number of stars.", code="invalid_rating", field="rating"
        ) from None

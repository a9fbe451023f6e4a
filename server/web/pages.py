"""Browsing, movie pages with a star rating, "For you", and onboarding for new people.

A visitor who is not signed in rates movies too: their ratings are kept in the session cookie
(``server.web.session``), and their "For you" is computed from those by
``server.services.visitors`` (nothing stored) until signing up or in keeps them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask import session as session_store
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from server.api.serialize import poster_of
from server.context import get_db, get_queue, get_serving
from server.errors import MovieRecError, ValidationError
from server.models import Movie, Rating, User
from server.presentation import display_title, drawn_poster
from server.services.lookup import not_found
from server.services.movies import (
    get_movie,
    is_shown,
    list_genres,
    movie_key,
    rating_summaries,
    search_movies,
)
from server.services.onboarding import next_questions
from server.services.popular import popular_movies
from server.services.predictions import predict_rating
from server.services.ratings import rate_movie, rate_movies, remove_rating, to_half_stars
from server.services.recommendations import RankedAnswer, similar_movies
from server.services.users import get_user, known_genres
from server.services.visitors import movie_keys, visitor_recommendations
from server.serving.context import ServingContext
from server.web.forms import (
    ConfirmForm,
    GenresForm,
    RatingForm,
    beyond_last_page,
    page_count,
    page_number,
)
from server.web.rows import (
    BECAUSE_ROWS,
    LIKED_HALF_STARS,
    MIN_ROW,
    ROW_LENGTH,
    Row,
    alike,
    cards,
    display_name,
    for_you_rows,
    movie_card,
    source_text,
    top_picks,
    trending_row,
)
from server.web.session import (
    MAX_VISITOR_RATINGS,
    keep_visitor_rating,
    login_required,
    me,
    signed_in,
    visitor_ratings,
)

bp = Blueprint("web", __name__)

PAGE_SIZE = 24
FOR_YOU_LENGTH = 20
SIMILAR_LENGTH = 10
ONBOARDING_MOVIES = 12
# The movies shown during onboarding are remembered (in the signed session cookie), so a skipped
# one is not asked again; the most recent this many.
ASKED_KEY = "onboarding_asked"
MAX_ASKED = 200
SHOWN_KEY = "onboarding_shown"
# Drawn posters change only with a movie's title, year or genres.
POSTER_MAX_AGE = 86_400


@bp.app_context_processor
def visitor_context() -> dict[str, int]:
    """What every page may say of a visitor's ratings: how many the session holds (none once
    signed in: signing in takes them)."""
    return {"visitor_rated": len(visitor_ratings())}


@bp.get("/")
def home() -> str | Response:
    """Signed-in people go to their recommendations; visitors see what is popular."""
    if me() is not None:
        return redirect(url_for("web.for_you"))
    serving = get_serving()
    with get_db().transaction() as session:
        pairs, cached = popular_movies(serving.cache, session, FOR_YOU_LENGTH, [], None)
        popular = cards(serving, session, RankedAnswer(pairs, "popularity", None, cached))
        trending = trending_row(serving, session)
    shown = trending if len(trending.items) >= MIN_ROW else None
    return render_template("home.html", popular=popular, trending=shown)


@bp.get("/movies")
def movies() -> tuple[str, int] | Response:
    """Search by title (best match first), filter by genre and year, a page at a time."""
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
        items = [movie_card(movie, summaries[movie.id]) for movie in found]
    pages = page_count(total, PAGE_SIZE)
    if (last := beyond_last_page(page, pages)) is not None:
        return last
    return render_template(
        "movies.html",
        items=items,
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
    """A movie: poster and details, your rating, the rating we predict for you, and what the
    people who liked it also liked."""
    person = me()
    serving = get_serving()
    with get_db().transaction() as session:
        found = shown_movie(session, movie_id)
        summary = rating_summaries(session, [found.id])[found.id]
        form = RatingForm()
        prediction = None
        if person is not None:
            rating = session.get(Rating, (person.user_id, found.id))
            form.rating.data = f"{rating.stars:g}" if rating else None
            prediction = predict_rating(serving, session, person.username, movie_id)
        elif (half := visitor_ratings().get(found.external_id)) is not None:
            form.rating.data = f"{half / 2:g}"
        # A withheld movie (an admin sees its page) has no list of its own.
        nearest = (
            similar_movies(serving, movie_id, SIMILAR_LENGTH)
            if is_shown(found)
            else RankedAnswer([], "nothing: the movie is withheld", None, False)
        )
        similar = cards(serving, session, nearest)
    return render_template(
        "movie.html",
        movie=found,
        title=display_title(found.title) or found.external_id,
        poster_url=poster_of(found),
        summary=summary,
        form=form,
        prediction=prediction,
        similar=similar,
    )


@bp.get("/movies/<movie_id>/poster.svg")
def poster(movie_id: str) -> Response:
    """A poster drawn for a movie without a poster image: its title, year and genre colours."""
    with get_db().transaction() as session:
        found = shown_movie(session, movie_id)
        drawn = drawn_poster(
            display_title(found.title) or found.external_id,
            found.year,
            [genre.name for genre in found.genres],
        )
    response = Response(drawn, mimetype="image/svg+xml")
    # Shared caches may keep a shown movie's poster; a withheld one is drawn for admins alone.
    if is_shown(found):
        response.cache_control.public = True
    else:
        response.cache_control.private = True
    response.cache_control.max_age = POSTER_MAX_AGE
    return response


def shown_movie(session: Session, movie_id: str) -> Movie:
    """The movie, unless it is hidden or unavailable and the person is no admin: then, as for
    an unknown id, ``NotFound`` (as the API answers people)."""
    found = get_movie(session, movie_id)
    person = me()
    if not is_shown(found) and not (person is not None and person.admin):
        raise not_found(Movie, movie_id)
    return found


@bp.post("/movies/<movie_id>/rating")
def rate(movie_id: str) -> Response | tuple[Response, int]:
    """Set or remove your rating (a visitor's is kept in their session until they sign up).
    Answers JSON to the page's script (with the movie's new average and count), else goes
    back."""
    person = me()
    form = RatingForm()  # its CSRF token was checked by CSRFProtect before this view
    wants_json = request.accept_mimetypes.best == "application/json"
    stars: float | None = None
    try:
        half_stars = None if form.remove.data else half_stars_of(form.rating.data)
        if half_stars is not None:  # a rating may be removed after the movie was withheld
            with get_db().transaction() as session:
                shown_movie(session, movie_id)
        if person is None:
            _keep_visitor_rating(movie_id, half_stars)
        elif half_stars is None:
            remove_rating(get_db(), get_queue(), person.username, movie_id)
        else:
            rate_movie(get_db(), get_queue(), person.username, movie_id, half_stars)
        stars = None if half_stars is None else half_stars / 2
    except MovieRecError as error:
        if wants_json:
            return jsonify(error.to_dict()), error.status
        flash(error.message, "error")
        return redirect(url_for("web.movie", movie_id=movie_id))
    if wants_json:
        with get_db().transaction() as session:
            summary = rating_summaries(session, [movie_key(session, movie_id)])
        average = next(iter(summary.values()))
        return jsonify(
            {
                "movie_id": movie_id,
                "rating": stars,
                "average": {"mean": average.mean, "count": average.count},
            }
        )
    flash("Rating removed." if stars is None else f"Rated {star_words(stars)}.")
    return redirect(url_for("web.movie", movie_id=movie_id))


def _keep_visitor_rating(movie_id: str, half_stars: int | None) -> None:
    """Keep a visitor's rating of a movie of the catalogue (``NotFound`` for any other) in
    their session."""
    if half_stars is None:  # forgetting a rating looks nothing up
        keep_visitor_rating(movie_id, None)
        return
    with get_db().transaction() as session:
        shown_movie(session, movie_id)
    keep_visitor_rating(movie_id, half_stars)


@bp.get("/for-you")
def for_you() -> str | Response:
    """Your recommendations in rows; the page's script keeps the top row live as the workers
    update it. A visitor who rated movies gets rows from those ratings (the others are asked to
    log in)."""
    if me() is None:
        ratings = visitor_ratings()
        if not ratings:
            return redirect(url_for("web-accounts.login", next=request.path))
        return _visitor_for_you(ratings)
    serving = get_serving()
    with get_db().transaction() as session:
        user = get_user(session, signed_in().username)
        rows = for_you_rows(serving, session, user, FOR_YOU_LENGTH)
    return render_template("for_you.html", rows=rows)


def _visitor_for_you(ratings: dict[str, int]) -> str:
    """A visitor's "For you": their top picks by the served policy from the ratings in their
    session, "Because you rated X" for their newest high ratings, and what is trending; a movie
    in one row only, and never one they rated."""
    serving = get_serving()
    found = visitor_recommendations(serving, ratings, n=FOR_YOU_LENGTH)
    with get_db().transaction() as session:
        keys = movie_keys(session, ratings)  # the movies still in the catalogue
        picks = cards(serving, session, found.answer)
        rows = [Row("top-picks", "Top picks for you", source_text(picks), picks["items"])]
        liked = [movie for movie, half in ratings.items() if half >= LIKED_HALF_STARS]
        titles = serving.movies.rows(list(keys.values()))
        for movie in [movie for movie in reversed(liked) if movie in keys][:BECAUSE_ROWS]:
            answer = alike(serving, movie, ROW_LENGTH * 2)
            if answer is None:  # withheld since the visitor rated it
                continue
            alike_cards = cards(serving, session, answer)
            name = display_name(titles[keys[movie]].title if keys[movie] in titles else None, movie)
            heading = f"Because you rated {name} {ratings[movie] / 2:g}★"
            items = alike_cards["items"]
            rows.append(Row(f"because-{movie}", heading, source_text(alike_cards), items))
        rows.append(trending_row(serving, session))
    return render_template(
        "visitor_for_you.html",
        rows=_distinct(rows, set(keys)),
        rated=len(keys),
        limit=MAX_VISITOR_RATINGS,
    )


def _distinct(rows: list[Row], rated: set[str]) -> list[Row]:
    """The rows with each movie in the first row only and none of ``rated``; after the top
    picks, at most ``ROW_LENGTH`` cards a row, and a row with fewer than ``MIN_ROW`` left out."""
    shown = set(rated)
    kept = []
    for index, row in enumerate(rows):
        items = [item for item in row.items if item["movie_id"] not in shown]
        items = items if index == 0 else items[:ROW_LENGTH]
        shown |= {item["movie_id"] for item in items}
        if index == 0 or len(items) >= MIN_ROW:
            kept.append(Row(row.key, row.title, row.source, items))
    return kept


@bp.get("/for-you/top-picks")
@login_required
def for_you_top_picks() -> str:
    """The top row of "For you" alone, as HTML, for the page's refresh (the session
    authenticates it: the API takes bearer credentials only)."""
    with get_db().transaction() as session:
        row = top_picks(get_serving(), session, signed_in().username, FOR_YOU_LENGTH)
    return render_template("_top_picks.html", row=row)


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
            session_store.pop(SHOWN_KEY, None)  # ask again, from these genres
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
    if form.validate_on_submit():
        session_store.pop(SHOWN_KEY, None)  # answered: the next page asks new movies
        try:
            saved = rate_movies(get_db(), get_queue(), person.username, _star_fields(request.form))
        except MovieRecError as error:
            flash(error.message, "error")
            return redirect(url_for("web.onboarding_ratings"))
        thanks = f"Thanks: {saved} rating{'' if saved == 1 else 's'} saved." if saved else ""
        if request.form.get("more"):
            more = "A few more, chosen from your answers:" if saved else "A few other movies:"
            flash(f"{thanks} {more}".strip())
            return redirect(url_for("web.onboarding_ratings"))
        session_store.pop(ASKED_KEY, None)
        flash(f"{thanks} Here is what we think you will like.".strip())
        return redirect(url_for("web.for_you"))
    with get_db().transaction() as session:
        user = get_user(session, person.username)
        genres = [genre.name for genre in user.favorite_genres]
        # A reload shows the same movies until they are answered.
        movies = session_store.get(SHOWN_KEY) or _new_questions(serving, session, user)
        candidates = cards(serving, session, _ranked([(m, 0.0) for m in movies], "onboarding"))
    return render_template("welcome_rate.html", form=form, candidates=candidates, genres=genres)


def _new_questions(serving: ServingContext, session: Session, user: User) -> list[int]:
    """The next movies to ask, remembered as asked and as shown."""
    asked = set(session_store.get(ASKED_KEY, []))
    movies = next_questions(serving, session, user, asked, ONBOARDING_MOVIES)
    session_store[ASKED_KEY] = sorted(asked | set(movies))[-MAX_ASKED:]
    session_store[SHOWN_KEY] = movies
    return movies


def _star_fields(fields: Any) -> dict[str, int]:
    """Every ``rating-<movie id>`` field that has a value, as half stars by movie id."""
    return {
        name.removeprefix("rating-"): half_stars_of(value)
        for name, value in fields.items()
        if name.startswith("rating-") and value
    }


def _ranked(pairs: list[tuple[int, float]], source: str) -> RankedAnswer:
    return RankedAnswer(pairs, source, None, cached=False)


def star_words(stars: float) -> str:
    """ "1 star", "3.5 stars"."""
    return f"{stars:g} star{'' if stars == 1 else 's'}"


def half_stars_of(text: str | None) -> int:
    """A form's star value ("3.5") as half stars; ``ValidationError`` when it is not one."""
    try:
        return to_half_stars(float(text or ""))
    except ValueError:
        raise ValidationError(
            "Pick a number of stars.", code="invalid_rating", field="rating"
        ) from None

"""``/api/v1/movies`` and ``/api/v1/genres``: create, read, change, delete and search movies; a
movie's ratings.

A hidden movie, or one outside its window of availability, is for the service key and admins
only: for everyone else it is absent from the search and a 404 of its own."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, url_for
from flask.blueprints import BlueprintSetupState
from sqlalchemy.orm import Session
from werkzeug.routing import BaseConverter

from server.api.operation import operation
from server.api.schemas import MovieIn, MovieSearch, MovieUpdate, Page
from server.api.serialize import movie_json, page_json, rating_json
from server.auth import authorize, require_credentials
from server.context import get_db, get_serving
from server.errors import AuthenticationError, Forbidden
from server.models import Movie
from server.services.lookup import not_found
from server.services.movies import (
    MovieChanges,
    NewMovie,
    create_movie,
    delete_movie,
    get_movie,
    is_shown,
    list_genres,
    rating_summary,
    search_movies,
    update_movie,
)
from server.services.ratings import movie_ratings

bp = Blueprint("movies", __name__)


class MovieIdConverter(BaseConverter):
    """A movie id in a path, but not one that names a list of movies (``/movies/popular``):
    otherwise that path would also answer (and ``Allow``) this rule's methods."""

    regex = r"(?!popular(?:/|$))[^/]+"


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["movie_id"] = MovieIdConverter


@bp.post("/movies")
@require_credentials
@operation(success=(201,), body=MovieIn)
def post_movie(body: MovieIn) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a movie with the client's own id."""
    new = NewMovie(
        external_id=body.id,
        title=body.title,
        year=body.year,
        genres=tuple(body.genres),
        tags=tuple(body.tags),
        overview=body.overview,
        imdb_id=body.imdb_id,
        tmdb_id=body.tmdb_id,
        poster_path=body.poster_path,
    )
    with get_db().transaction() as session:
        movie = create_movie(session, new)
        document = movie_json(movie)
    return document, 201, {"Location": url_for("movies.get_movie_by_id", movie_id=body.id)}


@bp.get("/movies")
@operation(query=MovieSearch)
def list_movies(query: MovieSearch) -> dict[str, Any]:
    """Movies by title substring (any case), genre and year, sorted by title; hidden and
    unavailable ones only for the service key and admins."""
    with get_db().transaction() as session:
        movies, total = search_movies(
            session,
            query=query.q,
            genre=query.genre,
            year=query.year,
            limit=query.limit,
            offset=query.offset,
            withheld_too=_sees_withheld(),
        )
        items = [movie_json(movie) for movie in movies]
    return page_json(items, total, query.limit, query.offset)


@bp.get("/movies/<movie_id:movie_id>")
@operation()
def get_movie_by_id(movie_id: str) -> dict[str, Any]:
    """A movie with its metadata and rating summary (a hidden or unavailable one: for the
    service key and admins only, a 404 for everyone else)."""
    with get_db().transaction() as session:
        movie = get_movie(session, movie_id)
        if not is_shown(movie) and not _sees_withheld():
            raise not_found(Movie, movie_id)
        return _with_ratings(session, movie)


@bp.patch("/movies/<movie_id:movie_id>")
@require_credentials
@operation(body=MovieUpdate)
def patch_movie(movie_id: str, body: MovieUpdate) -> dict[str, Any]:
    """Change a movie: fields left out stay as they are, ``null`` clears one that may be empty.
    Hiding it, or a window of availability that excludes now, takes it out of every list from
    the next read on; showing it again brings it back."""
    changes = MovieChanges.of(body.model_dump(exclude_unset=True))
    movie = update_movie(get_serving(), movie_id, changes)
    with get_db().transaction() as session:
        return _with_ratings(session, movie)


@bp.delete("/movies/<movie_id:movie_id>")
@require_credentials
@operation(success=(204,))
def delete_movie_by_id(movie_id: str) -> tuple[str, int]:
    """Delete a movie with its ratings and feedback; it is in no list from the next read on."""
    delete_movie(get_serving(), movie_id)
    return "", 204


def _with_ratings(session: Session, movie: Movie) -> dict[str, Any]:
    """A movie's JSON with its rating summary."""
    summary = rating_summary(session, movie)
    return movie_json(movie) | {"rating": {"mean": summary.mean, "count": summary.count}}


def _sees_withheld() -> bool:
    """Whether the request carries the service key or an admin's token (credentials are
    optional here: without them, or with others', hidden movies stay hidden)."""
    try:
        authorize(None)
    except (AuthenticationError, Forbidden):
        return False
    return True


@bp.get("/movies/<movie_id>/ratings")
@require_credentials
@operation(query=Page)
def list_movie_ratings(movie_id: str, query: Page) -> dict[str, Any]:
    """A movie's ratings, most recently changed first, with their mean and count.

    Who rated what is people's data: it takes a service key or an admin's credentials."""
    with get_db().transaction() as session:
        movie = get_movie(session, movie_id)
        summary = rating_summary(session, movie)
        rows = movie_ratings(session, movie, query.limit, query.offset)
        items = [rating_json(rating, user_id, movie_id) for rating, user_id in rows]
    page = page_json(items, summary.count, query.limit, query.offset)
    return {"movie_id": movie_id, "mean": summary.mean, "count": summary.count} | page


@bp.get("/genres")
@operation()
def get_genres() -> dict[str, Any]:
    """Every genre name."""
    with get_db().transaction() as session:
        return {"items": list_genres(session)}

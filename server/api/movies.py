"""``/api/v1/movies`` and ``/api/v1/genres``: create, read and search movies; a movie's ratings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, url_for

from server.api.operation import operation
from server.api.schemas import MovieIn, MovieSearch, Page
from server.api.serialize import movie_json, page_json, rating_json
from server.auth import require_credentials
from server.context import get_db
from server.services.movies import (
    NewMovie,
    create_movie,
    get_movie,
    list_genres,
    rating_summary,
    search_movies,
)
from server.services.ratings import movie_ratings

bp = Blueprint("movies", __name__)


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
    """Movies by title substring (any case), genre and year, sorted by title."""
    with get_db().transaction() as session:
        movies, total = search_movies(
            session,
            query=query.q,
            genre=query.genre,
            year=query.year,
            limit=query.limit,
            offset=query.offset,
        )
        items = [movie_json(movie) for movie in movies]
    return page_json(items, total, query.limit, query.offset)


@bp.get("/movies/<movie_id>")
@operation()
def get_movie_by_id(movie_id: str) -> dict[str, Any]:
    """A movie with its metadata and rating summary."""
    with get_db().transaction() as session:
        movie = get_movie(session, movie_id)
        summary = rating_summary(session, movie)
        return movie_json(movie) | {"rating": {"mean": summary.mean, "count": summary.count}}


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

"""JSON representations of models. External ids only: internal keys never leave the server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.models import Movie, Rating, User


def iso(timestamp: int) -> str:
    """Unix seconds as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def user_json(user: User) -> dict[str, Any]:
    """A user."""
    return {
        "id": user.external_id,
        "name": user.name,
        "favorite_genres": [genre.name for genre in user.favorite_genres],
        "created_at": iso(user.created_at),
    }


def movie_json(movie: Movie) -> dict[str, Any]:
    """A movie with its metadata."""
    return {
        "id": movie.external_id,
        "title": movie.title,
        "year": movie.year,
        "genres": [genre.name for genre in movie.genres],
        "tags": [tag.tag for tag in movie.tags],
        "overview": movie.overview,
        "imdb_id": movie.imdb_id,
        "tmdb_id": movie.tmdb_id,
    }


def rating_json(rating: Rating, user_id: str, movie_id: str) -> dict[str, Any]:
    """A rating, addressed by the user's and the movie's external ids."""
    return {
        "user_id": user_id,
        "movie_id": movie_id,
        "rating": rating.stars,
        "created_at": iso(rating.created_at),
        "updated_at": iso(rating.updated_at),
    }


def page_json(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """One page of a list."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}

"""JSON representations of models. External ids only: internal keys never leave the server."""

from __future__ import annotations

from typing import Any

from flask import url_for

from server.cache.lists import Reasons, Why
from server.context import get_settings
from server.db import iso
from server.models import ChampionSet, ModelVersion, Movie, Rating, User
from server.presentation import display_title, poster_url
from server.services.champions import Candidate, champion_of, champion_reason
from server.services.feedback import Given
from server.services.recommendations import RankedAnswer
from server.serving.movie_directory import MovieDirectory, MovieRow
from server.serving.policy import SEGMENTS, Segment


def _why(
    movies: MovieDirectory,
    rows: dict[int, MovieRow],
    reasons: Reasons | None,
    index: int | None,
    movie: int,
    source: str,
) -> dict[str, Any]:
    """``because`` (the person's rated movies it is most like) and ``reason`` (its kind, and the
    genre of ``popular_in`` or what an ``alike`` movie shares) of one listed movie."""
    if reasons is None or index is None:  # the live popular list, or a list cached before reasons
        plain = "popular" if "popularity" in source else "similar_people"
        return {"because": [], "reason": {"kind": plain}}
    kind = Why(int(reasons.kinds[index]))
    first, second = reasons.refs[index].tolist()
    reason: dict[str, Any] = {"kind": kind.name.lower()}
    because: list[dict[str, Any]] = []
    if kind is Why.BECAUSE:
        because = [
            {
                "movie_id": rows[ref].external_id,
                "title": rows[ref].title,
                "rating": int(half) / 2.0,
            }
            for ref, half in zip((first, second), reasons.half_stars[index].tolist(), strict=True)
            if ref in rows
        ]
    elif kind is Why.POPULAR_IN:
        reason["genre"] = movies.genre_name(first)
    elif kind is Why.ALIKE:
        shared = rows[movie].genres & rows[first].genres if first in rows else frozenset()
        reason["genres"] = sorted(shared)
        reason["rated_both"] = second if second >= 0 else None
    return {"because": because, "reason": reason}


def user_json(user: User) -> dict[str, Any]:
    """A user."""
    return {
        "id": user.external_id,
        "name": user.name,
        "favorite_genres": [genre.name for genre in user.favorite_genres],
        "created_at": iso(user.created_at),
    }


def movie_json(movie: Movie) -> dict[str, Any]:
    """A movie with its metadata; ``title`` as the dataset gave it, ``display_title`` as people
    write it; whether it is hidden and its window of availability (UTC Unix seconds)."""
    return {
        "id": movie.external_id,
        "title": movie.title,
        "display_title": display_title(movie.title) or movie.external_id,
        "year": movie.year,
        "genres": [genre.name for genre in movie.genres],
        "tags": [tag.tag for tag in movie.tags],
        "overview": movie.overview,
        "imdb_id": movie.imdb_id,
        "tmdb_id": movie.tmdb_id,
        "poster_url": poster_of(movie),
        "hidden": movie.hidden,
        "available_from": movie.available_from,
        "available_until": movie.available_until,
    }


def poster_of(movie: Movie | MovieRow) -> str:
    """The poster image of a movie: from the poster URL template, else the one movierec draws."""
    found = poster_url(
        get_settings().poster_url_template,
        movie_id=movie.external_id,
        poster_path=movie.poster_path,
        tmdb_id=movie.tmdb_id,
        imdb_id=movie.imdb_id,
    )
    return found or url_for("web.poster", movie_id=movie.external_id)


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


def version_json(version: ModelVersion) -> dict[str, Any]:
    """A model version as the API and the CLI show it."""
    return {
        "algorithm": version.algorithm,
        "version": version.number,
        "status": str(version.status),
        "plugin_version": version.plugin_version,
        "params": version.params,
        "data_version": version.data_version,
        "ratings": version.rating_count,
        "metrics": version.metrics,
        "fit_seconds": version.fit_seconds,
        "evaluate_seconds": version.evaluate_seconds,
        "precompute_seconds": version.precompute_seconds,
        "created_at": iso(version.created_at),
        "promoted_at": None if version.promoted_at is None else iso(version.promoted_at),
        "error": version.error,
    }


def champions_json(
    chosen: ChampionSet | None, board: dict[Segment, list[Candidate]]
) -> dict[str, Any]:
    """Who serves each segment under ``auto`` and why, with every candidate's served figures."""
    return {
        "generation": None if chosen is None else chosen.id,
        "chosen_at": None if chosen is None else iso(chosen.chosen_at),
        "cause": None if chosen is None else chosen.cause,
        "segments": {
            segment: {
                "champion": champion_of(chosen, segment),
                "reason": champion_reason(chosen, segment),
                "candidates": [
                    {
                        "algorithm": candidate.algorithm,
                        "version": candidate.version,
                        "ndcg@10": candidate.figures.get("ndcg@10"),
                        "popularity_ndcg@10": candidate.figures.get("popularity_ndcg@10"),
                        "lift": candidate.lift,
                        "users": candidate.figures.get("users"),
                    }
                    for candidate in board.get(segment, [])
                ],
            }
            for segment in SEGMENTS
        },
    }


def ranked_json(movies: MovieDirectory, answer: RankedAnswer) -> dict[str, Any]:
    """A ranked answer with each movie's id, title and reason, and where the list came from."""
    reasons = None if answer.entry is None else answer.entry.reasons
    place: dict[int, int] = {}
    if answer.entry is not None and reasons is not None:
        place = {movie: index for index, movie in enumerate(answer.entry.movies.tolist())}
    referenced = [] if reasons is None else reasons.refs.ravel().tolist()
    rows = movies.rows([movie for movie, _ in answer.items] + referenced)
    items = [
        {
            "movie_id": rows[movie].external_id,
            "title": rows[movie].title,
            "display_title": rows[movie].display_title,
            "year": rows[movie].year,
            "genres": sorted(rows[movie].genres),
            "poster_url": poster_of(rows[movie]),
            "score": round(score, 4),
            **_why(movies, rows, reasons, place.get(movie), movie, answer.source),
        }
        for movie, score in answer.items
        if movie in rows
    ]
    body: dict[str, Any] = {
        "items": items,
        "source": answer.source,
        "model_version": answer.model_version,
        "cached": answer.cached,
    }
    if answer.page is not None:  # a paged list
        body |= {"offset": answer.page.offset, "next_cursor": answer.page.next_cursor}
    return body


def feedback_json(given: Given, user_id: str) -> dict[str, Any]:
    """One piece of feedback besides stars, addressed by the person's and movie's ids."""
    return {
        "user_id": user_id,
        "movie_id": given.movie_id,
        "type": given.type,
        "created_at": iso(given.created_at),
    }

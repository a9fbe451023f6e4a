"""The JSON Schemas of the API's answers, each with an example, for the OpenAPI document.

They state the shapes ``server.api.serialize`` writes; a Schemathesis run checks every answer
against them (``tests/server/test_schemathesis.py``) and a test validates each example against
its schema (``tests/server/test_openapi.py``). Objects stay open (no ``additionalProperties:
false``): a field added to an answer is no break for a client that reads the others.
"""

from __future__ import annotations

from typing import Any

from server.cache.lists import Why
from server.models import ModelStatus
from server.serving.policy import SEGMENTS

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC"}
STRINGS: Schema = {"type": "array", "items": STRING}


def nullable(schema: Schema) -> Schema:
    """``schema`` that also admits null (JSON Schema 2020-12: a list of types)."""
    return schema | {"type": [schema["type"], "null"]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    description: str, properties: dict[str, Schema], example: Any, optional: tuple[str, ...] = ()
) -> Schema:
    """An object whose properties are all required but ``optional``, with one example."""
    return {
        "type": "object",
        "description": description,
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "examples": [example],
    }


def page(description: str, item: str, item_example: Any) -> Schema:
    """One page of a list of ``item``."""
    return obj(
        description,
        {
            "items": {"type": "array", "items": ref(item)},
            "total": {"type": "integer", "minimum": 0, "description": "Items in the whole list"},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        {"items": [item_example], "total": 1, "limit": 50, "offset": 0},
    )


ERROR_EXAMPLE = {"error": {"code": "user_not_found", "message": "no user 'alice'", "field": None}}
USER_EXAMPLE = {
    "id": "alice",
    "name": "Alice",
    "favorite_genres": ["Comedy", "Sci-Fi"],
    "created_at": "2024-06-01T12:00:00Z",
}
MOVIE_EXAMPLE = {
    "id": "2571",
    "title": "Matrix, The",
    "year": 1999,
    "genres": ["Action", "Sci-Fi", "Thriller"],
    "tags": ["cyberpunk", "philosophy"],
    "overview": "A computer hacker learns about the true nature of reality.",
    "imdb_id": "0133093",
    "tmdb_id": 603,
    "poster_url": "/movies/2571/poster.svg",
    "display_title": "The Matrix",
    "hidden": False,
    "available_from": None,
    "available_until": 1893456000,
}
RATING_EXAMPLE = {
    "user_id": "alice",
    "movie_id": "2571",
    "rating": 4.5,
    "created_at": "2024-06-01T12:03:00Z",
    "updated_at": "2024-06-02T08:15:00Z",
}
BECAUSE_EXAMPLE = {"movie_id": "1214", "title": "Alien", "rating": 5.0}
RANKED_ITEM_EXAMPLE = {
    "movie_id": "1200",
    "title": "Aliens",
    "score": 0.87,
    "because": [
        BECAUSE_EXAMPLE,
        {"movie_id": "589", "title": "Terminator 2: Judgment Day", "rating": 4.5},
    ],
    "reason": {"kind": "because"},
}
SIMILAR_ITEM_EXAMPLE = {
    "movie_id": "6365",
    "title": "Matrix Reloaded, The",
    "score": 0.64,
    "because": [],
    "reason": {"kind": "alike", "genres": ["Action", "Sci-Fi", "Thriller"], "rated_both": 212},
}
POPULAR_ITEM_EXAMPLE = {
    "movie_id": "318",
    "title": "Shawshank Redemption, The",
    "score": 4.39,
    "because": [],
    "reason": {"kind": "popular"},
}
VERSION_EXAMPLE = {
    "algorithm": "als",
    "version": 6,
    "status": "active",
    "plugin_version": "1",
    "params": {"factors": 64, "iterations": 15, "regularization": 0.05},
    "data_version": 100836,
    "ratings": 100836,
    "metrics": {"ndcg@10": 0.21, "precision@10": 0.17},
    "fit_seconds": 2.4,
    "evaluate_seconds": 1.1,
    "precompute_seconds": 3.7,
    "created_at": "2024-06-01T03:00:00Z",
    "promoted_at": "2024-06-01T03:00:09Z",
    "error": None,
}


def _segment_example(segment: str, lift: float) -> dict[str, Any]:
    """A segment served by als when it beats popularity (``lift`` > 1), else by popularity."""
    reason = (
        f"best served ndcg@10 on {segment} people: {0.12 * lift:.3f}, {lift:.2f}x popularity"
        if lift > 1
        else f"the best, als, reaches {lift:.2f}x popularity: not above it"
    )
    return {
        "champion": "als" if lift > 1 else "popularity",
        "reason": reason,
        "candidates": [
            {
                "algorithm": "als",
                "version": 6,
                "ndcg@10": round(0.12 * lift, 4),
                "popularity_ndcg@10": 0.12,
                "lift": lift,
                "users": 61,
            }
        ],
    }


BECAUSE: Schema = obj(
    "One of the person's rated movies this one is most like, with the stars they gave it.",
    {"movie_id": STRING, "title": nullable(STRING), "rating": NUMBER},
    BECAUSE_EXAMPLE,
)
REASON: Schema = obj(
    "Why a movie is listed. `because`: the movies in `because` are alike; `similar_people`: a"
    " personal model ranked it high; `popular_in`: popular in `genre`; `popular`; `trending`"
    " (time-decayed popularity); `new`: nobody had rated it (a content-based pick); `alike`"
    " (similar-movie lists): the `genres` the two share and how many people `rated_both`.",
    {
        "kind": {"type": "string", "enum": [why.name.lower() for why in Why]},
        "genre": nullable(STRING) | {"description": "`popular_in`: the genre"},
        "genres": STRINGS | {"description": "`alike`: the genres the two movies share"},
        "rated_both": nullable(INTEGER) | {"description": "`alike`: people who rated both"},
    },
    {"kind": "popular_in", "genre": "Comedy"},
    optional=("genre", "genres", "rated_both"),
)


POSTER_URL: Schema = nullable(STRING) | {"description": "Where the movie's poster is"}
DISPLAY_TITLE: Schema = nullable(STRING) | {
    "description": 'The title as people write it: "The Matrix" for "Matrix, The"'
}


def ranked_item(description: str, example: Any) -> Schema:
    """A listed movie; what it shows of the movie beside its title is optional."""
    return obj(
        description,
        {
            "movie_id": STRING,
            "title": nullable(STRING),
            "display_title": DISPLAY_TITLE,
            "year": nullable(INTEGER),
            "genres": STRINGS,
            "poster_url": POSTER_URL,
            "score": NUMBER | {"description": "The list's own score: higher ranks first"},
            "because": {"type": "array", "items": ref("Because"), "maxItems": 2},
            "reason": ref("Reason"),
        },
        example,
        optional=("display_title", "year", "genres", "poster_url"),
    )


def ranked_list(
    description: str, item: str, example: dict[str, Any], extra: dict[str, Schema] | None = None
) -> Schema:
    """A ranked answer: its items and where it came from (and ``extra`` properties)."""
    return obj(
        description,
        {
            "items": {"type": "array", "items": ref(item)},
            "source": STRING
            | {"description": "The algorithm, a blend or a `fallback:` step that answered"},
            "model_version": nullable(INTEGER)
            | {"description": "The model version that ranked it (null: no model)"},
            "cached": {"type": "boolean", "description": "Read from the precomputed lists"},
        }
        | (extra or {}),
        example,
    )


# Where a page of a ranked list is, and how to ask for the next one.
PAGED: dict[str, Schema] = {
    "offset": {
        "type": "integer",
        "minimum": 0,
        "description": "Movies of the filtered list before this page",
    },
    "next_cursor": nullable(STRING)
    | {
        "description": "Pass as `cursor` for the next page of the same list (null: no more);"
        " a 409 `list_changed` if the list changed meanwhile"
    },
}


MODEL_VERSION: Schema = obj(
    "A trained model version and its holdout figures.",
    {
        "algorithm": STRING,
        "version": INTEGER,
        "status": {"type": "string", "enum": [str(status) for status in ModelStatus]},
        "plugin_version": STRING,
        "params": {"type": "object"},
        "data_version": INTEGER,
        "ratings": INTEGER | {"description": "Ratings it was trained on"},
        "metrics": {"type": "object"},
        "fit_seconds": nullable(NUMBER),
        "evaluate_seconds": nullable(NUMBER),
        "precompute_seconds": nullable(NUMBER),
        "created_at": TIMESTAMP,
        "promoted_at": nullable(TIMESTAMP),
        "error": nullable(STRING),
    },
    VERSION_EXAMPLE,
)

SEGMENT: Schema = obj(
    "Who serves one segment, why, and every active ranker's served holdout figures.",
    {
        "champion": STRING,
        "reason": nullable(STRING),
        "candidates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "algorithm",
                    "version",
                    "ndcg@10",
                    "popularity_ndcg@10",
                    "lift",
                    "users",
                ],
                "properties": {
                    "algorithm": STRING,
                    "version": INTEGER,
                    "ndcg@10": nullable(NUMBER),
                    "popularity_ndcg@10": nullable(NUMBER),
                    "lift": nullable(NUMBER),
                    "users": nullable(NUMBER),
                },
            },
        },
    },
    _segment_example("warm", 1.35),
)

MOVIE_PROPERTIES: dict[str, Schema] = {
    "id": STRING,
    "title": nullable(STRING),
    "year": nullable(INTEGER),
    "genres": STRINGS,
    "tags": STRINGS,
    "overview": nullable(STRING),
    "imdb_id": nullable(STRING),
    "tmdb_id": nullable(INTEGER),
    "poster_url": POSTER_URL,
    "display_title": DISPLAY_TITLE,
    "hidden": {"type": "boolean", "description": "In no list while true"},
    "available_from": nullable(INTEGER)
    | {"description": "In lists from this moment on (UTC Unix seconds; null: always)"},
    "available_until": nullable(INTEGER)
    | {"description": "In lists until this moment, excluded (UTC Unix seconds; null: always)"},
}

RESPONSE_SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        "The one shape of every error: a code to branch on, a message for people, and the"
        " field or parameter at fault (null when none).",
        {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {"code": STRING, "message": STRING, "field": nullable(STRING)},
            }
        },
        ERROR_EXAMPLE,
    ),
    "PersonExport": obj(
        "Everything stored about a person (no password or token hashes).",
        {
            "exported_at": TIMESTAMP,
            "user": ref("User"),
            "account": {
                "type": ["object", "null"],
                "properties": {"username": STRING, "role": STRING, "created_at": TIMESTAMP},
            },
            "ratings": {"type": "array", "items": {"type": "object"}},
            "feedback": {"type": "array", "items": {"type": "object"}},
            "rating_events": {"type": "array", "items": {"type": "object"}},
            "api_tokens": {"type": "array", "items": {"type": "object"}},
            "web_sessions": {"type": "array", "items": {"type": "object"}},
        },
        {
            "exported_at": "2026-12-01T10:00:00Z",
            "user": USER_EXAMPLE,
            "account": {"username": "ada", "role": "user", "created_at": "2026-11-30T09:00:00Z"},
            "ratings": [
                {
                    "movie_id": "1214",
                    "title": "Alien",
                    "rating": 5.0,
                    "created_at": "2026-11-30T09:05:00Z",
                    "updated_at": "2026-11-30T09:05:00Z",
                }
            ],
            "feedback": [
                {
                    "movie_id": "1200",
                    "title": "Aliens",
                    "type": "watchlist",
                    "created_at": "2026-11-30T09:06:00Z",
                }
            ],
            "rating_events": [
                {
                    "movie_id": "1214",
                    "kind": "created",
                    "rating": 5.0,
                    "feedback": None,
                    "created_at": "2026-11-30T09:05:00Z",
                }
            ],
            "api_tokens": [
                {
                    "name": "laptop",
                    "prefix": "mr_3f9a",
                    "created_at": "2026-11-30T09:10:00Z",
                    "last_used_at": None,
                    "revoked_at": None,
                }
            ],
            "web_sessions": [
                {"created_at": "2026-11-30T09:00:00Z", "expires_at": "2026-12-30T09:00:00Z"}
            ],
        },
    ),
    "User": obj(
        "A user, by the client's own id.",
        {
            "id": STRING,
            "name": nullable(STRING),
            "favorite_genres": STRINGS,
            "created_at": TIMESTAMP,
        },
        USER_EXAMPLE,
    ),
    "Movie": obj(
        "A movie with its metadata.",
        MOVIE_PROPERTIES,
        MOVIE_EXAMPLE,
        optional=("poster_url", "display_title"),
    ),
    "MovieWithRatings": obj(
        "A movie with its metadata and rating summary.",
        MOVIE_PROPERTIES
        | {
            "rating": {
                "type": "object",
                "required": ["mean", "count"],
                "properties": {
                    "mean": nullable(NUMBER) | {"description": "null without ratings"},
                    "count": {"type": "integer", "minimum": 0},
                },
            }
        },
        MOVIE_EXAMPLE | {"rating": {"mean": 4.19, "count": 278}},
        optional=("poster_url", "display_title"),
    ),
    "Rating": obj(
        "A star rating, 0.5 to 5.0 in steps of 0.5.",
        {
            "user_id": STRING,
            "movie_id": STRING,
            "rating": {"type": "number", "minimum": 0.5, "maximum": 5.0, "multipleOf": 0.5},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        RATING_EXAMPLE,
    ),
    "RatingPage": page(
        "One page of ratings, most recently changed first.", "Rating", RATING_EXAMPLE
    ),
    "MoviePage": page("One page of movies, sorted by title.", "Movie", MOVIE_EXAMPLE),
    "MovieRatingPage": obj(
        "One page of a movie's ratings, with their mean and count (`total` is the count).",
        {
            "movie_id": STRING,
            "mean": nullable(NUMBER),
            "count": {"type": "integer", "minimum": 0},
            "items": {"type": "array", "items": ref("Rating")},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        {
            "movie_id": "2571",
            "mean": 4.5,
            "count": 1,
            "items": [RATING_EXAMPLE],
            "total": 1,
            "limit": 50,
            "offset": 0,
        },
    ),
    "GenreList": obj(
        "Every genre name, sorted.", {"items": STRINGS}, {"items": ["Action", "Comedy"]}
    ),
    "Because": BECAUSE,
    "Reason": REASON,
    "RankedItem": ranked_item(
        "A listed movie, its score and why it is there.", RANKED_ITEM_EXAMPLE
    ),
    "Recommendations": ranked_list(
        "A page of a person's top movies, and where the list came from.",
        "RankedItem",
        {
            "items": [RANKED_ITEM_EXAMPLE],
            "source": "ease",
            "model_version": 6,
            "cached": True,
            "offset": 0,
            "next_cursor": "10.3f9a0c1e",
        },
        PAGED,
    ),
    "SimilarMovies": ranked_list(
        "A page of the movies most like one movie (reason `alike`), and where the list came from.",
        "RankedItem",
        {
            "items": [SIMILAR_ITEM_EXAMPLE],
            "source": "als",
            "model_version": 6,
            "cached": True,
            "offset": 0,
            "next_cursor": None,
        },
        PAGED,
    ),
    "PopularMovies": ranked_list(
        "Popular movies by weighted rating (the score), in a genre or window if asked.",
        "RankedItem",
        {
            "items": [POPULAR_ITEM_EXAMPLE],
            "source": "popularity",
            "model_version": None,
            "cached": True,
            "window": "30d",
        },
        {"window": STRING | {"description": "`all`, or the last days counted, like `30d`"}},
    ),
    "Prediction": obj(
        "The stars a person would probably give a movie, and what predicted them.",
        {
            "user_id": STRING,
            "movie_id": STRING,
            "prediction": NUMBER,
            "source": STRING
            | {"description": "The algorithm, or `fallback:movie-mean` (the damped mean)"},
            "model_version": nullable(INTEGER),
        },
        {
            "user_id": "alice",
            "movie_id": "318",
            "prediction": 4.412,
            "source": "svd",
            "model_version": 3,
        },
    ),
    "ModelVersion": MODEL_VERSION,
    "Algorithm": obj(
        "An installed algorithm: what it can do, how often it retrains, its active version.",
        {
            "name": STRING,
            "plugin_version": STRING,
            "capabilities": STRINGS,
            "retrain_interval_seconds": nullable(INTEGER)
            | {"description": "null: not on the training schedule"},
            "active_version": {"anyOf": [ref("ModelVersion"), {"type": "null"}]},
        },
        {
            "name": "als",
            "plugin_version": "1",
            "capabilities": ["fold_in", "rank", "similar"],
            "retrain_interval_seconds": 3600,
            "active_version": VERSION_EXAMPLE,
        },
    ),
    "AlgorithmList": obj(
        "Every installed algorithm.",
        {"items": {"type": "array", "items": ref("Algorithm")}},
        {
            "items": [
                {
                    "name": "popularity",
                    "plugin_version": "1",
                    "capabilities": ["fold_in", "rank"],
                    "retrain_interval_seconds": None,
                    "active_version": None,
                }
            ]
        },
    ),
    "Segment": SEGMENT,
    "Champions": obj(
        "The champion set: who serves each segment of people (new, cold, warm) when a request"
        " names no algorithm, and why. The set's fields are null before any choice.",
        {
            "generation": nullable(INTEGER) | {"description": "The champion set's number"},
            "chosen_at": nullable(TIMESTAMP),
            "cause": nullable(STRING),
            "segments": {
                "type": "object",
                "required": [str(segment) for segment in SEGMENTS],
                "properties": {str(segment): ref("Segment") for segment in SEGMENTS},
            },
        },
        {
            "generation": 4,
            "chosen_at": "2024-06-01T03:00:10Z",
            "cause": "als version 6 promoted",
            "segments": {
                "new": _segment_example("new", 0.92),
                "cold": _segment_example("cold", 1.18),
                "warm": _segment_example("warm", 1.35),
            },
        },
    ),
    "RetrainQueued": obj(
        "A retrain was queued, or one was already waiting (then this request added none).",
        {
            "algorithm": STRING,
            "queued": {"type": "boolean"},
            "already_waiting": {"type": "boolean"},
        },
        {"algorithm": "als", "queued": True, "already_waiting": False},
    ),
    "OpenAPIDocument": obj(
        "This document.",
        {"openapi": STRING, "info": {"type": "object"}, "paths": {"type": "object"}},
        {"openapi": "3.1.0", "info": {"title": "movierec", "version": "1"}, "paths": {}},
    ),
}

# The schema of each view's successful answers, by endpoint; 204 has no body.
RESPONSES: dict[str, str | None] = {
    "users.post_user": "User",
    "users.get_user_by_id": "User",
    "users.patch_user": "User",
    "users.list_user_ratings": "RatingPage",
    "users.delete_user": None,
    "users.export_user": "PersonExport",
    "ratings.put_user_rating": "Rating",
    "ratings.get_user_rating": "Rating",
    "ratings.delete_user_rating": None,
    "movies.post_movie": "Movie",
    "movies.list_movies": "MoviePage",
    "movies.get_movie_by_id": "MovieWithRatings",
    "movies.patch_movie": "MovieWithRatings",
    "movies.delete_movie_by_id": None,
    "movies.list_movie_ratings": "MovieRatingPage",
    "movies.get_genres": "GenreList",
    "recommendations.get_recommendations": "Recommendations",
    "recommendations.get_similar": "SimilarMovies",
    "recommendations.get_prediction": "Prediction",
    "recommendations.get_popular": "PopularMovies",
    "algorithms.list_algorithms": "AlgorithmList",
    "algorithms.get_champions": "Champions",
    "algorithms.retrain": "RetrainQueued",
    "openapi.openapi_document": "OpenAPIDocument",
}


# Feedback besides stars (``server/api/feedback.py``).
FEEDBACK_EXAMPLE = {
    "user_id": "alice",
    "movie_id": "318",
    "type": "watchlist",
    "created_at": "2024-06-01T12:00:00Z",
}
RESPONSE_SCHEMAS["Feedback"] = obj(
    "One piece of feedback besides stars, and when it was given.",
    {
        "user_id": STRING,
        "movie_id": STRING,
        "type": {"type": "string", "enum": ["view", "like", "watchlist", "not_interested"]},
        "created_at": TIMESTAMP,
    },
    FEEDBACK_EXAMPLE,
)
RESPONSE_SCHEMAS["FeedbackPage"] = page(
    "A page of a person's feedback, newest first.", "Feedback", FEEDBACK_EXAMPLE
)
RESPONSE_SCHEMAS["FeedbackBulkReport"] = obj(
    "What became of each line of a bulk request: stored (`created`), already stored"
    " (`unchanged`), or refused with the error's code and message (`error`).",
    {
        "created": INTEGER,
        "unchanged": INTEGER,
        "error": INTEGER,
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["line", "status"],
                "properties": {
                    "line": {"type": "integer", "minimum": 1},
                    "status": {"type": "string", "enum": ["created", "unchanged", "error"]},
                    "error": {"type": "object", "description": "As in the error shape"},
                },
            },
        },
    },
    {
        "created": 1,
        "unchanged": 0,
        "error": 1,
        "lines": [
            {"line": 1, "status": "created"},
            {"line": 2, "status": "error", **ERROR_EXAMPLE},
        ],
    },
)
RESPONSES["feedback.post_feedback"] = "Feedback"
RESPONSES["feedback.list_user_feedback"] = "FeedbackPage"
RESPONSES["feedback.delete_feedback"] = None
RESPONSES["feedback.post_feedback_bulk"] = "FeedbackBulkReport"

# A visitor's list (``POST /recommendations``): a person's recommendations, never cached or
# paged, and the movie ids of the request that no movie has.
RESPONSE_SCHEMAS["VisitorRecommendations"] = ranked_list(
    "The top movies for a visitor the server does not store, from the ratings and feedback"
    " sent, and where the list came from.",
    "RankedItem",
    {
        "items": [RANKED_ITEM_EXAMPLE],
        "source": "ease",
        "model_version": 6,
        "cached": False,
        "segment": "warm",
        "ignored_movie_ids": ["no-such-movie"],
    },
    {
        "segment": {
            "type": "string",
            "enum": [str(segment) for segment in SEGMENTS],
            "description": "The visitor's segment by what they sent (new, cold, warm)",
        },
        "ignored_movie_ids": STRINGS
        | {"description": "Movie ids sent that no movie has: left out of the list's computation"},
    },
)
RESPONSES["recommendations.post_visitor_recommendations"] = "VisitorRecommendations"

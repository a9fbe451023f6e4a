"""Live recommendations: a user's top-N, similar movies, predicted ratings and popular lists.

Every list answers with ``items`` (movie id, title, score) and says where it came from:
``source``, ``model_version`` and ``cached``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from server.api.operation import operation
from server.api.schemas import (
    PopularQuery,
    PredictionQuery,
    RankedListQuery,
    RecommendationQuery,
    SimilarQuery,
    VisitorRecommendationsIn,
)
from server.api.serialize import ranked_json
from server.auth import require_credentials
from server.context import get_db, get_rendered_bodies, get_serving
from server.services.popular import popular_movies
from server.services.predictions import predict_rating
from server.services.ratings import to_half_stars
from server.services.recommendations import (
    ListRules,
    RankedAnswer,
    list_rules,
    recommendations,
    similar_movies,
)
from server.services.visitors import visitor_recommendations
from server.serving.context import ServingContext

bp = Blueprint("recommendations", __name__)


@bp.get("/users/<user_id>/recommendations")
@require_credentials
@operation(query=RecommendationQuery)
def get_recommendations(user_id: str, query: RecommendationQuery) -> Response:
    """The user's top ``n`` movies, live from the cache, the model or the fallback chain.

    Rules (``exclude``, ``genres``, ``year_min``, ``year_max``, ``min_rating_count``) apply to the
    whole list before a page of it is cut at ``offset``, or where ``cursor`` (the previous page's
    ``next_cursor``) says: the list is read deeper than the cache holds when a page needs it, and
    pages of the same list never repeat a movie."""
    serving = get_serving()
    answer = recommendations(
        serving,
        user_id,
        query.n,
        query.algorithm,
        query.genre,
        query.exclude_rated,
        _rules(serving, query),
        query.offset,
        query.cursor,
    )
    return answer_response(serving, answer)


@bp.post("/recommendations")
@require_credentials
@operation(body=VisitorRecommendationsIn)
def post_visitor_recommendations(body: VisitorRecommendationsIn) -> dict[str, Any]:
    """The top ``n`` movies for a visitor the server does not store, from the ratings and
    feedback sent.

    The served policy of a person's list (under ``auto``, the champion of the segment the
    ratings put the visitor in; fold-in, re-ranking, a reason for every movie), and their
    fallback: with nothing usable, the popular list. The rated movies, and those of ``view``,
    ``like`` or ``not_interested`` feedback, are never listed. A movie id sent twice: its last
    rating counts. Unknown movie ids are ignored and named in ``ignored_movie_ids``. Nothing is
    stored. Takes the service key (or an admin's token), as writes for nobody in particular
    do: a client's backend asks for its visitors."""
    serving = get_serving()
    rules = list_rules(
        serving, body.exclude, body.genres, body.year_min, body.year_max, body.min_rating_count
    )
    # A movie rated twice: the last rating counts (a dict keeps the last value of a key).
    ratings = {rating.movie_id: to_half_stars(rating.rating) for rating in body.ratings}
    feedback = [(item.movie_id, item.type) for item in body.feedback]
    found = visitor_recommendations(serving, ratings, feedback, body.n, body.algorithm, rules)
    return ranked_json(serving.movies, found.answer) | {
        "segment": str(found.segment),
        "ignored_movie_ids": found.ignored,
    }


@bp.get("/movies/<movie_id>/similar")
@operation(query=SimilarQuery)
def get_similar(movie_id: str, query: SimilarQuery) -> Response:
    """The movies most similar to this one.

    Filtered and paged as recommendations are (``exclude``, ``genres``, ``year_min``,
    ``year_max``, ``min_rating_count``, ``offset``, ``cursor``)."""
    serving = get_serving()
    answer = similar_movies(
        serving,
        movie_id,
        query.n,
        query.algorithm,
        _rules(serving, query),
        query.offset,
        query.cursor,
    )
    return answer_response(serving, answer)


def _rules(serving: ServingContext, query: RankedListQuery) -> ListRules:
    """The rules a list's query string asks for."""
    return list_rules(
        serving,
        query.excluded,
        query.genre_names,
        query.year_min,
        query.year_max,
        query.min_rating_count,
    )


@bp.get("/users/<user_id>/predictions")
@require_credentials
@operation(query=PredictionQuery)
def get_prediction(user_id: str, query: PredictionQuery) -> dict[str, Any]:
    """The star rating the user would probably give a movie."""
    with get_db().transaction() as session:
        prediction = predict_rating(
            get_serving(), session, user_id, query.movie_id, query.algorithm
        )
    return {
        "user_id": user_id,
        "movie_id": query.movie_id,
        "prediction": prediction.stars,
        "source": prediction.source,
        "model_version": prediction.model_version,
    }


@bp.get("/movies/popular")
@operation(query=PopularQuery)
def get_popular(query: PopularQuery) -> dict[str, Any]:
    """Popular movies by weighted rating, optionally in a genre or a recent window."""
    serving = get_serving()
    with get_db().transaction() as session:
        genres = [serving.movies.known_genre(query.genre)] if query.genre else []
        pairs, cached = popular_movies(serving.cache, session, query.n, genres, query.window_days)
    answer = RankedAnswer(pairs, "popularity", None, cached)
    return ranked_json(serving.movies, answer) | {"window": query.window}


def answer_response(context: ServingContext, answer: RankedAnswer) -> Response:
    """The answer as a JSON response; one cut from a cached list is rendered once per list and
    URL (``server.cache.rendered``)."""

    def render() -> bytes:
        return (current_app.json.dumps(ranked_json(context.movies, answer)) + "\n").encode()

    if not answer.cached or answer.entry is None:
        body = render()
    else:
        body = get_rendered_bodies().body(request.full_path, answer.entry, render)
    return current_app.response_class(body, mimetype="application/json")

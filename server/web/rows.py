"""What the pages show of a list: cards (poster, title as people write it, year, genres, average
stars and the reason in words), and the rows of "For you", each naming where it came from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.serialize import poster_of, ranked_json
from server.errors import NotFound
from server.models import Movie, Rating, User
from server.presentation import display_title
from server.services.movies import RatingSummary, rating_summaries
from server.services.popular import CACHED_LENGTH, popular_movies
from server.services.ratings import rated_by
from server.services.recommendations import RankedAnswer, recommendations, similar_movies
from server.serving.context import ServingContext

ROW_LENGTH = 12
# "Because you rated X" rows for this many of the person's newest ratings of 4 stars or more.
BECAUSE_ROWS = 2
LIKED_HALF_STARS = 8
GENRE_ROWS = 3
# "Trending now" counts the ratings of this many days.
TRENDING_DAYS = 30
# A row shows only with at least this many cards.
MIN_ROW = 4


@dataclass
class Row:
    """One row of cards: its heading, where the list came from, and the cards."""

    key: str
    title: str
    source: str
    items: list[dict[str, Any]] = field(default_factory=list)


def cards(
    context: ServingContext,
    session: Session,
    answer: RankedAnswer,
    summaries: dict[int, RatingSummary] | None = None,
) -> dict[str, Any]:
    """``answer`` as the API gives it, each item with its average stars, count of ratings and
    reason in words: what a card shows (``summaries``: the averages, when already read)."""
    listed = ranked_json(context.movies, answer)
    ids = [movie for movie, _ in answer.items]
    rows = context.movies.rows(ids)
    if summaries is None:
        summaries = rating_summaries(session, ids)
    by_id = {rows[movie].external_id: summaries[movie] for movie in ids if movie in rows}
    for item in listed["items"]:
        summary = by_id.get(item["movie_id"])
        item["mean"] = None if summary is None else summary.mean
        item["count"] = 0 if summary is None else summary.count
        item["why"] = why_text(item)
    return listed


def movie_card(movie: Movie, summary: RatingSummary) -> dict[str, Any]:
    """What a card shows of a movie of the catalogue (no reason: it is not a recommendation)."""
    return {
        "movie_id": movie.external_id,
        "display_title": display_name(movie.title, movie.external_id),
        "year": movie.year,
        "genres": [genre.name for genre in movie.genres],
        "poster_url": poster_of(movie),
        "mean": summary.mean,
        "count": summary.count,
    }


def source_text(answer: dict[str, Any]) -> str:
    """Where a list came from, in words."""
    source = str(answer["source"])
    version = f", model version {answer['model_version']}" if answer.get("model_version") else ""
    return f"From {source}{version}{' (cached)' if answer.get('cached') else ''}"


def top_picks(context: ServingContext, session: Session, username: str, n: int) -> Row:
    """The person's served list: what the champion of their segment picks (live)."""
    listed = cards(context, session, recommendations(context, username, n))
    return Row("top-picks", "Top picks for you", source_text(listed), listed["items"])


@dataclass
class _Planned:
    """A row before it is shown: its heading and the ranked answer it shows."""

    key: str
    title: str
    answer: RankedAnswer
    source: str | None = None  # None: from the answer
    why: str | None = None  # the same reason for every card (None: each item's own)


def for_you_rows(context: ServingContext, session: Session, user: User, n: int) -> list[Row]:
    """Every row of "For you": the top ``n`` picks, "Because you rated X" for recent high
    ratings, the top of each favourite genre, and what is trending now. A movie shows in one
    row only (the first); a row left with fewer than ``MIN_ROW`` cards is left out.

    The picks and the genre rows come from the person's one cached list when it holds enough
    of the genre (a Redis read, no ranking), so the page costs a few lookups."""
    # Rated, watched, liked or refused: none of these is suggested in any row.
    weights = context.settings.feedback_weight_map
    rated = set(rated_by(session, user.id, weights).seen.tolist())
    served = recommendations(context, user.external_id, context.cache.list_length)
    planned = [_Planned("top-picks", "Top picks for you", _cut(served, served.items[:n]))]
    planned += _because_you_rated(context, session, user, rated)
    for genre in [genre.name for genre in user.favorite_genres][:GENRE_ROWS]:
        answer = _within_genre(context, user, served, genre, n)
        planned.append(_Planned(f"genre-{genre}", f"Top {genre} for you", answer))
    planned.append(_trending(context, session, rated))
    shown: set[int] = set()
    for index, row in enumerate(planned):
        fresh = [(movie, score) for movie, score in row.answer.items if movie not in shown]
        row.answer = _cut(row.answer, fresh if index == 0 else fresh[:ROW_LENGTH])
        shown |= {movie for movie, _ in row.answer.items}
    kept = [planned[0], *(row for row in planned[1:] if len(row.answer.items) >= MIN_ROW)]
    summaries = rating_summaries(session, [m for row in kept for m, _ in row.answer.items])
    rows = []
    for row in kept:
        rows.append(_shown(context, session, row, summaries))
    return rows


def _shown(
    context: ServingContext,
    session: Session,
    row: _Planned,
    summaries: dict[int, RatingSummary] | None = None,
) -> Row:
    listed = cards(context, session, row.answer, summaries)
    for item in listed["items"]:
        item["why"] = row.why or item["why"]
    return Row(row.key, row.title, row.source or source_text(listed), listed["items"])


def _cut(answer: RankedAnswer, items: list[tuple[int, float]]) -> RankedAnswer:
    """``answer`` with other items (its source, version and reasons kept)."""
    return dataclasses.replace(answer, items=items)


def _within_genre(
    context: ServingContext, user: User, served: RankedAnswer, genre: str, n: int
) -> RankedAnswer:
    """The served list's movies of ``genre`` after its top ``n``; ranked within the genre by
    the same policy when the list holds too few of them."""
    later = served.items[n:]
    rows = context.movies.rows([movie for movie, _ in later])
    found = [(m, score) for m, score in later if m in rows and genre in rows[m].genres]
    if len(found) >= ROW_LENGTH:
        return _cut(served, found)
    return recommendations(context, user.external_id, ROW_LENGTH + n, genre=genre)


def _because_you_rated(
    context: ServingContext, session: Session, user: User, rated: set[int]
) -> list[_Planned]:
    liked = session.execute(
        select(Movie.external_id, Movie.title, Rating.half_stars)
        .join(Movie, Movie.id == Rating.movie_id)
        .where(Rating.user_id == user.id, Rating.half_stars >= LIKED_HALF_STARS)
        .order_by(Rating.updated_at.desc(), Rating.movie_id)
        .limit(BECAUSE_ROWS)
    ).all()
    planned = []
    for external_id, title, half_stars in liked:
        answer = alike(context, external_id, context.cache.list_length)
        if answer is None:
            continue
        unrated = [(movie, score) for movie, score in answer.items if movie not in rated]
        heading = f"Because you rated {display_name(title, external_id)} {half_stars / 2:g}★"
        planned.append(_Planned(f"because-{external_id}", heading, _cut(answer, unrated)))
    return planned


def alike(context: ServingContext, movie_external_id: str, n: int) -> RankedAnswer | None:
    """The movies most like one a person rated, for a "Because you rated" row; None when that
    movie is withheld or gone (the row is left out, not the page)."""
    try:
        return similar_movies(context, movie_external_id, n)
    except NotFound:
        return None


def _trending(context: ServingContext, session: Session, rated: set[int]) -> _Planned:
    pairs, cached = popular_movies(context.cache, session, CACHED_LENGTH, [], TRENDING_DAYS)
    unrated = [(movie, score) for movie, score in pairs if movie not in rated]
    answer = RankedAnswer(unrated, "popularity", None, cached)
    title = f"Trending now: the last {TRENDING_DAYS} days"
    return _Planned("trending", title, answer, "From everyone's ratings", "Trending now")


def trending_row(context: ServingContext, session: Session) -> Row:
    """The most popular movies of the last ``TRENDING_DAYS`` days (the home page's row)."""
    row = _trending(context, session, set())
    row.answer = _cut(row.answer, row.answer.items[:ROW_LENGTH])
    return _shown(context, session, row)


def display_name(title: str | None, external_id: str) -> str:
    """A movie's title as people write it (its id when it has no title)."""
    return display_title(title) or external_id


def why_text(item: dict[str, Any]) -> str:
    """An item's ``because`` and ``reason`` as a short sentence."""
    reason = item.get("reason") or {}
    kind = reason.get("kind")
    if item.get("because"):
        named = " and ".join(
            f"{display_name(m['title'], m['movie_id'])} ({m['rating']:g}★)" for m in item["because"]
        )
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
        said = "; ".join(part for part in parts if part) or "Alike"
        return said[0].upper() + said[1:]
    return {
        "similar_people": "Liked by people with your taste",
        "trending": "Trending now",
        "new": "New: nobody has rated it yet",
    }.get(str(kind), "Popular")

"""Recommendations for a visitor without an account: "items like these" from the ratings and the
feedback the caller holds (a client's session, or the pages' signed cookie), by the same served
policy as a stored person's list (the champion of their segment under ``auto``, fold-in, the
content blend while cold, re-ranking, a reason for every movie), and the same fallback chain down
to the popular list.

The visitor is nobody the server stores: nothing is read of a stored person, and nothing is
written (no row, no event, no cached list). Their ratings are folded in as given; the models'
trained state of a person is never used (``VISITOR_ID`` is no stored person's id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.cache.lists import CachedList
from server.db import Database
from server.errors import ValidationError
from server.models import Movie, Rating
from server.services import champions
from server.services.algorithms import require_algorithm
from server.services.model_versions import active_version
from server.services.popular import CACHED_LENGTH, popular_movies
from server.services.ratings import rate_movies
from server.services.recommendations import (
    GENRE_CANDIDATES,
    MAX_CANDIDATES,
    ListRules,
    RankedAnswer,
    shown_only,
)
from server.services.users import user_key
from server.serving.context import ServingContext
from server.serving.explain import explain, explain_popular
from server.serving.feedback import with_feedback
from server.serving.lists import compute_user_list, served_version
from server.serving.policy import (
    CONTENT,
    RatedMovies,
    Segment,
    ranked_list,
    segment_of,
    user_state,
)

if TYPE_CHECKING:
    from server.tasks import TaskQueue

# The user id the models fold a visitor in as: no stored person has it, and it is only ever used
# with ``prefer_trained=False`` (a model that cannot fold in sees an unknown person).
VISITOR_ID = -1
# The most ratings and pieces of feedback one request may carry.
MAX_RATINGS = 500
MAX_FEEDBACK = 500
# Movie ids looked up per query (well under every database's limit of bound parameters).
LOOKUP_CHUNK = 500

Pairs = list[tuple[int, float]]


@dataclass(frozen=True)
class VisitorAnswer:
    """A visitor's list, their segment, and the movie ids they sent that no movie has (left
    out of the computation, in the order first sent)."""

    answer: RankedAnswer
    segment: Segment
    ignored: list[str]


def visitor_recommendations(
    context: ServingContext,
    ratings: Mapping[str, int],
    feedback: Sequence[tuple[str, str]] = (),
    n: int = 10,
    algorithm: str | None = None,
    rules: ListRules | None = None,
) -> VisitorAnswer:
    """The top ``n`` for someone with ``ratings`` (half stars by external movie id) and
    ``feedback`` ((external movie id, type) pairs), kept to ``rules``; by ``algorithm``, or the
    server's default (``auto``: the champion of the visitor's segment). Movies they rated, or
    gave feedback that excludes them, are never listed; unknown movie ids are ignored (and
    named in the answer); an unknown algorithm is a ``NotFound``."""
    if len(ratings) > MAX_RATINGS or len(feedback) > MAX_FEEDBACK:
        raise ValidationError(
            f"at most {MAX_RATINGS} ratings and {MAX_FEEDBACK} pieces of feedback",
            code="too_many_items",
        )
    name = algorithm or context.settings.default_algorithm
    if name != champions.AUTO:
        require_algorithm(context.registry, name, "rank")
    rules = rules or ListRules()
    sent = list(dict.fromkeys([*ratings, *(movie for movie, _ in feedback)]))
    with context.database.transaction() as session:
        keys = movie_keys(session, sent)
        rated = visitor_rated(context, ratings, feedback, keys)
        segment = segment_of(rated.evidence, context.settings.cold_start_ratings)
        ranker = name
        if name == champions.AUTO:
            ranker = champions.champion_of(champions.current(session), segment)
        answer = _served(context, session, ranker, rated, n, rules)
        if answer is None:
            answer = _fallback(context, session, rated, n, rules)
    return VisitorAnswer(answer, segment, [movie for movie in sent if movie not in keys])


def keep_visitor_ratings(
    database: Database, tasks: TaskQueue, user_id: str, ratings: Mapping[str, int]
) -> int:
    """Store a visitor's ``ratings`` (half stars by movie id) as ``user_id``'s once they signed
    up or in: by ``rate_movies``, so their events reach the workers as any rating's do. Movies
    no longer in the catalogue are skipped, and so are the ones the person rated already (their
    own rating stays). Returns how many were stored."""
    with database.transaction() as session:
        keys = movie_keys(session, ratings)
        rated = set(
            session.scalars(
                select(Rating.movie_id).where(
                    Rating.user_id == user_key(session, user_id),
                    Rating.movie_id.in_(keys.values()),
                )
            )
        )
    new = {
        movie: half for movie, half in ratings.items() if movie in keys and keys[movie] not in rated
    }
    return rate_movies(database, tasks, user_id, new) if new else 0


def movie_keys(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """The internal id of each of ``external_ids`` that is a movie (unknown ones left out)."""
    wanted = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Movie.external_id, Movie.id).where(Movie.external_id.in_(chunk))
        )
        found.update({external: key for external, key in rows})
    return found


def visitor_rated(
    context: ServingContext,
    ratings: Mapping[str, int],
    feedback: Iterable[tuple[str, str]],
    keys: Mapping[str, int],
) -> RatedMovies:
    """What the visitor told us as the served policy reads it: their ratings of known movies
    (stars), and their feedback as signals and exclusions (``MOVIEREC_FEEDBACK_WEIGHTS``)."""
    known = [(keys[movie], half) for movie, half in ratings.items() if movie in keys]
    rated = RatedMovies(
        np.array([movie for movie, _ in known], np.int64),
        np.array([half for _, half in known], np.float32) / 2.0,
    )
    # At most one of each type per movie, as a stored person's feedback is.
    pairs = dict.fromkeys((keys[movie], kind) for movie, kind in feedback if movie in keys)
    return with_feedback(rated, pairs, context.settings.feedback_weight_map)


def _served(
    context: ServingContext,
    session: Session,
    ranker: str,
    rated: RatedMovies,
    n: int,
    rules: ListRules,
) -> RankedAnswer | None:
    """The list of ``ranker``'s active version by the served policy, read as deep as the page
    needs once the visitor's movies and the rules are left out; None when there is no such
    version or it has nothing to go on (the fallback answers)."""
    version = active_version(session, ranker) if ranker in context.registry.names() else None
    if version is None:
        return None
    content = active_version(session, CONTENT)
    depth = _first_depth(n, rated, rules)
    while True:
        entry = compute_user_list(context, version, content, VISITOR_ID, rated, depth)
        if entry is None:
            return None
        kept = kept_for(context, entry.pairs(), rated, rules)
        if len(kept) >= n or len(entry) < depth or depth >= MAX_CANDIDATES:
            # ``entry`` carries each movie's reason, as a stored person's list does.
            return RankedAnswer(kept[:n], entry.source, entry.version, False, entry)
        depth = min(depth * 4, MAX_CANDIDATES)


def _fallback(
    context: ServingContext, session: Session, rated: RatedMovies, n: int, rules: ListRules
) -> RankedAnswer:
    """The fallback chain of a stored person: each configured algorithm that has an active
    model and something of the visitor's to fold in, then the live popular list (of the
    ``genres`` rule, if any), which always answers."""
    depth = _first_depth(n, rated, rules)
    for step in context.settings.fallback_chain:
        if step == champions.POPULARITY or rated.evidence == 0:
            continue
        version = active_version(session, step)
        served = served_version(context, version)
        if version is None or served is None or "rank" not in served.model.capabilities:
            continue
        state = user_state(served.model, VISITOR_ID, rated)
        entry = ranked_list(served, state, max(depth, GENRE_CANDIDATES))
        kept = kept_for(context, entry.pairs(), rated, rules)[:n]
        if kept:
            evidence = context.evidence.of(version, served.model)
            page = explain(_page(entry.version, entry.source, kept), rated, evidence, served.model)
            return RankedAnswer(kept, f"fallback:{step}", served.version, False, page)
    return _popular(context, session, rated, n, rules)


def _popular(
    context: ServingContext, session: Session, rated: RatedMovies, n: int, rules: ListRules
) -> RankedAnswer:
    """The live popular list less the visitor's movies, kept to ``rules``: each movie
    ``popular_in`` the first genre of the rule it belongs to, else ``popular``."""
    genres = sorted(rules.genres)
    # At least the cached length, so the popular list is read from the cache when it can be.
    depth = max(_first_depth(n, rated, rules), CACHED_LENGTH)
    pool, _ = popular_movies(context.cache, session, depth, genres, None)
    items = kept_for(context, pool, rated, rules)[:n]
    movies = [movie for movie, _ in items]
    rows = context.movies.rows(movies)
    ids = context.movies.genre_ids()
    picked = [
        next((ids.get(g, -1) for g in genres if m in rows and g in rows[m].genres), -1)
        for m in movies
    ]
    entry = _page(0, "fallback:popularity", items)
    return RankedAnswer(items, entry.source, None, False, explain_popular(entry, picked))


def _page(version: int, source: str, items: Pairs) -> CachedList:
    """The ``items`` of a page as a list of their own: only they need a reason."""
    return CachedList(
        version,
        source,
        np.array([movie for movie, _ in items], np.int32),
        np.array([score for _, score in items], np.float32),
    )


def _first_depth(n: int, rated: RatedMovies, rules: ListRules) -> int:
    """How deep a list is read first: the page and the visitor's movies it may have to skip;
    with rules, as deep as a filtered read of a stored person's list starts."""
    depth = n + len(rated.seen)
    return max(depth, GENRE_CANDIDATES, 4 * n) if rules.active else depth


def kept_for(context: ServingContext, pairs: Pairs, rated: RatedMovies, rules: ListRules) -> Pairs:
    """The movies of ``pairs`` the visitor did not rate or exclude, that lists may show now (not
    hidden, available, not deleted) and that keep to ``rules``, in order: the filter of a
    stored person's lists (``recommendations._filtered``)."""
    seen = set(rated.seen.tolist())
    pairs = shown_only(context, [(movie, score) for movie, score in pairs if movie not in seen])
    if not rules.active:
        return pairs
    movies = [movie for movie, _ in pairs]
    rows = context.movies.rows(movies)
    counts = context.movies.rating_counts(movies) if rules.min_rating_count > 0 else {}
    return [
        (movie, score)
        for movie, score in pairs
        if (row := rows.get(movie)) is not None and rules.admits(row, counts.get(movie, 0))
    ]

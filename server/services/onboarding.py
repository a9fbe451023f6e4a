"""The questions of onboarding: which movies a new person is asked to rate next, chosen by
``server.serving.onboarding`` from the active popularity model's ratings (any active model's
before one is trained), the genres they picked and the answers they already gave."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.models import User
from server.services.model_versions import active_version, active_versions
from server.services.popular import popular_movies
from server.services.ratings import rated_by
from server.serving.catalogue import in_session, withheld_movies
from server.serving.context import ServingContext
from server.serving.lists import served_version
from server.serving.onboarding import Questionnaire

EVIDENCE_FROM = "popularity"


def next_questions(
    context: ServingContext, session: Session, user: User, asked: set[int], n: int
) -> list[int]:
    """``n`` movies (internal ids) to ask ``user`` about, none of them rated or ``asked``
    already, nor withheld from lists (hidden, unavailable: ``server.serving.catalogue``); the
    popular movies of their genres while no model is trained (which leave those out too)."""
    genres = [genre.name for genre in user.favorite_genres]
    rated = rated_by(session, user.id)
    answers = dict(zip(rated.movies.tolist(), rated.stars.tolist(), strict=True))
    version = active_version(session, EVIDENCE_FROM) or next(
        iter(active_versions(session).values()), None
    )
    served = served_version(context, version)
    if version is None or served is None:
        pool, _ = popular_movies(
            context.cache, session, n + len(answers) + len(asked), genres, None
        )
        return [movie for movie, _ in pool if movie not in answers and movie not in asked][:n]
    evidence = context.evidence.of(version, served.model)
    withheld = withheld_movies(context.cache, in_session(session)).movies
    return Questionnaire(evidence, genres).round(answers, asked | set(answers), n, withheld)

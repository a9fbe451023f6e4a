"""Onboarding's questions: well-known movies of the picked genres, never one rated or shown
already, each page following the answers before it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Movie, User
from server.services.onboarding import next_questions
from server.services.ratings import put_rating
from server.services.users import create_user
from workers.context import WorkerContext

GENRES = ("Comedy", "Drama")


def newcomer(session: Session) -> User:
    user = session.scalar(select(User).where(User.external_id == "newcomer"))
    return user or create_user(session, "newcomer", favorite_genres=GENRES)


def test_each_page_of_questions_follows_the_answers(
    seeded: Database, train: Callable[..., Any], context: WorkerContext
) -> None:
    serving = context.serving
    with seeded.transaction() as session:
        before = next_questions(serving, session, newcomer(session), set(), 12)
    assert len(set(before)) == 12  # nothing trained yet: the popular list of their genres
    train("popularity")
    with seeded.transaction() as session:
        first = next_questions(serving, session, newcomer(session), set(), 12)
        shown = [session.get_one(Movie, movie) for movie in first]
        assert len(set(first)) == 12
        assert all({genre.name for genre in movie.genres} & set(GENRES) for movie in shown)
        for movie in shown[:2]:  # they loved two of them, and skipped the rest
            put_rating(session, "newcomer", movie.external_id, 10)
    with seeded.transaction() as session:
        second = next_questions(serving, session, newcomer(session), set(first), 12)
        again = next_questions(serving, session, newcomer(session), set(), 12)
    assert len(second) == 12 and not set(second) & set(first)
    assert not set(again) & set(first[:2])  # what they rated is never asked again
    assert again[:10] != first[2:12]  # the answers changed what comes first

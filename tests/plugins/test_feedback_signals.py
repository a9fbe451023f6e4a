"""Feedback besides stars (``Ratings.signals``) in the implicit-feedback models: trained on, and
folded in for a person with no stars at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins.algorithms.implicit_mf import confidence
from plugins.data import Ratings
from plugins.registry import discover

GROUP_A = list(range(1, 11))
GROUP_B = list(range(11, 21))
ONLY_WATCHED = 21  # nobody rated it; group A's people watched it


def two_tastes() -> Ratings:
    """People 1-20 rated movies 1-10, people 21-40 movies 11-20; person 1 also gave movie 21 a
    half star (so it is in the catalogue, and no one liked it)."""
    users, movies = [], []
    for person in range(1, 41):
        for movie in GROUP_A if person <= 20 else GROUP_B:
            users.append(person)
            movies.append(movie)
    stars = [5.0] * len(users)
    return Ratings([*users, 1], [*movies, ONLY_WATCHED], [*stars, 0.5])


def with_views(ratings: Ratings) -> Ratings:
    """Group A's people (but person 1, whose 0.5 is their only word on it) watched movie 21."""
    viewers = list(range(2, 21))
    return ratings.with_signals(viewers, [ONLY_WATCHED] * len(viewers), [3.0] * len(viewers))


@pytest.mark.parametrize("name", ["als", "ease"])
def test_a_like_alone_is_folded_in(name: str) -> None:
    model = discover({name}).create(name).fit(two_tastes())
    for liked, group in ((1, GROUP_A), (11, GROUP_B)):
        state = model.fold_in([], [], [liked], [3.0])
        top = model.recommend(state, 5, exclude=[liked]).movies.tolist()
        assert top and all(movie in group for movie in top), (liked, top)


@pytest.mark.parametrize("name", ["als", "ease"])
def test_signals_are_trained_on(name: str) -> None:
    plain = discover({name}).create(name).fit(two_tastes())
    watched = discover({name}).create(name).fit(with_views(two_tastes()))
    fan_of_a = 2  # rated group A, watched movie 21

    def rank_of_21(model: object) -> int:
        ranked = model.recommend(fan_of_a, 21, exclude_rated=False).movies.tolist()  # type: ignore[attr-defined]
        return ranked.index(ONLY_WATCHED) if ONLY_WATCHED in ranked else 99

    assert rank_of_21(watched) < rank_of_21(plain)
    assert rank_of_21(watched) < 11  # among group A's movies, ahead of every B movie


def test_signals_survive_save_and_load(tmp_path: Path) -> None:
    registry = discover({"ease"})
    model = registry.create("ease").fit(with_views(two_tastes()))
    model.save(tmp_path / "ease")
    loaded = registry.load("ease", tmp_path / "ease")
    state = loaded.user_state(2)
    assert loaded.data.movie_ids[state.signal_items].tolist() == [ONLY_WATCHED]
    np.testing.assert_array_equal(
        loaded.score(2, loaded.data.movie_ids), model.score(2, model.data.movie_ids)
    )


def test_bpr_takes_signals_as_positives() -> None:
    ratings = with_views(two_tastes())
    positives = confidence(ratings, "binary", min_stars=3.5)
    assert positives[ratings.user_index(2), ratings.movie_index(ONLY_WATCHED)] > 0
    assert positives[ratings.user_index(1), ratings.movie_index(ONLY_WATCHED)] == 0


def test_signals_of_unknown_people_or_movies_are_dropped() -> None:
    ratings = two_tastes().with_signals([1, 999, 1], [1, 1, 12345], [2.0, 2.0, 2.0])
    assert ratings.signals.nnz == 1 and ratings.signals.sum() == 2.0

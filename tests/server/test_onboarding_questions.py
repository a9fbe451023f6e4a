"""Which movie onboarding asks about first, on hand-made evidence."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from server.serving.explain import LIKING_VOTES, Evidence
from server.serving.onboarding import Questionnaire


def test_of_two_movies_known_to_as_many_people_the_better_liked_is_asked_first() -> None:
    # movies 1 and 2 were each rated by the same four people; 2 is loved, 1 disliked
    stars = sp.csc_matrix(np.array([[1.5, 5.0], [2.0, 4.5], [1.0, 5.0], [2.0, 4.0]], np.float32))
    genres = {1: ("Drama",), 2: ("Drama",)}
    evidence = Evidence.build(np.array([1, 2]), stars, genres, {"Drama": 7}, trending=False)
    overall = 25.0 / 8  # every rating's mean
    assert np.isclose(evidence.liking[1], (4 * 4.625 + LIKING_VOTES * overall) / (4 + LIKING_VOTES))
    assert evidence.genre_ids.tolist() == [7]
    assert Questionnaire(evidence, ["Drama"]).next({}, set()) == 2

"""The served policy and its holdout: the timeline split, the segments, and the served figures."""

from __future__ import annotations

import numpy as np

from plugins.algorithms.popularity import Popularity
from plugins.evaluation.splits import RatingTable, timeline_split
from plugins.registry import discover
from server.serving.evaluation import FoldServing, served_metrics
from server.serving.policy import Policy, RatedMovies, Segment, Served, segment_of, served_list


def table(people: int = 40, per_person: int = 12) -> RatingTable:
    """Person p rates movies p .. p + per_person - 1, one a day, starting on day p."""
    users = np.repeat(np.arange(1, people + 1), per_person)
    offsets = np.tile(np.arange(per_person), people)
    movies = users + offsets
    stars = np.where(offsets % 3 == 2, 5.0, 3.0).astype(np.float32)
    return RatingTable(users, movies, stars, (users + offsets) * 86_400)


def test_segments_follow_the_cold_start_threshold() -> None:
    assert segment_of(0, 5) is Segment.NEW
    assert segment_of(1, 5) is Segment.COLD and segment_of(4, 5) is Segment.COLD
    assert segment_of(5, 5) is Segment.WARM


def test_timeline_split_holds_out_each_persons_future_and_the_newest_people() -> None:
    data = table()
    fold = next(timeline_split(data, 0.1, cold_start=5))
    known = {int(u): int((fold.train.users == u).sum()) for u in np.unique(data.users)}
    # The 4 newest people (first rating latest) are newcomers: two new, two cold (1 then 2 known).
    assert [known[person] for person in (40, 39, 38, 37)] == [0, 1, 0, 2]
    # Everyone else keeps their oldest ratings (ceil(12 * 0.9) = 11) and is tested on the newest.
    assert all(known[person] == 11 for person in range(1, 37))
    for person in range(1, 37):
        kept = fold.train.timestamps[fold.train.users == person]
        held = fold.test.timestamps[fold.test.users == person]
        assert kept.max() < held.min()
    assert len(fold.train) + len(fold.test) == len(data)


def test_a_personal_model_without_ratings_leaves_the_answer_to_the_fallback() -> None:
    train = table().to_ratings()
    knn = discover().create("knn-item").fit(train)
    nobody = RatedMovies(np.empty(0, np.int64), np.empty(0, np.float32))
    policy = Policy(cold_start_ratings=5)
    assert served_list(Served(knn, 1), None, None, 99, nobody, 10, policy) is None
    popular = served_list(Served(Popularity().fit(train), 2), None, None, 99, nobody, 10, policy)
    assert popular is not None and len(popular) == 10 and popular.version == 2
    one = RatedMovies(np.array([5], np.int64), np.array([5.0], np.float32))
    content = discover().create("content").fit(train)
    blended = served_list(Served(knn, 1), Served(content, 3), None, 99, one, 10, policy)
    assert blended is not None and blended.source == "blend:content+knn-item"
    assert 5 not in blended.movies.tolist() and blended.version == 1


def test_popularity_served_is_its_own_reference_and_segments_count_people() -> None:
    data = table(people=200)
    fold = next(timeline_split(data, 0.1, cold_start=5))
    figures = served_metrics(
        Popularity().fit(fold.train.to_ratings(data.catalogue())),
        FoldServing.fit(fold, data.catalogue(), discover()),
        Policy(cold_start_ratings=5),
    )
    assert figures["all"]["ndcg@10"] == figures["all"]["popularity_ndcg@10"]
    assert figures["new"]["users"] == 10 and figures["cold"]["users"] == 10
    assert figures["new"]["own_share"] == 1.0  # popularity serves people with no ratings itself
    assert figures["all"]["users"] == sum(figures[s]["users"] for s in ("new", "cold", "warm"))
    knn = discover().create("knn-item").fit(fold.train.to_ratings(data.catalogue()))
    personal = served_metrics(
        knn, FoldServing.fit(fold, data.catalogue(), discover()), Policy(cold_start_ratings=5)
    )
    assert personal["new"]["own_share"] == 0.0 and personal["warm"]["own_share"] == 1.0
    assert personal["new"]["ndcg@10"] == personal["new"]["popularity_ndcg@10"]

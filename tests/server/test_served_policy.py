"""The served policy and its holdout: the timeline split, the segments, and the served figures."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.algorithms.popularity import Popularity
from plugins.evaluation.splits import RatingTable, sample_test_people, timeline_split
from plugins.registry import discover
from server.config import Settings, SettingsError
from server.serving.evaluation import FoldServing, served_metrics
from server.serving.policy import Policy, RatedMovies, Segment, Served, segment_of, served_list
from workers.training import holdout_metrics


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


def test_a_sampled_holdout_scores_some_people_on_their_whole_future() -> None:
    fold = next(timeline_split(table(people=200), 0.1, cold_start=5))
    sampled = sample_test_people(fold, 50, seed=3)
    people = np.unique(sampled.test.users)
    assert len(people) == 50 and sampled.train is fold.train
    for person in people:  # every test rating of a chosen person stays
        assert (sampled.test.users == person).sum() == (fold.test.users == person).sum()
    again = sample_test_people(fold, 50, seed=3)
    assert np.array_equal(np.unique(again.test.users), people)
    assert sample_test_people(fold, 1_000) is fold  # fewer people than that: all scored


def test_served_figures_carry_their_interval_which_narrows_with_more_people() -> None:
    data = table(people=400)
    fold = next(timeline_split(data, 0.1, cold_start=5))
    model = discover().create("knn-item").fit(fold.train.to_ratings(data.catalogue()))

    def everyone(scored: int) -> dict[str, float]:
        part = sample_test_people(fold, scored)
        serving = FoldServing.fit(part, data.catalogue(), discover())
        return served_metrics(model, serving, Policy(cold_start_ratings=5))["all"]

    few, many = everyone(40), everyone(400)
    assert few["users"] == 40 and many["users"] == 400
    assert 0 < many["ndcg@10_ci95"] < few["ndcg@10_ci95"]


def test_the_workers_holdout_says_how_many_people_it_scored() -> None:
    data = table(people=300)
    knn = discover().create("knn-item")
    policy = Policy(cold_start_ratings=5)
    metrics = holdout_metrics(knn, data, 0.1, discover(), policy, most_people=100)
    assert metrics["holdout_people"] == {"scored": 100, "of": 300}
    assert metrics["served"]["all"]["users"] == 100
    whole = holdout_metrics(knn, data, 0.1, discover(), policy, most_people=10_000)
    assert "holdout_people" not in whole and whole["served"]["all"]["users"] == 300


def test_a_holdout_too_small_for_the_segments_is_refused() -> None:
    with pytest.raises(SettingsError, match="HOLDOUT_MAX_PEOPLE"):
        Settings.load({"holdout_max_people": 99})
    assert Settings.load({"holdout_max_people": 100}).holdout_max_people == 100

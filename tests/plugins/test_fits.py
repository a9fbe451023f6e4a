"""Kept fits: a registry with a ``FitMemo`` gives back an identical earlier fit, and only that."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from plugins.base import FitOptions
from plugins.data import MovieInfo, Ratings
from plugins.fits import FitMemo
from plugins.registry import Registry, discover
from plugins.testing import structured_ratings


def kept_registry(root: Path, reused: list[str]) -> Registry:
    registry = discover()
    registry.fits = FitMemo(root, reused.append)
    return registry


def scores(model: object, data: Ratings) -> np.ndarray:
    users = data.user_ids[:4].tolist()
    return np.stack([model.score(user, data.movie_ids) for user in users])  # type: ignore[attr-defined]


def test_the_fingerprint_tells_apart_whatever_a_fit_reads() -> None:
    train, _ = structured_ratings()
    users, movies, stars = train.coo
    ids = train.user_ids[users], train.movie_ids[movies]
    times = train.times.data
    info = dict(train.movie_info)

    def made(stars: np.ndarray = stars, times: np.ndarray = times, info: dict = info) -> Ratings:
        return Ratings(*ids, stars, times, info)

    assert made().fingerprint == train.fingerprint
    other_stars = stars.copy()
    other_stars[0] = 5.5 - other_stars[0]
    retitled = info | {int(train.movie_ids[0]): MovieInfo(title="Another title")}
    different = [
        made(stars=other_stars),
        made(times=times + 1),
        made(info=retitled),
        train.with_signals(ids[0][:1], ids[1][:1], [1.0]),
    ]
    assert len({train.fingerprint, *(ratings.fingerprint for ratings in different)}) == 5
    # signals given again make another fingerprint than the one cached before them
    signalled = train.with_signals(ids[0][:1], ids[1][:1], [1.0])
    assert signalled.fingerprint == different[-1].fingerprint != train.fingerprint


def test_an_identical_fit_is_taken_back_and_any_difference_fits_again(tmp_path: Path) -> None:
    train, _ = structured_ratings()
    reused: list[str] = []
    registry = kept_registry(tmp_path, reused)
    first = registry.create("svd").fit(train, FitOptions(seed=0))
    again = registry.create("svd").fit(train, FitOptions(seed=0))
    assert reused == ["svd"]
    np.testing.assert_array_equal(scores(first, train), scores(again, train))
    assert again.data is train  # the ratings given, not the kept copy's

    registry.create("svd").fit(train, FitOptions(seed=1))
    registry.create("svd", {"n_factors": 7}).fit(train, FitOptions(seed=0))
    fewer = train.subset(np.arange(train.n_ratings) > 0)
    registry.create("svd").fit(fewer, FitOptions(seed=0))
    assert reused == ["svd"]
    assert len(list((tmp_path / "svd").iterdir())) == 4

    registry.fits = FitMemo(tmp_path, reused.append)
    registry.fits.forget("svd")
    registry.create("svd").fit(train, FitOptions(seed=0))
    assert reused == ["svd"]


def test_a_composite_takes_back_its_components_and_ranks_as_when_fitted_anew(
    tmp_path: Path,
) -> None:
    train, _ = structured_ratings()
    components = {"components": "0.5*svd+0.5*knn-item+0.2*content"}
    fresh = discover().create("hybrid", components).fit(train)
    reused: list[str] = []
    registry = kept_registry(tmp_path, reused)
    for name in ("svd", "knn-item"):
        registry.create(name).fit(train)
    composite = registry.create("hybrid", components).fit(train)
    assert sorted(reused) == ["knn-item", "svd"]  # content was fitted, and kept
    assert not (tmp_path / "hybrid").exists()  # a composite keeps its parts, not itself
    np.testing.assert_array_equal(scores(composite, train), scores(fresh, train))
    registry.create("hybrid", components).fit(train)
    assert sorted(reused) == ["content", "knn-item", "knn-item", "svd", "svd"]


def test_a_fit_that_cannot_be_kept_is_still_made(tmp_path: Path) -> None:
    train, _ = structured_ratings()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    reused: list[str] = []
    registry = kept_registry(blocked, reused)
    model = registry.create("popularity").fit(train)
    assert model.is_fitted
    registry.create("popularity").fit(train)
    assert reused == []


def test_no_fit_is_kept_on_a_nearly_full_disk(tmp_path: Path) -> None:
    train, _ = structured_ratings()
    reused: list[str] = []
    registry = discover()
    room = shutil.disk_usage(tmp_path).free
    registry.fits = FitMemo(tmp_path, reused.append, min_free_bytes=room + (1 << 40))
    registry.create("popularity").fit(train)
    registry.create("popularity").fit(train)
    assert reused == [] and list((tmp_path / "popularity").iterdir()) == []


@pytest.mark.parametrize("broken", ["model.json", "an array"])
def test_a_kept_fit_that_cannot_be_read_is_fitted_again(tmp_path: Path, broken: str) -> None:
    train, _ = structured_ratings()
    reused: list[str] = []
    registry = kept_registry(tmp_path, reused)
    first = registry.create("svd").fit(train)
    (entry,) = (tmp_path / "svd").iterdir()
    victim = entry / "model.json" if broken == "model.json" else next(entry.glob("model.*.npy"))
    victim.unlink()
    again = registry.create("svd").fit(train)
    assert reused == []
    np.testing.assert_array_equal(scores(first, train), scores(again, train))

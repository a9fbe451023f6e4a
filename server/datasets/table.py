"""Read a dataset (or a lone ratings file) into the evaluation engine's ``RatingTable``: no
database involved. External ids that are integers are kept (so dumped files show the dataset's
own ids); others are numbered in order of appearance, and ``IdLabels`` maps them back."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plugins.data import MovieInfo
from plugins.evaluation.splits import RatingTable
from server.datasets.detect import open_dataset
from server.datasets.records import DatasetReader, Problems


@dataclass
class IdLabels:
    """Integer ids for string ids, in both directions, for users and movies separately."""

    users: dict[str, int] = field(default_factory=dict)
    movies: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _number(known: dict[str, int], text: str) -> int:
        if text.isdigit() and len(text) < 18:
            return int(text)
        if text not in known:  # non-numeric ids: negative numbers never clash with real ones
            known[text] = -(len(known) + 1)
        return known[text]

    def user(self, text: str) -> int:
        """The integer id of a user id as the dataset spells it."""
        return self._number(self.users, text)

    def movie(self, text: str) -> int:
        """The integer id of a movie id as the dataset spells it."""
        return self._number(self.movies, text)


def load_table(
    path: Path, problems: Problems | None = None, labels: IdLabels | None = None
) -> RatingTable:
    """Every rating of the dataset at ``path`` with its movies' metadata and tags."""
    labels = labels or IdLabels()
    reader = open_dataset(path, problems)
    users, movies, half_stars, times = [], [], [], []
    for record in reader.ratings():
        users.append(labels.user(record.user_id))
        movies.append(labels.movie(record.movie_id))
        half_stars.append(record.half_stars)
        times.append(record.timestamp)
    return RatingTable(
        np.array(users, np.int64),
        np.array(movies, np.int64),
        np.array(half_stars, np.float32) / 2.0,
        np.array(times, np.int64),
        _movie_info(reader, labels),
    )


def _movie_info(reader: DatasetReader, labels: IdLabels) -> dict[int, MovieInfo]:
    tags: dict[str, list[str]] = defaultdict(list)
    for tag in reader.tags():
        tags[tag.movie_id].append(tag.tag)
    return {
        labels.movie(movie.external_id): MovieInfo(
            title=movie.title or "",
            year=movie.year,
            genres=movie.genres,
            tags=tuple(tags.get(movie.external_id, ())),
            overview=movie.overview or "",
        )
        for movie in reader.movies()
    }

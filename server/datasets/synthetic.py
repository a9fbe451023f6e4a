"""A synthetic dataset with the structure of real rating data, in the MovieLens-latest CSV layout.

- Movies have 1-3 genres, a release year, a quality bias and a long-tailed (Zipf) popularity.
- Users have genre tastes, a rating bias and a skewed (log-normal) activity, at least 20 ratings
  each as in MovieLens; which movies they rate follows popularity and their taste.
- A rating is ``3.3 + user bias + movie bias + taste . movie factors + noise``, in half stars
  (some users give whole stars only), so algorithms have real structure to learn.

Everything is vectorized numpy: 10M ratings take well under a minute and a few GB of memory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

GENRES = {
    "Drama": 0.22,
    "Comedy": 0.18,
    "Thriller": 0.09,
    "Action": 0.09,
    "Romance": 0.08,
    "Adventure": 0.06,
    "Crime": 0.06,
    "Sci-Fi": 0.04,
    "Horror": 0.05,
    "Fantasy": 0.03,
    "Children": 0.03,
    "Animation": 0.02,
    "Mystery": 0.02,
    "Documentary": 0.02,
    "War": 0.01,
    "Musical": 0.01,
    "Western": 0.005,
    "Film-Noir": 0.005,
}
TAG_WORDS = (
    "atmospheric",
    "funny",
    "dark",
    "twist ending",
    "classic",
    "visually stunning",
    "quirky",
    "thought-provoking",
    "slow",
    "violent",
    "feel-good",
    "based on a book",
    "great soundtrack",
)
TITLE_ADJECTIVES = ("Silent", "Last", "Broken", "Golden", "Hidden", "Lost", "Dark", "Wild", "Red")
TITLE_NOUNS = ("River", "Kingdom", "Night", "Promise", "Stranger", "Garden", "Road", "Storm")
MIN_RATINGS_PER_USER = 20
START, END = 946_684_800, 1_535_760_000  # 2000-01-01 .. 2018-09-01, UTC


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes and seed of a synthetic dataset."""

    users: int
    movies: int
    ratings: int
    seed: int = 0
    factors: int = 8
    noise: float = 0.6

    def __post_init__(self) -> None:
        if min(self.users, self.movies, self.ratings) < 1:
            raise ValueError("users, movies and ratings must be positive")
        if self.ratings > 0.5 * self.users * self.movies:
            raise ValueError(
                f"{self.ratings} ratings would fill more than half of the {self.users} x "
                f"{self.movies} matrix; ask for fewer ratings or more users or movies"
            )


@dataclass(frozen=True)
class SyntheticData:
    """The generated arrays (0-based users and movies; ids in files are 1-based)."""

    user: npt.NDArray[np.int64]
    movie: npt.NDArray[np.int64]
    half_stars: npt.NDArray[np.int64]
    timestamp: npt.NDArray[np.int64]
    movie_genres: npt.NDArray[np.bool_]
    movie_year: npt.NDArray[np.int64]


def generate(spec: SyntheticSpec) -> SyntheticData:
    """Generate the ratings and movie metadata of ``spec``."""
    rng = np.random.default_rng(spec.seed)
    genre_weights = np.array(list(GENRES.values()))
    genre_weights /= genre_weights.sum()
    movie_genres = _pick_genres(rng, spec.movies, genre_weights)
    genre_vectors = rng.normal(size=(len(GENRES), spec.factors))
    movie_factors = _unit_rows(movie_genres @ genre_vectors) + 0.5 * rng.normal(
        size=(spec.movies, spec.factors)
    )
    popularity = 1.0 / (rng.permutation(spec.movies) + 10.0)
    movie_bias = rng.normal(0, 0.3, spec.movies) + 0.1 * _standardize(np.log(popularity))
    tastes = rng.dirichlet(np.full(len(GENRES), 0.3), size=spec.users)
    user_factors = _unit_rows(tastes @ genre_vectors) + 0.5 * rng.normal(
        size=(spec.users, spec.factors)
    )
    user_bias = rng.normal(0, 0.3, spec.users)

    quota = _ratings_per_user(rng, spec)
    user, movie = _sample_pairs(
        rng, quota, popularity / popularity.sum(), user_factors, movie_factors
    )
    affinity = np.einsum("ij,ij->i", user_factors[user], movie_factors[movie]) / np.sqrt(
        spec.factors
    )
    stars = 3.3 + user_bias[user] + movie_bias[movie] + 0.6 * affinity
    stars += rng.normal(0, spec.noise, len(user))
    whole_stars_only = rng.random(spec.users) < 0.3
    half = np.where(whole_stars_only[user], np.rint(stars) * 2, np.rint(stars * 2))
    half_stars = np.clip(half, np.where(whole_stars_only[user], 2, 1), 10).astype(np.int64)
    return SyntheticData(
        user,
        movie,
        half_stars,
        _timestamps(rng, spec.users, user),
        movie_genres,
        (1930 + 88 * rng.beta(4, 1.5, spec.movies)).astype(np.int64),
    )


def _pick_genres(
    rng: np.random.Generator, movies: int, weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """1-3 distinct genres per movie, drawn by weight (Gumbel top-k, vectorized)."""
    counts = 1 + rng.binomial(2, 0.35, movies)
    keys = np.log(weights) + rng.gumbel(size=(movies, len(weights)))
    order = np.argsort(-keys, axis=1)
    chosen = np.zeros((movies, len(weights)), dtype=bool)
    for k in range(3):
        rows = np.flatnonzero(counts > k)
        chosen[rows, order[rows, k]] = True
    return chosen


def _ratings_per_user(rng: np.random.Generator, spec: SyntheticSpec) -> npt.NDArray[np.int64]:
    """Skewed activity summing exactly to ``spec.ratings``, each within [1, movies / 2]."""
    floor = min(MIN_RATINGS_PER_USER, spec.ratings // spec.users, spec.movies // 2) or 1
    cap = max(floor, spec.movies // 2)
    weights = rng.lognormal(0, 1.2, spec.users)
    extra = spec.ratings - floor * spec.users
    quota = np.full(spec.users, floor, dtype=np.int64)
    if extra > 0:
        quota += np.floor(extra * weights / weights.sum()).astype(np.int64)
    quota = np.minimum(quota, cap)
    shortfall = spec.ratings - int(quota.sum())
    while shortfall > 0:  # hand the remainder to users below the cap, heaviest first
        room = np.flatnonzero(quota < cap)
        room = room[np.argsort(-weights[room])][:shortfall]
        quota[room] += 1
        shortfall -= len(room)
    if shortfall < 0:
        drop = rng.choice(np.flatnonzero(quota > 1), -shortfall, replace=False)
        quota[drop] -= 1
    return quota


def _sample_pairs(
    rng: np.random.Generator,
    quota: npt.NDArray[np.int64],
    popularity: npt.NDArray[np.float64],
    user_factors: npt.NDArray[np.float64],
    movie_factors: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct (user, movie) pairs, ``quota[u]`` per user, by popularity and taste.

    Pairs are kept as sorted keys ``user * movies + movie``; each round draws only for the users
    still short, and merges just its new pairs (a linear merge of two sorted runs).
    """
    movies = len(popularity)
    keys = np.empty(0, dtype=np.int64)
    missing = quota.copy()
    cumulative = np.cumsum(popularity)
    for round_number in range(50):
        if missing.sum() == 0:
            break
        users = np.repeat(np.arange(len(quota)), missing * 3 + 2)
        if round_number < 3:  # popularity first; later rounds mix in uniform picks for the tail
            candidates = np.searchsorted(cumulative, rng.random(len(users)) * cumulative[-1])
        else:
            candidates = rng.integers(0, movies, len(users))
        candidates = np.minimum(candidates, movies - 1)
        taste = np.einsum("ij,ij->i", user_factors[users], movie_factors[candidates])
        keep = rng.random(len(users)) < 1 / (1 + np.exp(-taste))  # people rate what appeals
        new = np.unique(users[keep].astype(np.int64) * movies + candidates[keep])
        if len(keys):
            position = np.minimum(np.searchsorted(keys, new), len(keys) - 1)
            new = new[keys[position] != new]
        new = _trim_to_quota(rng, new, missing, movies)
        keys = np.sort(np.concatenate([keys, new]), kind="stable")
        missing -= np.bincount(new // movies, minlength=len(quota))
    return keys // movies, keys % movies


def _trim_to_quota(
    rng: np.random.Generator, keys: npt.NDArray[np.int64], quota: npt.NDArray[np.int64], movies: int
) -> npt.NDArray[np.int64]:
    """Keep a random ``quota[u]`` of each user's pairs (all of them when fewer)."""
    users = keys // movies
    order = np.lexsort((rng.random(len(keys)), users))
    users_sorted = users[order]
    first = np.searchsorted(users_sorted, users_sorted, side="left")
    rank = np.arange(len(keys)) - first
    return np.sort(keys[order[rank < quota[users_sorted]]])


def _timestamps(
    rng: np.random.Generator, users: int, user: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Each user is active from a random start for a log-normal span (days to years)."""
    start = rng.integers(START, END - 86_400, users)
    span = np.minimum(rng.lognormal(np.log(60 * 86_400), 1.5, users), END - start)
    return (start[user] + rng.random(len(user)) * span[user]).astype(np.int64)


def _unit_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _standardize(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    scale = float(values.std()) or 1.0
    standardized: npt.NDArray[np.float64] = (values - values.mean()) / scale
    return standardized


def write_dataset(spec: SyntheticSpec, out_dir: Path) -> int:
    """Write ratings, movies, tags and links CSV files; returns the number of ratings."""
    data = generate(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_ratings(out_dir / "ratings.csv", data)
    _write_movies(out_dir, spec, data)
    return len(data.user)


def _write_ratings(path: Path, data: SyntheticData) -> None:
    order = np.lexsort((data.movie, data.user))  # MovieLens files are sorted by user, then movie
    with path.open("w", newline="") as handle:
        handle.write("userId,movieId,rating,timestamp\n")
        for chunk in np.array_split(order, max(1, len(order) // 1_000_000)):
            columns = (
                (data.user[chunk] + 1).astype(str),
                (data.movie[chunk] + 1).astype(str),
                (data.half_stars[chunk] / 2).astype(str),
                data.timestamp[chunk].astype(str),
            )
            handle.write("\n".join(map(",".join, zip(*columns, strict=True))) + "\n")


def _write_movies(out_dir: Path, spec: SyntheticSpec, data: SyntheticData) -> None:
    rng = np.random.default_rng(spec.seed + 1)
    names = list(GENRES)
    counts = np.bincount(data.movie, minlength=spec.movies)
    with (
        (out_dir / "movies.csv").open("w", newline="") as movies_file,
        (out_dir / "links.csv").open("w", newline="") as links_file,
        (out_dir / "tags.csv").open("w", newline="") as tags_file,
    ):
        movies, links, tags = csv.writer(movies_file), csv.writer(links_file), csv.writer(tags_file)
        movies.writerow(["movieId", "title", "genres"])
        links.writerow(["movieId", "imdbId", "tmdbId"])
        tags.writerow(["userId", "movieId", "tag", "timestamp"])
        for index in range(spec.movies):
            movie_id = index + 1
            title = f"The {rng.choice(TITLE_ADJECTIVES)} {rng.choice(TITLE_NOUNS)} {movie_id}"
            genres = "|".join(
                n for n, on in zip(names, data.movie_genres[index], strict=True) if on
            )
            movies.writerow([movie_id, f"{title} ({data.movie_year[index]})", genres])
            links.writerow([movie_id, f"{9_000_000 + movie_id:07d}", 900_000 + movie_id])
            for word in rng.choice(TAG_WORDS, size=min(3, int(counts[index] // 50)), replace=False):
                tags.writerow([int(rng.integers(1, spec.users + 1)), movie_id, word, END])

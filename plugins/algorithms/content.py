"""``content``: TF-IDF (scikit-learn) on genres, tags, title and overview, optionally reduced by
truncated SVD. "Because you watched X" is cosine similarity between movies; a user's profile is
the sum of the vectors of what they rated, weighted by how much they liked each movie."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from plugins.base import FitOptions, IndexArray, RecommenderBase, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, MovieInfo, Ratings


@dataclass(frozen=True)
class ContentConfig:
    """Field weights scale each field's TF-IDF block before the rows are normalized."""

    genre_weight: float = 1.0
    tag_weight: float = 1.0
    title_weight: float = 0.3
    overview_weight: float = 1.0
    min_df: int = 2
    svd_components: int = 0
    profile: Literal["centered", "stars"] = "centered"

    def validate(self) -> None:
        """Reject settings that cannot work."""
        weights = (self.genre_weight, self.tag_weight, self.title_weight, self.overview_weight)
        if min(weights) < 0 or max(weights) == 0:
            raise ConfigError("field weights must be >= 0 and not all 0")
        if self.min_df < 1 or self.svd_components < 0:
            raise ConfigError("min_df must be >= 1 and svd_components >= 0")


def _fields(info: MovieInfo) -> tuple[str, str, str, str]:
    genres = " ".join(genre.lower().replace(" ", "_").replace("-", "_") for genre in info.genres)
    tags = " ".join(info.tags)
    return genres, tags, info.title, info.overview


class Content(RecommenderBase[ContentConfig]):
    """Content-based ranking and similar movies from movie metadata."""

    name = "content"
    version = "1"
    capabilities = frozenset({"rank", "similar", "fold_in"})
    config_class = ContentConfig

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        columns = list(
            zip(*(_fields(ratings.info(i)) for i in range(ratings.shape[1])), strict=True)
        )
        c = self.config
        weights = (c.genre_weight, c.tag_weight, c.title_weight, c.overview_weight)
        blocks = [
            weight * self._tfidf(list(texts), min_df=1 if field == 0 else c.min_df)
            for field, (texts, weight) in enumerate(zip(columns, weights, strict=True))
            if weight > 0
        ]
        vectors = sp.hstack(
            [b for b in blocks if b.shape[1]] or [sp.csr_matrix((len(columns[0]), 1))]
        )
        vectors = normalize(sp.csr_matrix(vectors, dtype=np.float32))
        if c.svd_components and min(vectors.shape) > c.svd_components:
            svd = TruncatedSVD(c.svd_components, random_state=options.seed)
            vectors = sp.csr_matrix(normalize(svd.fit_transform(vectors)).astype(np.float32))
        self.vectors: sp.csr_matrix = vectors
        self._derive()

    @staticmethod
    def _tfidf(texts: list[str], min_df: int) -> sp.csr_matrix:
        if not any(texts):
            return sp.csr_matrix((len(texts), 0))
        vectorizer = TfidfVectorizer(
            min_df=min_df,
            sublinear_tf=True,
            stop_words="english",
            token_pattern=r"(?u)\b\w[\w']+\b",  # noqa: S106 (a regular expression)
        )
        try:
            return sp.csr_matrix(vectorizer.fit_transform(texts))
        except ValueError:  # every term pruned by min_df: this field adds nothing
            return sp.csr_matrix((len(texts), 0))

    def _derive(self) -> None:
        self.has_content = np.diff(self.vectors.indptr) > 0

    def _user_extra(self, state: UserState) -> FloatArray | None:
        """The user's profile in the TF-IDF space (None when they rated nothing with content)."""
        if len(state.rated) == 0:
            return None
        weights = (
            state.stars - state.stars.mean()
            if self.config.profile == "centered"
            else (state.stars.copy())
        )
        if not np.any(weights):
            weights = np.ones_like(state.stars)
        profile = np.asarray(self.vectors[state.rated].T @ weights).ravel()
        norm = np.linalg.norm(profile)
        return (profile / norm).astype(np.float32) if norm > 0 else None

    def _score(self, state: UserState, items: IndexArray) -> FloatArray:
        if state.extra is None:
            return np.full(len(items), np.nan, np.float32)
        # One product over every movie, then a gather: picking the rows first copied the
        # whole matrix when ranking everything.
        scores = np.asarray(self.vectors @ state.extra, np.float32).ravel()
        return np.where(self.has_content[items], scores[items], np.float32(np.nan))

    def _similar_scores(self, item: int) -> FloatArray:
        if not self.has_content[item]:
            return np.full(self.data.shape[1], np.nan, np.float32)
        scores = np.asarray((self.vectors @ self.vectors[item].T).todense()).ravel()
        return np.where(self.has_content, scores, np.nan).astype(np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        v = self.vectors
        return {
            "indptr": v.indptr,
            "indices": v.indices,
            "values": v.data,
            "shape": np.array(v.shape),
        }

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        shape = tuple(int(n) for n in arrays["shape"])
        self.vectors = sp.csr_matrix(
            (arrays["values"], arrays["indices"], arrays["indptr"]), shape=shape
        )
        self._derive()

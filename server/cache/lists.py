"""Ranked lists as the cache holds them: a small header (the model version that produced the list,
the champion set it was served under, whether it carries reasons, and its source label), then
``int32`` movie ids and ``float32`` scores, then, when it carries them, each movie's reason."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

# Model version number, champion set (0 unless served as "auto"), flags, source label length.
HEADER = struct.Struct("<IIBB")
HAS_REASONS = 1
# Bytes per movie: id and score; with reasons also two references, a kind and two half-stars.
PLAIN_BYTES = 8
REASON_BYTES = 8 + 1 + 2


class Why(IntEnum):
    """Why a movie is on someone's list (``server.serving.explain``)."""

    SIMILAR_PEOPLE = 0  # people with their taste liked it
    BECAUSE = 1  # references: up to two of their rated movies it is most like, with their stars
    POPULAR_IN = 2  # reference: the id of a genre they like, in which it is popular
    POPULAR = 3
    TRENDING = 4
    NEW = 5  # nobody had rated it when the model was trained
    ALIKE = 6  # on a similar-movies list; references: that movie, and how many rated both


@dataclass(frozen=True, eq=False)
class Reasons:
    """Each movie's reason: its kind, two references (movie or genre ids, -1 for none) and the
    person's half-stars for referenced movies (0 for none)."""

    kinds: npt.NDArray[np.uint8]
    refs: npt.NDArray[np.int32]  # shape (n, 2)
    half_stars: npt.NDArray[np.uint8]  # shape (n, 2)

    def head(self, n: int) -> Reasons:
        """The reasons of the first ``n`` movies."""
        return Reasons(self.kinds[:n], self.refs[:n], self.half_stars[:n])


@dataclass(frozen=True, eq=False)
class CachedList:
    """A ranked list of movies (internal ids) as one model version produced it. Compared by
    identity: a web process reuses the one object while it holds the list (``Cache``)."""

    version: int
    source: str
    movies: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]
    generation: int = 0
    reasons: Reasons | None = None

    def __len__(self) -> int:
        return len(self.movies)

    def pairs(self, n: int | None = None) -> list[tuple[int, float]]:
        """The first ``n`` (default: all) ``(movie, score)`` as Python numbers, best first."""
        movies, scores = self.movies[:n].tolist(), self.scores[:n].tolist()
        return list(zip(movies, scores, strict=True))

    def head(self, n: int) -> CachedList:
        """The first ``n`` entries as a list of their own."""
        reasons = None if self.reasons is None else self.reasons.head(n)
        return CachedList(
            self.version, self.source, self.movies[:n], self.scores[:n], self.generation, reasons
        )

    def under(self, generation: int) -> CachedList:
        """The same list, stamped as served under champion set ``generation``."""
        return CachedList(
            self.version, self.source, self.movies, self.scores, generation, self.reasons
        )

    def explained(self, reasons: Reasons) -> CachedList:
        """The same list with each movie's reason."""
        return CachedList(
            self.version, self.source, self.movies, self.scores, self.generation, reasons
        )


def pack(entry: CachedList) -> bytes:
    """The compact bytes of a list."""
    source = entry.source.encode()[:255]
    reasons = entry.reasons
    parts = [
        HEADER.pack(entry.version, entry.generation, HAS_REASONS if reasons else 0, len(source)),
        source,
        np.asarray(entry.movies, "<i4").tobytes(),
        np.asarray(entry.scores, "<f4").tobytes(),
    ]
    if reasons is not None:
        parts += [
            np.asarray(reasons.refs, "<i4").tobytes(),
            np.asarray(reasons.kinds, "u1").tobytes(),
            np.asarray(reasons.half_stars, "u1").tobytes(),
        ]
    return b"".join(parts)


def unpack(raw: bytes | str | None) -> CachedList | None:
    """The list packed in ``raw``; None when there is none or it is malformed."""
    if not isinstance(raw, bytes) or len(raw) < HEADER.size:
        return None
    version, generation, flags, source_length = HEADER.unpack_from(raw)
    start = HEADER.size + source_length
    body = raw[start:]
    per_movie = PLAIN_BYTES + (REASON_BYTES if flags & HAS_REASONS else 0)
    if len(body) % per_movie:
        return None
    count = len(body) // per_movie
    movies = np.frombuffer(body, "<i4", count)
    scores = np.frombuffer(body, "<f4", count, offset=4 * count)
    reasons = None
    if flags & HAS_REASONS:
        refs = np.frombuffer(body, "<i4", 2 * count, offset=8 * count).reshape(count, 2)
        kinds = np.frombuffer(body, "u1", count, offset=16 * count)
        half_stars = np.frombuffer(body, "u1", 2 * count, offset=17 * count).reshape(count, 2)
        reasons = Reasons(kinds, refs, half_stars)
    source = raw[HEADER.size : start].decode(errors="replace")
    return CachedList(version, source, movies, scores, generation, reasons)

"""Ranked lists as the cache holds them: a small header (the model version that produced the list,
the champion set it was served under, and its source label), then ``int32`` movie ids and
``float32`` scores."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Model version number, champion set (0 unless served as "auto"), length of the source label.
HEADER = struct.Struct("<IIB")


@dataclass(frozen=True, eq=False)
class CachedList:
    """A ranked list of movies (internal ids) as one model version produced it. Compared by
    identity: a web process reuses the one object while it holds the list (``Cache``)."""

    version: int
    source: str
    movies: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]
    generation: int = 0

    def __len__(self) -> int:
        return len(self.movies)

    def pairs(self, n: int | None = None) -> list[tuple[int, float]]:
        """The first ``n`` (default: all) ``(movie, score)`` as Python numbers, best first."""
        movies, scores = self.movies[:n].tolist(), self.scores[:n].tolist()
        return list(zip(movies, scores, strict=True))

    def head(self, n: int) -> CachedList:
        """The first ``n`` entries as a list of their own."""
        return CachedList(
            self.version, self.source, self.movies[:n], self.scores[:n], self.generation
        )

    def under(self, generation: int) -> CachedList:
        """The same list, stamped as served under champion set ``generation``."""
        return CachedList(self.version, self.source, self.movies, self.scores, generation)


def pack(entry: CachedList) -> bytes:
    """The compact bytes of a list."""
    source = entry.source.encode()[:255]
    return (
        HEADER.pack(entry.version, entry.generation, len(source))
        + source
        + np.asarray(entry.movies, "<i4").tobytes()
        + np.asarray(entry.scores, "<f4").tobytes()
    )


def unpack(raw: bytes | str | None) -> CachedList | None:
    """The list packed in ``raw``; None when there is none or it is malformed."""
    if not isinstance(raw, bytes) or len(raw) < HEADER.size:
        return None
    version, generation, source_length = HEADER.unpack_from(raw)
    body = raw[HEADER.size + source_length :]
    if len(body) % 8:
        return None
    count = len(body) // 8
    movies = np.frombuffer(body, "<i4", count)
    scores = np.frombuffer(body, "<f4", count, offset=4 * count)
    source = raw[HEADER.size : HEADER.size + source_length].decode(errors="replace")
    return CachedList(version, source, movies, scores, generation)

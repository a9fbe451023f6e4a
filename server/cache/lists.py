"""Ranked lists as the cache holds them: a small header (the model version that produced the list,
the champion set it was served under, whether it carries reasons and is compressed, for a
person's list the newest of their changes it reflects (``server.cache.guarded``), and its source
label), then ``int32`` movie ids and ``float32`` scores, then, when it carries them, each movie's
reason.

The body is stored compressed: its columns byte-shuffled (every value's first byte, then every
second byte...) and deflated. Ids below 65,536 leave two zero bytes each, sorted scores share
their leading bytes and most reasons repeat, so the shuffled runs deflate to about half; the
cache holds one list per person, and this is most of Redis's memory. A read unpacks a value once
while the near cache holds it (``server.cache.store``)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

# Model version number, champion set (0 unless served as "auto"), flags, source label length;
# then, when STAMPED, the stamp (``CachedList.stamp``), then the source label.
HEADER = struct.Struct("<IIBB")
STAMP = struct.Struct("<Q")
HAS_REASONS = 1
COMPRESSED = 2  # lists written before compression are still read
STAMPED = 4
DROPPED = 8  # no list: a stamped marker that a person's list is gone (read as a miss)
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
    # A person's list: the newest of their changes it reflects (``RatedMovies.stamp``).
    stamp: int = 0

    def __len__(self) -> int:
        return len(self.movies)

    def pairs(self, n: int | None = None) -> list[tuple[int, float]]:
        """The first ``n`` (default: all) ``(movie, score)`` as Python numbers, best first."""
        movies, scores = self.movies[:n].tolist(), self.scores[:n].tolist()
        return list(zip(movies, scores, strict=True))

    def head(self, n: int) -> CachedList:
        """The first ``n`` entries as a list of their own."""
        reasons = None if self.reasons is None else self.reasons.head(n)
        return replace(self, movies=self.movies[:n], scores=self.scores[:n], reasons=reasons)

    def under(self, generation: int) -> CachedList:
        """The same list, marked as served under champion set ``generation``."""
        return replace(self, generation=generation)

    def explained(self, reasons: Reasons) -> CachedList:
        """The same list with each movie's reason."""
        return replace(self, reasons=reasons)

    def stamped(self, stamp: int) -> CachedList:
        """The same list, reflecting its person's data as of change ``stamp``."""
        return replace(self, stamp=stamp)


def pack(entry: CachedList) -> bytes:
    """The compact bytes of a list."""
    source = entry.source.encode()[:255]
    reasons = entry.reasons
    flags = COMPRESSED | (HAS_REASONS if reasons else 0) | (STAMPED if entry.stamp else 0)
    columns = [np.asarray(entry.movies, "<i4"), np.asarray(entry.scores, "<f4")]
    if reasons is not None:
        columns += [
            np.asarray(reasons.refs, "<i4"),
            np.asarray(reasons.kinds, "u1"),
            np.asarray(reasons.half_stars, "u1"),
        ]
    body = b"".join(_shuffled(column) for column in columns)
    header = HEADER.pack(entry.version, entry.generation, flags, len(source))
    stamp = STAMP.pack(entry.stamp) if entry.stamp else b""
    return header + stamp + source + zlib.compress(body, 1)


def pack_dropped(stamp: int) -> bytes:
    """The marker left where a person's list was dropped as of their change ``stamp``: no
    reader takes it for a list, and a writer with older data does not replace it."""
    return HEADER.pack(0, 0, STAMPED | DROPPED, 0) + STAMP.pack(stamp)


def _shuffled(column: npt.NDArray[np.generic]) -> bytes:
    """The column's bytes, grouped by their place in each value: first bytes, then seconds..."""
    return column.reshape(-1).view("u1").reshape(-1, column.itemsize).T.tobytes()


def _unshuffled(body: bytes, dtype: str, count: int, offset: int) -> npt.NDArray[Any]:
    """``count`` values of ``dtype`` from the shuffled bytes at ``offset`` of ``body``."""
    size = np.dtype(dtype).itemsize
    grouped = np.frombuffer(body, "u1", count * size, offset).reshape(size, count)
    return np.ascontiguousarray(grouped.T).view(dtype).reshape(count)


def unpack(raw: bytes | str | None) -> CachedList | None:
    """The list packed in ``raw``; None when there is none or it is malformed."""
    if not isinstance(raw, bytes) or len(raw) < HEADER.size:
        return None
    version, generation, flags, source_length = HEADER.unpack_from(raw)
    if flags & DROPPED:
        return None
    stamped = flags & STAMPED
    at = HEADER.size + (STAMP.size if stamped else 0)
    if len(raw) < at:
        return None
    stamp = STAMP.unpack_from(raw, HEADER.size)[0] if stamped else 0
    start = at + source_length
    body = raw[start:]
    if flags & COMPRESSED:
        try:
            body = zlib.decompress(body)
        except zlib.error:
            return None
    per_movie = PLAIN_BYTES + (REASON_BYTES if flags & HAS_REASONS else 0)
    if len(body) % per_movie:
        return None
    count = len(body) // per_movie
    read = _unshuffled if flags & COMPRESSED else _plain
    movies = read(body, "<i4", count, 0)
    scores = read(body, "<f4", count, 4 * count)
    reasons = None
    if flags & HAS_REASONS:
        refs = read(body, "<i4", 2 * count, 8 * count).reshape(count, 2)
        kinds = read(body, "u1", count, 16 * count)
        half_stars = read(body, "u1", 2 * count, 17 * count).reshape(count, 2)
        reasons = Reasons(kinds, refs, half_stars)
    source = raw[at:start].decode(errors="replace")
    return CachedList(version, source, movies, scores, generation, reasons, stamp)


def _plain(body: bytes, dtype: str, count: int, offset: int) -> npt.NDArray[Any]:
    """``count`` values of ``dtype`` at ``offset`` of an uncompressed ``body``."""
    return np.frombuffer(body, dtype, count, offset)

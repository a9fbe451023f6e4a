"""The movies no list may show now (``Withheld``): hidden ones, ones outside their availability
window (UTC Unix seconds; ``available_from`` included, ``available_until`` not), and deleted ones
that a trained model or a cached list still knows by their internal id.

Every list is filtered by it as it is read, so a change shows from the next read in every
process; the workers also leave these movies out of the lists they write. A process keeps the set
and reads it again from the database only when the catalogue's generation in Redis changed (every
change lists must follow raises it, after its commit: ``announce_change``), once it is older than
``MAX_AGE_SECONDS`` (a raise lost while Redis was down), or at most every ``OUTAGE_SECONDS`` while
Redis cannot be read. Windows open and close by the clock: the set is worked out again when the
clock passes the next start or end of a window, without any write.

The generation is under the near cache's prefixes (``server.cache.keys.NEAR_PREFIXES``): in a web
process, reading it costs a dictionary lookup until it changes; elsewhere one Redis GET.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from server.cache import keys
from server.cache.connection import CACHE_ERRORS
from server.cache.lists import CachedList, Reasons
from server.cache.store import Cache
from server.models import Movie

log = logging.getLogger(__name__)

# A process reads the set again after this long even if the generation did not change.
MAX_AGE_SECONDS = 60.0
# ... and at most this often while Redis cannot be read (no generation to follow).
OUTAGE_SECONDS = 1.0
# The last second a window may name (9999-12-31T23:59:59Z): every date shown as ISO 8601.
LATEST_SECOND = 253_402_300_799

Pairs = list[tuple[int, float]]
SessionOpener = Callable[[], AbstractContextManager[Session]]

_stamps = itertools.count(1)


def shown_at(
    hidden: bool, available_from: int | None, available_until: int | None, now: float
) -> bool:
    """Whether a movie with these settings may be in lists at ``now`` (Unix seconds)."""
    if hidden:
        return False
    if available_from is not None and now < available_from:
        return False
    return available_until is None or now < available_until


def shown_clause(now: int) -> ColumnElement[bool]:
    """``shown_at`` as SQL over ``movies``."""
    return and_(
        Movie.hidden.is_(False),
        or_(Movie.available_from.is_(None), Movie.available_from <= now),
        or_(Movie.available_until.is_(None), Movie.available_until > now),
    )


@dataclass(frozen=True)
class Restriction:
    """A movie that is hidden or has an availability window."""

    movie: int
    hidden: bool
    available_from: int | None
    available_until: int | None
    external_id: str = ""


@dataclass(frozen=True, eq=False)
class Withheld:
    """The movies no list may show at one moment: internal ids (``movies``), and the external
    ids of deleted movies (``gone``: their cached similar lists are no longer answered).
    ``stamp`` changes whenever the set or the catalogue changed (a new title included), so what
    was derived from an older one (a filtered list, a rendered body) is told apart."""

    movies: frozenset[int]
    gone: frozenset[str]
    generation: bytes | None
    stamp: int
    # Of ``movies``, those only waiting for their window to open (they come back by the clock).
    coming: frozenset[int] = frozenset()
    # The external ids of ``movies`` that still exist: lists of their own (similar) are withheld.
    named: frozenset[str] = frozenset()
    array: npt.NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "array", np.array(sorted(self.movies), np.int64))

    def lasting(self) -> Withheld:
        """The movies withheld until something changes them (hidden, window over, deleted):
        what the workers leave out of the lists they write. A movie waiting for its window
        stays in them, so it is in lists the moment the window opens."""
        if not self.coming:
            return self
        return Withheld(
            self.movies - self.coming, self.gone, self.generation, self.stamp, named=self.named
        )

    def keep(self, pairs: Pairs) -> Pairs:
        """The pairs of movies not withheld, in order."""
        if not self.movies:
            return pairs
        withheld = self.movies
        return [(movie, score) for movie, score in pairs if movie not in withheld]

    def among(self, movies: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The withheld movies that are among ``movies``, sorted."""
        if not self.movies:
            return self.array
        return np.intersect1d(self.array, movies)

    def keep_list(self, entry: CachedList) -> CachedList:
        """``entry`` without the withheld movies (and their reasons)."""
        if not self.movies:
            return entry
        mask = ~np.isin(entry.movies, self.array)
        reasons = entry.reasons
        if reasons is not None:
            reasons = Reasons(reasons.kinds[mask], reasons.refs[mask], reasons.half_stars[mask])
        return CachedList(
            entry.version,
            entry.source,
            entry.movies[mask],
            entry.scores[mask],
            entry.generation,
            reasons,
        )


NOTHING_WITHHELD = Withheld(frozenset(), frozenset(), None, 0)


@dataclass(frozen=True)
class _Read:
    """What the database and Redis said at one time (``read_at``, monotonic)."""

    restrictions: tuple[Restriction, ...]
    gone_ids: frozenset[int]
    gone: frozenset[str]
    generation: bytes | None
    readable: bool
    read_at: float


@dataclass(frozen=True)
class _Current:
    """The set worked out at a time, and the span of the clock it holds for."""

    withheld: Withheld
    start: float
    end: float


class Catalogue:
    """One process's view of what lists may show, for one cache (``withheld_movies``)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.monotonic = monotonic
        self._read: _Read | None = None
        self._current = _Current(NOTHING_WITHHELD, math.inf, -math.inf)  # holds for no time
        self._lock = threading.Lock()

    def withheld(self, cache: Cache, open_session: SessionOpener) -> Withheld:
        """The movies withheld now: read again when the generation changed or the read is
        old, worked out again when the clock left the span the set holds for."""
        generation, readable = _generation(cache)
        if self._due(generation, readable):
            with self._lock:
                if self._due(generation, readable):
                    self._read = _read(cache, open_session, generation, readable, self.monotonic())
                    self._current = _Current(self._current.withheld, math.inf, -math.inf)
        now = self.clock()
        current = self._current
        if not current.start <= now < current.end:
            with self._lock:
                current = self._evaluate(now)
        return current.withheld

    def _due(self, generation: bytes | None, readable: bool) -> bool:
        read = self._read
        if read is None:
            return True
        age = self.monotonic() - read.read_at
        if not readable:
            return age >= OUTAGE_SECONDS
        return generation != read.generation or not read.readable or age >= MAX_AGE_SECONDS

    def _evaluate(self, now: float) -> _Current:
        """The set at ``now`` and when it next changes (under the lock)."""
        read = self._read
        assert read is not None
        movies = read.gone_ids | {
            r.movie
            for r in read.restrictions
            if not shown_at(r.hidden, r.available_from, r.available_until, now)
        }
        coming = frozenset(
            r.movie
            for r in read.restrictions
            if r.movie in movies
            and r.movie not in read.gone_ids
            and shown_at(r.hidden, None, r.available_until, now)  # only the start is ahead
        )
        bounds = [
            bound
            for r in read.restrictions
            if not r.hidden
            for bound in (r.available_from, r.available_until)
            if bound is not None
        ]
        start = max((b for b in bounds if b <= now), default=-math.inf)
        end = min((b for b in bounds if b > now), default=math.inf)
        held = self._current.withheld
        same = (
            held.movies == movies and held.gone == read.gone and held.generation == read.generation
        )
        if not same:
            named = frozenset(r.external_id for r in read.restrictions if r.movie in movies)
            held = Withheld(
                frozenset(movies), read.gone, read.generation, next(_stamps), coming, named
            )
        self._current = _Current(held, start, end)
        return self._current


def _generation(cache: Cache) -> tuple[bytes | None, bool]:
    """The catalogue's generation (None if never raised), and whether Redis answered."""
    key = keys.CATALOGUE_GENERATION
    try:
        raw = cache.near.mget([key])[0] if cache.near is not None else cache.client.get(key)
    except CACHE_ERRORS:
        return None, False
    if isinstance(raw, str):
        raw = raw.encode()
    return (raw if isinstance(raw, bytes) else None), True


def _read(
    cache: Cache, open_session: SessionOpener, generation: bytes | None, readable: bool, at: float
) -> _Read:
    """The restricted and deleted movies as they are now. A deleted id counts as gone only while
    no movie has it (SQLite may give a new movie the id of a deleted one), a deleted external id
    only while no movie has that."""
    deleted: list[tuple[int, str]] = []
    if readable:
        try:
            members = cache.client.smembers(keys.CATALOGUE_DELETED)
        except CACHE_ERRORS:
            members = set()
        deleted = [_deleted(member) for member in members]
    with open_session() as session:
        restrictions = tuple(
            Restriction(movie, bool(hidden), start, end, external_id)
            for movie, hidden, start, end, external_id in session.execute(
                select(
                    Movie.id,
                    Movie.hidden,
                    Movie.available_from,
                    Movie.available_until,
                    Movie.external_id,
                ).where(
                    or_(
                        Movie.hidden.is_(True),
                        Movie.available_from.is_not(None),
                        Movie.available_until.is_not(None),
                    )
                )
            )
        )
        ids, external = [movie for movie, _ in deleted], [ext for _, ext in deleted]
        existing_ids: set[int] = set()
        existing_external: set[str] = set()
        if deleted:
            for movie, ext in session.execute(
                select(Movie.id, Movie.external_id).where(
                    or_(Movie.id.in_(ids), Movie.external_id.in_(external))
                )
            ):
                existing_ids.add(movie)
                existing_external.add(ext)
    return _Read(
        restrictions,
        frozenset(ids) - existing_ids,
        frozenset(external) - existing_external,
        generation,
        readable,
        at,
    )


def _deleted(member: bytes | str) -> tuple[int, str]:
    """A member of the deleted set: ``<internal id>:<external id>``."""
    text = member.decode() if isinstance(member, bytes) else member
    movie, _, external = text.partition(":")
    return int(movie), external


_catalogues: weakref.WeakKeyDictionary[Cache, Catalogue] = weakref.WeakKeyDictionary()
_catalogues_lock = threading.Lock()


def catalogue_of(cache: Cache) -> Catalogue:
    """The process's ``Catalogue`` of ``cache`` (one per serving context)."""
    found = _catalogues.get(cache)
    if found is None:
        with _catalogues_lock:
            found = _catalogues.setdefault(cache, Catalogue())
    return found


def withheld_movies(cache: Cache, open_session: SessionOpener) -> Withheld:
    """The movies no list may show now (``open_session`` gives a session if the set must be
    read again)."""
    return catalogue_of(cache).withheld(cache, open_session)


def in_session(session: Session) -> SessionOpener:
    """``session`` as a ``SessionOpener`` (the caller's transaction, left open)."""
    return lambda: nullcontext(session)


def announce_change(cache: Cache, deleted: Iterable[tuple[int, str]] = ()) -> bool:
    """Tell every process that lists must follow a change of the catalogue (after its commit:
    a process that reads the database on seeing it must find the change), recording the
    ``deleted`` movies (internal and external id). False if Redis is down: processes then see
    the change within ``MAX_AGE_SECONDS``."""
    members = [f"{movie}:{external}" for movie, external in deleted]
    try:
        pipe = cache.client.pipeline(transaction=True)
        if members:
            pipe.sadd(keys.CATALOGUE_DELETED, *members)
        pipe.incr(keys.CATALOGUE_GENERATION)
        pipe.execute()
    except CACHE_ERRORS as error:
        log.warning("could not announce a catalogue change: %s", type(error).__name__)
        return False
    if cache.near is not None:
        cache.near.invalidate([keys.CATALOGUE_GENERATION])  # this process sees it at once
    return True

"""The read path of recommendations: Redis → the model held in this process → the fallback chain.

Every answer is a ``RankedAnswer`` naming where it came from (``source``: the algorithm, a blend,
or ``fallback:...``), the model version, and whether it came from the cache.

Request-time rules (``ListRules``: movies to leave out, genres, years, a least number of ratings)
apply to the list served, cached or not, by one function (``_filtered``). A page is cut from the
filtered list at an offset; when the cached list holds too few candidates for a full page, the
list is read deeper from the model, the cached movies first, so pages of the same list never
repeat a movie. A ``cursor`` pins the list: it carries the next page's offset and a stamp of the
list and rules it was cut from, and the next read answers ``409 list_changed`` if the list changed
since (a new model version, or new ratings folded in) rather than a page that could repeat or skip
movies.

Movies no list may show now (hidden, outside their availability window, deleted:
``server.serving.catalogue``) are left out of every list as it is read, by the same filter, and
``withheld_now`` / ``shown_only`` give other read paths the same set.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy.orm import Session

from server.cache.connection import CACHE_ERRORS
from server.cache.lists import CachedList
from server.errors import Conflict, ValidationError
from server.models import Movie, User
from server.services import champions
from server.services.algorithms import require_algorithm
from server.services.lookup import not_found
from server.services.model_versions import active_version
from server.services.movies import get_movie
from server.services.popular import popular_movies
from server.services.ratings import rated_by
from server.services.users import get_user
from server.serving.catalogue import Withheld, withheld_movies
from server.serving.context import ServingContext
from server.serving.explain import explain, explain_popular
from server.serving.lists import compute_user_list, served_version, similar_list
from server.serving.movie_directory import ROW_LIFETIME_SECONDS, MovieRow
from server.serving.policy import CONTENT, RatedMovies, ranked_list, segment_of, user_state

# A page the cached list cannot fill reads this many candidates first (or four times the page's
# end); four times as many again while the page is not full, up to ``MAX_CANDIDATES``. Small
# first: ranking, re-ranking and explaining cost in proportion to the depth read.
GENRE_CANDIDATES = 500
MAX_CANDIDATES = 30_000
# Lists read deeper than the cache, held per process (``_DeepLists``) at most this many.
DEEP_LISTS = 1000
# A cursor: the next page's offset and the stamp of the list it pages (8 hex digits).
CURSOR = re.compile(r"^([0-9]{1,9})\.([0-9a-f]{8})$")

Pairs = list[tuple[int, float]]


@dataclass(frozen=True)
class ListRules:
    """Rules a request applies to a ranked list: movies to leave out (external ids), genres (a
    movie of any of them is kept), the years (a movie of no known year is left out when either
    bound is given) and the least number of ratings a movie has."""

    exclude: frozenset[str] = frozenset()
    genres: frozenset[str] = frozenset()
    year_min: int | None = None
    year_max: int | None = None
    min_rating_count: int = 0

    @property
    def active(self) -> bool:
        """Whether any rule leaves a movie out."""
        return bool(
            self.exclude
            or self.genres
            or self.year_min is not None
            or self.year_max is not None
            or self.min_rating_count > 0
        )

    def admits(self, row: MovieRow, rating_count: int) -> bool:
        """Whether the movie of ``row``, rated ``rating_count`` times, keeps to every rule."""
        if row.external_id in self.exclude:
            return False
        if self.genres and self.genres.isdisjoint(row.genres):
            return False
        if self.year_min is not None or self.year_max is not None:
            if row.year is None:
                return False
            if self.year_min is not None and row.year < self.year_min:
                return False
            if self.year_max is not None and row.year > self.year_max:
                return False
        return rating_count >= self.min_rating_count

    def key(self) -> str:
        """The rules as canonical text (part of a cursor's stamp)."""
        return "|".join(
            [
                ",".join(sorted(self.exclude)),
                ",".join(sorted(self.genres)),
                str(self.year_min),
                str(self.year_max),
                str(self.min_rating_count),
            ]
        )


def list_rules(
    context: ServingContext,
    exclude: Iterable[str] = (),
    genres: Iterable[str] = (),
    year_min: int | None = None,
    year_max: int | None = None,
    min_rating_count: int = 0,
) -> ListRules:
    """The rules of a request, each genre as the catalogue writes it (``NotFound`` naming the
    ``genres`` parameter for an unknown one). ``year_min`` above ``year_max`` admits nothing."""
    return ListRules(
        frozenset(exclude),
        frozenset(context.movies.known_genre(name, "genres") for name in genres),
        year_min,
        year_max,
        min_rating_count,
    )


@dataclass(frozen=True)
class Paging:
    """Where a page starts in its filtered list, and the cursor of the next page (None when the
    list has no more)."""

    offset: int
    next_cursor: str | None


@dataclass(frozen=True)
class RankedAnswer:
    """A ranked list of (internal movie id, score) and where it came from; ``entry`` is the
    list it was cut from, with each movie's reason, if any; ``page`` where the page is in a
    paged list (None for lists that are not paged)."""

    items: list[tuple[int, float]]
    source: str
    model_version: int | None
    cached: bool
    entry: CachedList | None = None
    page: Paging | None = field(default=None)


@dataclass(frozen=True, eq=False)
class _Deep:
    """A list read deeper than the cached list ``prefix``: the model's ``entry`` (with the
    reasons), the movies in served order (``prefix``'s first), the depth read and whether that
    was all the model had."""

    prefix: CachedList
    entry: CachedList
    pairs: Pairs
    depth: int
    complete: bool


class _DeepLists:
    """The lists this process read deeper than the cache, by list and the cached list they
    extend: while the cache holds the same list object (``Cache`` unpacks a held value once),
    the next filtered page of it costs no model work. A changed cached list is a new object, so
    its deeper list is read anew."""

    def __init__(self, max_entries: int = DEEP_LISTS) -> None:
        self.max_entries = max_entries
        self._lists: dict[tuple[str, ...], _Deep] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], prefix: CachedList) -> _Deep | None:
        """The deeper list of ``key`` if it extends this very ``prefix``."""
        known = self._lists.get(key)
        return known if known is not None and known.prefix is prefix else None

    def put(self, key: tuple[str, ...], deep: _Deep) -> None:
        """Hold ``deep`` as ``key``'s (dropping the oldest held when full)."""
        with self._lock:
            if key not in self._lists and len(self._lists) >= self.max_entries:
                self._lists.pop(next(iter(self._lists)))
            self._lists[key] = deep


_deep_lists = _DeepLists()


class _FilteredLists:
    """What the rules of a request keep of a list this process holds (a cached list, or one read
    deeper), by the list object and the rules: a busy list is read with the same rules again and
    again, and filtering hundreds of candidates cost more than the rest of a cached read. Kept
    for ``ROW_LIFETIME_SECONDS`` at most, as the rows and counts the filter read."""

    def __init__(self, max_entries: int = 4 * DEEP_LISTS) -> None:
        self.max_entries = max_entries
        self._kept: dict[bytes, tuple[object, float, Pairs]] = {}
        self._lock = threading.Lock()

    def kept(
        self, context: ServingContext, held: object, pairs: Callable[[], Pairs], asked: _Request
    ) -> Pairs:
        """``_filtered`` of ``pairs()``, the list of ``held``, by ``asked``'s rules."""
        key = asked.key + b"|" + str(id(held)).encode()
        known = self._kept.get(key)
        now = time.monotonic()
        if known is not None and known[0] is held and now - known[1] < ROW_LIFETIME_SECONDS:
            return known[2]
        kept = _filtered(context, pairs(), asked)
        with self._lock:
            if key not in self._kept and len(self._kept) >= self.max_entries:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (held, now, kept)
        return kept


_filtered_lists = _FilteredLists()


class _AsOf:
    """Each cached list this process holds as of a withheld set: one object per list and set
    (sharing the list's arrays). What was derived from a held list by its identity (its filtered
    movies, its deeper read, its rendered body: ``server.cache.rendered``) is then derived anew
    once a movie was hidden, shown, edited or deleted, though the cached list did not change.
    Held as long as the list is (weakly: no bound of its own to thrash)."""

    def __init__(self) -> None:
        self._lists: weakref.WeakKeyDictionary[CachedList, tuple[int, CachedList]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self, hit: CachedList, withheld: Withheld) -> CachedList:
        """``hit`` as of ``withheld``: the same object for the same list and set."""
        known = self._lists.get(hit)
        if known is not None and known[0] == withheld.stamp:
            return known[1]
        current = replace(hit)
        with self._lock:
            self._lists[hit] = (withheld.stamp, current)
        return current


_as_of = _AsOf().get


def withheld_now(context: ServingContext) -> Withheld:
    """The movies no list may show now (``server.serving.catalogue``); after a change of the
    catalogue, the movie directory reads its rows again (a title edited, a movie deleted)."""
    withheld = withheld_movies(context.cache, context.database.transaction)
    context.movies.follow(withheld.generation)
    return withheld


def shown_only(context: ServingContext, items: Pairs) -> Pairs:
    """The movies of ``items`` that lists may show now, in order: for read paths of their own
    (a visitor's list), the filter every list here applies."""
    return withheld_now(context).keep(items)


@dataclass(frozen=True)
class _Request:
    """What a paged read asks for: its rules, the page (``start``, ``n``), the stamp a cursor
    pinned (None without a cursor), the text the list's stamp is keyed by, and the movies no
    list may show at the time of the read."""

    rules: ListRules
    start: int
    n: int
    pinned: int | None
    key: bytes
    withheld: Withheld

    @property
    def wanted(self) -> int:
        """Filtered movies needed to fill the page."""
        return self.start + self.n


def _request(
    withheld: Withheld,
    name: str,
    rules: ListRules | None,
    genre: str | None,
    n: int,
    offset: int,
    cursor: str | None,
    exclude_rated: bool = True,
) -> _Request:
    """The read's request; a cursor takes the place of ``offset`` (``invalid_cursor`` when it
    is not one)."""
    rules = rules or ListRules()
    if genre is not None:
        rules = ListRules(
            rules.exclude,
            rules.genres | {genre},
            rules.year_min,
            rules.year_max,
            rules.min_rating_count,
        )
    pinned = None
    if cursor is not None:
        match = CURSOR.match(cursor)
        if match is None:
            raise ValidationError(
                "Not a cursor of this API.", code="invalid_cursor", field="cursor"
            )
        offset, pinned = int(match[1]), int(match[2], 16)
    key = f"{name}|{exclude_rated}|{rules.key()}".encode()
    return _Request(rules, offset, n, pinned, key, withheld)


def recommendations(
    context: ServingContext,
    user_external_id: str,
    n: int,
    algorithm: str | None = None,
    genre: str | None = None,
    exclude_rated: bool = True,
    rules: ListRules | None = None,
    offset: int = 0,
    cursor: str | None = None,
) -> RankedAnswer:
    """A page of ``n`` of a user's list, optionally within a genre (``NotFound`` for an unknown
    one) and by ``rules``, from ``offset`` or a ``cursor`` (``Conflict`` ``list_changed`` when
    the list changed since the cursor was given): from the cache when it holds a current list
    deep enough for the page (no database work at all), else computed in one transaction. The
    algorithm ``auto`` (the default) serves each person by their segment's champion."""
    name = algorithm or context.settings.default_algorithm
    if name != champions.AUTO:
        require_algorithm(context.registry, name, "rank")
    genre = None if genre is None else context.movies.known_genre(genre)
    asked = _request(withheld_now(context), name, rules, genre, n, offset, cursor, exclude_rated)
    cacheable = exclude_rated and n <= context.cache.list_length
    hit = None
    if cacheable:
        _, hit = context.cache.user_list(name, user_external_id)
        if hit is not None:
            hit = _as_of(hit, asked.withheld)
            answer = _from_cache(context, hit, ("recs", name, user_external_id), asked)
            if answer is not None:
                return answer
        context.cache.reads.count(hit=False)
    with context.database.transaction() as session:
        return _computed_recommendations(
            context, session, name, user_external_id, asked, exclude_rated, cacheable, hit
        )


def _computed_recommendations(
    context: ServingContext,
    session: Session,
    name: str,
    user_external_id: str,
    asked: _Request,
    exclude_rated: bool,
    cacheable: bool,
    prefix: CachedList | None,
) -> RankedAnswer:
    """The page computed from the model, deeper than ``prefix`` (the current cached list, too
    short for the page) if there is one, else stored in the cache as the user's list."""
    user = get_user(session, user_external_id)
    rated = rated_by(session, user.id, context.settings.feedback_weight_map, stamped=cacheable)
    ranker, generation = _ranker(context, session, name, rated.evidence)
    version = active_version(session, ranker) if ranker in context.registry.names() else None
    # Someone who has rated nothing yet but picked genres gets popular movies of those genres.
    picked_only = rated.evidence == 0 and bool(user.favorite_genres)
    if version is not None and not picked_only:
        content = active_version(session, CONTENT)
        length = context.cache.list_length
        head = prefix
        if head is None:  # the list as the cache keeps it (and as precompute writes it)
            head = compute_user_list(
                context, version, content, user.id, rated, length, exclude_rated
            )
            if head is not None:
                context.cache.publish_active_version(ranker, version.number)
                if name == champions.AUTO:
                    context.cache.publish_active_version(name, generation)
                if cacheable:
                    stamped = head.under(generation)
                    _store_quietly(context.cache.store_user_lists, name, user_external_id, stamped)
                complete = len(head) < length
                alone = _Deep(head, head, [], length, complete)
                answer = _deeper_answer(context, alone, head.source, asked)
                if answer is not None:
                    return answer
        depth = _first(asked)
        while head is not None:
            # Deeper than the cached list, which stays first: re-ranking a longer list may order
            # its head differently, and the pages already read were cut from the cached one.
            entry = compute_user_list(
                context, version, content, user.id, rated, depth, exclude_rated
            )
            if entry is None:
                break
            complete = len(entry) < depth or depth >= MAX_CANDIDATES
            deep = _deeper(head, entry, depth, complete)
            if prefix is not None:
                _deep_lists.put(("recs", name, user_external_id), deep)
            answer = _deeper_answer(context, deep, entry.source, asked)
            if answer is not None:
                return answer
            depth = min(depth * 4, MAX_CANDIDATES)
    return _fallback(context, session, user, rated, asked)


def _from_cache(
    context: ServingContext, hit: CachedList, key: tuple[str, str, str], asked: _Request
) -> RankedAnswer | None:
    """The page from the cached list ``hit`` (or the deeper copy this process holds of it,
    ``key``), counted as a cache hit; None when neither holds enough for the page."""
    answer = _cached_answer(context, hit, asked) or _held_deeper(context, key, hit, asked)
    if answer is not None:
        context.cache.reads.count(hit=True)
    return answer


def _ranker(
    context: ServingContext, session: Session, name: str, rating_count: int
) -> tuple[str, int]:
    """The algorithm that serves this person, and the champion set it was chosen by (0 when
    ``name`` is an algorithm, or no set was chosen yet)."""
    if name != champions.AUTO:
        return name, 0
    chosen = champions.current(session)
    segment = segment_of(rating_count, context.settings.cold_start_ratings)
    return champions.champion_of(chosen, segment), 0 if chosen is None else chosen.id


def _fallback(
    context: ServingContext,
    session: Session,
    user: User,
    rated: RatedMovies,
    asked: _Request,
) -> RankedAnswer:
    """The fallback chain: each configured algorithm that has an active model and the user's
    ratings to fold in, then the live popularity list (narrowed by favourite genres), which
    always answers."""
    for step in context.settings.fallback_chain:
        version = None if step == "popularity" else active_version(session, step)
        served = served_version(context, version)
        if (
            version is None
            or served is None
            or rated.evidence == 0
            or "rank" not in served.model.capabilities
        ):
            continue
        state = user_state(served.model, user.id, rated)
        entry = ranked_list(served, state, max(_first(asked), asked.wanted), True, rated.excluded)
        entry = explain(entry, rated, context.evidence.of(version, served.model), served.model)
        kept = _filtered(context, entry.pairs(), asked)
        if kept:
            page = _paged(kept, _stamp(context, entry.movies, asked), asked, complete=True)
            return RankedAnswer(
                kept[asked.start : asked.wanted],
                f"fallback:{step}",
                served.version,
                False,
                entry,
                page,
            )
    genres = sorted(asked.rules.genres) or [g.name for g in user.favorite_genres]
    seen = set(rated.seen.tolist())
    return _popular_answer(context, session, genres, seen, asked)


def _popular_answer(
    context: ServingContext,
    session: Session,
    genres: list[str],
    left_out: set[int],
    asked: _Request,
) -> RankedAnswer:
    """The page of the live popular list (of any of ``genres``, less ``left_out``) as an
    answer: each movie ``popular_in`` the first of ``genres`` it belongs to (the ones asked
    for, or the person's favourites), else ``popular``."""
    depth = asked.wanted + 1 if not asked.rules.active else _first(asked)
    # At least the cached length: the stamp is of that head, the same for every page.
    depth = max(depth, context.cache.list_length)
    pool, _ = popular_movies(context.cache, session, depth + len(left_out), genres, None)
    pool = [(movie, score) for movie, score in pool if movie not in left_out]
    kept = _filtered(context, pool, asked)
    head = np.array([movie for movie, _ in pool], np.int32)
    page = _paged(kept, _stamp(context, head, asked), asked, complete=True)
    items = kept[asked.start : asked.wanted]
    movies = [movie for movie, _ in items]
    rows = context.movies.rows(movies)
    ids = context.movies.genre_ids()
    picked = [
        next(
            (ids.get(name, -1) for name in genres if movie in rows and name in rows[movie].genres),
            -1,
        )
        for movie in movies
    ]
    entry = CachedList(
        0,
        "fallback:popularity",
        np.array(movies, np.int32),
        np.array([score for _, score in items], np.float32),
    )
    return RankedAnswer(items, entry.source, None, False, explain_popular(entry, picked), page)


def similar_movies(
    context: ServingContext,
    movie_external_id: str,
    n: int,
    algorithm: str | None = None,
    rules: ListRules | None = None,
    offset: int = 0,
    cursor: str | None = None,
) -> RankedAnswer:
    """A page of ``n`` of the movies most like one movie, by ``rules``, from ``offset`` or a
    ``cursor`` (as ``recommendations``); content-based for a movie the model has not seen."""
    name = algorithm or context.settings.similar_algorithm
    require_algorithm(context.registry, name, "similar")
    asked = _request(withheld_now(context), name, rules, None, n, offset, cursor)
    withheld = asked.withheld
    # Deleted (its cached lists outlive it), hidden or unavailable: no list of its own either.
    if movie_external_id in withheld.gone or movie_external_id in withheld.named:
        raise not_found(Movie, movie_external_id)
    hit = None
    if n <= context.cache.list_length:
        _, hit = context.cache.similar_list(name, movie_external_id)
        if hit is not None and len(hit) > 0:
            hit = _as_of(hit, asked.withheld)
            answer = _from_cache(context, hit, ("similar", name, movie_external_id), asked)
            if answer is not None:
                return answer
        else:
            hit = None
        context.cache.reads.count(hit=False)
    with context.database.transaction() as session:
        return _computed_similar(context, session, name, movie_external_id, asked, hit)


def _computed_similar(
    context: ServingContext,
    session: Session,
    name: str,
    movie_external_id: str,
    asked: _Request,
    prefix: CachedList | None,
) -> RankedAnswer:
    movie = get_movie(session, movie_external_id)
    length = context.cache.list_length
    for step, source in ((name, name), (CONTENT, f"fallback:{CONTENT}")):
        if step not in context.registry.names():  # content may be outside the allow-list
            continue
        version = active_version(session, step)
        if version is None or "similar" not in context.registry.get(step).capabilities:
            continue
        model = context.models.model(version)
        evidence = context.evidence.of(version, model)
        head = prefix if step == name else None  # the cached list is this step's
        if head is None:  # the list as the cache keeps it
            head = similar_list(model, version.number, movie.id, length, evidence)
            if len(head) == 0:
                continue
            if step == name:
                context.cache.publish_active_version(name, version.number)
                _store_quietly(context.cache.store_similar_lists, name, movie_external_id, head)
            alone = _Deep(head, head, [], length, len(head) < length)
            answer = _deeper_answer(context, alone, source, asked)
            if answer is not None:
                return answer
        depth = _first(asked)
        while True:
            entry = similar_list(model, version.number, movie.id, depth, evidence)
            complete = len(entry) < depth or depth >= MAX_CANDIDATES
            deep = _deeper(head, entry, depth, complete)
            if prefix is not None and step == name:
                _deep_lists.put(("similar", name, movie_external_id), deep)
            answer = _deeper_answer(context, deep, source, asked)
            if answer is not None:
                return answer
            depth = min(depth * 4, MAX_CANDIDATES)
    genres = sorted(asked.rules.genres) or [genre.name for genre in movie.genres]
    return _popular_answer(context, session, genres, {movie.id}, asked)


def _first(asked: _Request) -> int:
    """How deep the model's list is read first for a page the cache cannot fill."""
    return max(GENRE_CANDIDATES, 4 * asked.wanted)


def _filtered(context: ServingContext, items: Pairs, asked: _Request) -> Pairs:
    """The movies of ``items`` that lists may show now and that keep to ``asked``'s rules, in
    order: the one filter of every list (recommendations, similar movies, their fallbacks).
    Reads only rows and counts the movie directory holds once a list's movies were read."""
    items = asked.withheld.keep(items)
    rules = asked.rules
    if not rules.active:
        return items
    movies = [movie for movie, _ in items]
    rows = context.movies.rows(movies)
    counts = context.movies.rating_counts(movies) if rules.min_rating_count > 0 else {}
    admits = rules.admits
    return [
        (movie, score)
        for movie, score in items
        if (row := rows.get(movie)) is not None and admits(row, counts.get(movie, 0))
    ]


def _stamp(context: ServingContext, movies: np.ndarray, asked: _Request) -> int:
    """The stamp of a list as cached (its first ``list_length`` movies), the algorithm, the
    rules and which of its movies are withheld now: a cursor carries it, and the list a cursor
    pages has not changed while it matches."""
    head = np.ascontiguousarray(movies[: context.cache.list_length], "<i4")
    stamp = zlib.crc32(head.tobytes(), zlib.crc32(asked.key))
    withheld = asked.withheld.among(head)
    if len(withheld) == 0:
        return stamp
    return zlib.crc32(np.ascontiguousarray(withheld, "<i4").tobytes(), stamp)


def _paged(kept: Pairs, stamp: int, asked: _Request, complete: bool) -> Paging:
    """The page's place, after checking a cursor's stamp (``list_changed``): the next cursor
    when ``kept`` (the filtered list) holds more, or may (not ``complete``) after a full page."""
    if asked.pinned is not None and asked.pinned != stamp:
        raise Conflict(
            "The list changed since this cursor was given (a new model version, or new ratings);"
            " start again from the first page, without a cursor.",
            code="list_changed",
            field="cursor",
        )
    more = len(kept) > asked.wanted or (not complete and len(kept) >= asked.wanted)
    return Paging(asked.start, f"{asked.wanted}.{stamp:08x}" if more else None)


def _cached_answer(
    context: ServingContext, hit: CachedList, asked: _Request
) -> RankedAnswer | None:
    """The page cut from a cached list; None when the list is too short for it (the list is
    cut at ``list_length`` and the page needs more movies than the rules keep of it)."""
    complete = len(hit) < context.cache.list_length
    if asked.rules.active or asked.withheld.movies:
        kept = _filtered_lists.kept(context, hit, hit.pairs, asked)
    else:
        kept = hit.pairs(asked.wanted + 1)  # one more: is there a next page?
    if len(kept) < asked.wanted and not complete:
        return None
    page = _paged(kept, _stamp(context, hit.movies, asked), asked, complete)
    return RankedAnswer(kept[asked.start : asked.wanted], hit.source, hit.version, True, hit, page)


def _deeper(prefix: CachedList, entry: CachedList, depth: int, complete: bool) -> _Deep:
    """``entry`` (the model's list read ``depth`` deep) after the cached ``prefix``: the cached
    movies first, in their order, so the pages cut from the cache and the ones read deeper do not
    repeat a movie."""
    cached = prefix.pairs()
    known = {movie for movie, _ in cached}
    pairs = cached + [(movie, score) for movie, score in entry.pairs() if movie not in known]
    return _Deep(prefix, entry, pairs, depth, complete)


def _held_deeper(
    context: ServingContext, key: tuple[str, ...], hit: CachedList, asked: _Request
) -> RankedAnswer | None:
    """The page of the deeper list this process read after ``hit``, if it still holds one and
    it fills the page: cut from held lists, so an answer from the cache."""
    deep = _deep_lists.get(key, hit)
    if deep is None:
        return None
    answer = _deeper_answer(context, deep, deep.entry.source, asked)
    return None if answer is None else replace(answer, cached=True)


def _deeper_answer(
    context: ServingContext, deep: _Deep, source: str, asked: _Request
) -> RankedAnswer | None:
    """The page of ``deep`` (the cached list alone when it is its own ``entry``), answered as
    ``source``; None when the page is not full and a deeper read could fill it."""
    if deep.entry is deep.prefix:
        kept = _filtered(context, deep.prefix.pairs(), asked)
    else:
        kept = _filtered_lists.kept(context, deep, lambda: deep.pairs, asked)
    if len(kept) < asked.wanted and not deep.complete:
        return None
    page = _paged(kept, _stamp(context, deep.prefix.movies, asked), asked, deep.complete)
    items = kept[asked.start : asked.wanted]
    return RankedAnswer(items, source, deep.entry.version, False, deep.entry, page)


def _store_quietly(
    store: Callable[[str, Iterable[tuple[str, CachedList]]], int],
    algorithm: str,
    key: str,
    entry: CachedList,
) -> None:
    # On failure the next read computes it again: the cache is an optimisation, not a store.
    with contextlib.suppress(*CACHE_ERRORS):
        store(algorithm, [(key, entry)])

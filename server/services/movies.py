"""Movies with their genres and tags: created, changed (hidden, shown, given an availability
window) and deleted; search by title, genre and year.

A change lists must follow is announced after its commit (``server.serving.catalogue``): from
the next read on, in every process, a hidden or unavailable movie is in no list and a deleted one
nowhere, though the trained models and the cached lists still hold its id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import now
from server.errors import Conflict, NotFound, ValidationError
from server.models import Genre, Movie, MovieGenre, MovieTag, Rating
from server.services.lookup import key_by_external_id, row_by_external_id
from server.serving.catalogue import announce_change, shown_at, shown_clause
from server.serving.context import ServingContext

# Articles a title may start with as people write it ("The Matrix") but that MovieLens moves to
# the end ("Matrix, The"); "L'" is written joined ("L'Atalante") and is left to the substring.
LEADING_ARTICLES = frozenset({"the", "a", "an", "les", "la", "le", "il", "das", "der", "die", "el"})

# The largest integer either database takes (a larger one failed in the driver, a 500).
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class NewMovie:
    """What a client gives to create a movie."""

    external_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    overview: str | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    # TMDb's "/abc.jpg" or a full image URL (``server.presentation.clean_poster_path``'s shape).
    poster_path: str | None = None


class Unset(Enum):
    """A field a change leaves as it is (``None`` clears it)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class MovieChanges:
    """What a client changes of a movie: every field left ``UNSET`` stays as it is; ``None``
    clears a field that may be empty. ``available_from`` and ``available_until`` are UTC Unix
    seconds, either end open (None)."""

    title: str | Unset = UNSET
    year: int | Unset | None = UNSET
    genres: tuple[str, ...] | Unset = UNSET
    overview: str | Unset | None = UNSET
    imdb_id: str | Unset | None = UNSET
    tmdb_id: int | Unset | None = UNSET
    poster_path: str | Unset | None = UNSET
    hidden: bool | Unset = UNSET
    available_from: int | Unset | None = UNSET
    available_until: int | Unset | None = UNSET

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> MovieChanges:
        """The changes of the fields ``given`` by name (a list as a tuple)."""
        values: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in given.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class RatingSummary:
    """How many ratings a movie has and their mean (None without ratings)."""

    count: int
    mean: float | None


def create_movie(session: Session, new: NewMovie) -> Movie:
    """Create a movie; ``Conflict`` if the id is taken. Unknown genres are created."""
    movie = Movie(
        external_id=new.external_id,
        title=new.title,
        year=new.year,
        overview=new.overview,
        imdb_id=new.imdb_id,
        tmdb_id=new.tmdb_id,
        poster_path=new.poster_path,
        created_at=now(),
        hidden=False,
    )
    try:
        with session.begin_nested():
            session.add(movie)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"movie {new.external_id!r} already exists", code="movie_exists", field="id"
        ) from None
    movie.genres = _genres_named(session, new.genres)
    movie.tags = [MovieTag(tag=tag, count=1) for tag in dict.fromkeys(new.tags)]
    session.flush()
    return movie


def _genres_named(session: Session, names: Iterable[str]) -> list[Genre]:
    """The genres with these names, creating the missing ones."""
    wanted = list(dict.fromkeys(names))
    found = {g.name: g for g in session.scalars(select(Genre).where(Genre.name.in_(wanted)))}
    for name in wanted:
        if name not in found:
            found[name] = Genre(name=name)
            session.add(found[name])
    return [found[name] for name in wanted]


def get_movie(session: Session, external_id: str) -> Movie:
    """The movie with this id; ``NotFound`` otherwise."""
    return row_by_external_id(session, Movie, external_id)


def is_shown(movie: Movie) -> bool:
    """Whether lists may show ``movie`` now: not hidden, and within its availability window."""
    return shown_at(movie.hidden, movie.available_from, movie.available_until, now())


def update_movie(context: ServingContext, external_id: str, changes: MovieChanges) -> Movie:
    """Change a movie (``NotFound`` if unknown; a 409 ``invalid_window`` when its window would
    end before it starts, with the ends given or stored) and announce it: lists follow from the
    next read on. Returns the movie as changed."""
    with context.database.transaction(writes=True) as session:
        movie = get_movie(session, external_id)
        # Locked (PostgreSQL; SQLite's write lock already serializes): two PATCHes each setting
        # one end of the window check it against the other's committed end, one at a time.
        session.refresh(movie, with_for_update=True)
        for change in fields(changes):
            value = getattr(changes, change.name)
            if value is UNSET:
                continue
            if change.name == "genres":  # in the order the relationship loads them
                movie.genres = sorted(_genres_named(session, value), key=lambda g: g.name)
            else:
                setattr(movie, change.name, value)
        _check_window(movie)
        session.flush()
    announce_change(context.cache)
    return movie


def _check_window(movie: Movie) -> None:
    """``Conflict`` when the movie's availability window ends before or when it starts."""
    start, end = movie.available_from, movie.available_until
    if start is not None and end is not None and end <= start:
        raise Conflict(
            "available_until must be after available_from (either given or stored).",
            code="invalid_window",
            field="available_until",
        )


def delete_movie(context: ServingContext, external_id: str) -> None:
    """Delete a movie with its ratings, feedback, rating events, genres and tags (every key to
    it is ``ON DELETE CASCADE``); ``NotFound`` if unknown. The trained models and cached lists
    still hold its id: it is announced as deleted, so every list leaves it out from the next
    read on (and the next retrain forgets it)."""
    with context.database.transaction(writes=True) as session:
        movie = movie_key(session, external_id)
        session.execute(delete(Movie).where(Movie.id == movie))
    announce_change(context.cache, [(movie, external_id)])


def movie_key(session: Session, external_id: str) -> int:
    """The internal id of the movie with this id (no row loaded); ``NotFound`` otherwise."""
    return key_by_external_id(session, Movie, external_id)


def search_movies(
    session: Session,
    *,
    query: str | None = None,
    genre: str | None = None,
    year: int | None = None,
    limit: int = 50,
    offset: int = 0,
    withheld_too: bool = False,
) -> tuple[list[Movie], int]:
    """Movies whose title contains ``query`` (any case, written either way: "The Matrix" finds
    "Matrix, The"), of ``genre`` and ``year``: the best match first (the whole title, then
    titles starting with it as a word, then starting with it, shorter titles first), by title
    without a query.

    Hidden and unavailable movies are left out unless ``withheld_too`` (for the service key
    and admins). Returns one page and the total number of matches. An unknown genre is a
    ``NotFound``; a number beyond 64 bits a ``ValidationError``.
    """
    for field, value in (("year", year), ("limit", limit), ("offset", offset)):
        _check_int64(field, value)
    statement = select(Movie)
    if not withheld_too:
        statement = statement.where(shown_clause(now()))
    order: list[Any] = [Movie.title, Movie.id]
    if query:
        article, core = _leading_article(query)
        statement = statement.where(
            or_(
                Movie.title.icontains(query, autoescape=True),
                Movie.title.icontains(core, autoescape=True),
            )
        )
        title = func.lower(Movie.title)
        whole = {query.lower(), core.lower(), f"{core}, {article}".lower()}
        starts = [Movie.title.istartswith(text, autoescape=True) for text in (query, core)]
        # "toy" is a whole word of "Toy Story" but only the start of "Toys".
        words = [
            Movie.title.istartswith(text + after, autoescape=True)
            for text in (query, core)
            for after in (" ", ":", ",")
        ]
        match = case((title.in_(whole), 0), (or_(*words), 1), (or_(*starts), 2), else_=3)
        order = [match, func.length(Movie.title), *order]
    if year is not None:
        statement = statement.where(Movie.year == year)
    if genre is not None:
        genre_id = session.scalar(select(Genre.id).where(func.lower(Genre.name) == genre.lower()))
        if genre_id is None:
            raise NotFound(f"no genre {genre!r}", code="genre_not_found", field="genre")
        linked = select(MovieGenre.movie_id).where(MovieGenre.genre_id == genre_id)
        statement = statement.where(Movie.id.in_(linked))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(statement.order_by(*order).limit(limit).offset(offset))
    return list(page), total


def _leading_article(query: str) -> tuple[str, str]:
    """A query's leading article and the rest ("The Matrix" -> "The", "Matrix"); no article:
    ("", the query)."""
    first, _, rest = query.partition(" ")
    if rest and first.lower() in LEADING_ARTICLES:
        return first, rest.strip()
    return "", query


def _check_int64(field: str, value: int | None) -> None:
    """``ValidationError`` for a number beyond the databases' 64-bit integers."""
    if value is not None and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValidationError(f"{field} is out of range", code=f"invalid_{field}", field=field)


def rating_summary(session: Session, movie: Movie) -> RatingSummary:
    """Count and mean star rating of a movie."""
    return rating_summaries(session, [movie.id])[movie.id]


def rating_summaries(session: Session, movie_ids: list[int]) -> dict[int, RatingSummary]:
    """Count and mean star rating of each movie (by internal id), in one query."""
    found = {
        movie: RatingSummary(count=count, mean=round(float(half_star_mean) / 2, 4))
        for movie, count, half_star_mean in session.execute(
            select(Rating.movie_id, func.count(), func.avg(Rating.half_stars))
            .where(Rating.movie_id.in_(movie_ids))
            .group_by(Rating.movie_id)
        )
    }
    return {movie: found.get(movie, RatingSummary(count=0, mean=None)) for movie in movie_ids}


def list_genres(session: Session) -> list[str]:
    """Every genre name, sorted."""
    return list(session.scalars(select(Genre.name).order_by(Genre.name)))

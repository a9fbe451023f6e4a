"""Movies with their genres and tags; search by title, genre and year."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import now
from server.errors import Conflict, NotFound, ValidationError
from server.models import Genre, Movie, MovieGenre, MovieTag, Rating
from server.services.lookup import key_by_external_id, row_by_external_id

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
) -> tuple[list[Movie], int]:
    """Movies whose title contains ``query`` (any case, written either way: "The Matrix" finds
    "Matrix, The"), of ``genre`` and ``year``: the best match first (the whole title, then
    titles starting with it as a word, then starting with it, shorter titles first), by title
    without a query.

    Returns one page and the total number of matches. An unknown genre is a ``NotFound``; a
    number beyond 64 bits a ``ValidationError``.
    """
    for field, value in (("year", year), ("limit", limit), ("offset", offset)):
        _check_int64(field, value)
    statement = select(Movie)
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

"""Request bodies and query strings of the JSON API, as pydantic models.

Bodies are strict (a string is not a number, unknown fields are rejected); query strings are text
by nature, so their numbers are parsed, but unknown parameters are still rejected. Every rule is
one the JSON Schema of the OpenAPI document states too, so clients and fuzzers that follow the
document agree with the server on what is valid.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from server.models import EXTERNAL_ID_PATTERN, MAX_TIMESTAMP
from server.presentation import POSTER_PATH_LENGTH, POSTER_PATH_PATTERN
from server.services.movies import INT64_MAX
from server.services.visitors import MAX_FEEDBACK, MAX_RATINGS
from server.serving.catalogue import LATEST_SECOND

# Text holds no NUL character (PostgreSQL stores none; ``server.http_errors.reject_nul``).
NO_NUL = r"^[^\x00]*$"
# ... and a character that is not whitespace: the same set for Python's regular expressions (whose
# \s includes \x1c-\x1f) and the Rust ones pydantic checks with (whose \s does not). Surrounding
# whitespace is stripped after the checks (``str.strip`` strips exactly Python's \s), so what the
# document says of the text as sent is what the server checks.
NOT_BLANK = r"^[^\x00]*[^\s\x1c-\x1f\x00][^\x00]*$"
STRIPPED = AfterValidator(str.strip)


def _integral(value: object) -> object:
    """JSON Schema counts 1995.0 as an integer: so does the server (strict ints refuse floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


ExternalId = Annotated[str, StringConstraints(pattern=EXTERNAL_ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK), STRIPPED]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NOT_BLANK), STRIPPED]
GenreName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK), STRIPPED
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NOT_BLANK), STRIPPED]
Year = Annotated[int, Field(ge=1800, le=2200), BeforeValidator(_integral)]


class Body(BaseModel):
    """Base of request bodies: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base of query strings: numbers parsed from text, no unknown parameters."""

    model_config = ConfigDict(extra="forbid")


Genres = Annotated[list[GenreName], Field(max_length=30)]

# What the OpenAPI document says of the parameters shared by several lists.
HOW_MANY = "How many movies"
IN_GENRE = "Only movies of this genre"
RANKER = (
    "An installed algorithm that ranks (``/algorithms``); left out, ``MOVIEREC_DEFAULT_ALGORITHM``"
    " (``auto``: the champion of the user's segment, ``/champions``)"
)


class UserIn(Body):
    """A new user; ``favorite_genres`` narrow their lists until they have rated enough."""

    id: ExternalId
    name: Name | None = None
    favorite_genres: Genres = []


class UserUpdate(Body):
    """Changes to a user (fields left out stay as they are)."""

    name: Name | None = None
    favorite_genres: Genres | None = None


Overview = Annotated[str, StringConstraints(max_length=20_000, pattern=NO_NUL)]
ImdbId = Annotated[str, StringConstraints(pattern=r"^(tt)?[0-9]{1,10}$")]
TmdbId = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_integral)]
PosterPath = Annotated[
    str, StringConstraints(max_length=POSTER_PATH_LENGTH, pattern=POSTER_PATH_PATTERN)
]
# A moment as UTC Unix seconds, up to the last second of the year 9999.
Seconds = Annotated[int, Field(ge=0, le=LATEST_SECOND), BeforeValidator(_integral)]


class MovieIn(Body):
    """A new movie."""

    id: ExternalId
    title: Title
    year: Year | None = None
    genres: Genres = []
    tags: Annotated[list[Tag], Field(max_length=200)] = []
    overview: Overview | None = None
    imdb_id: ImdbId | None = None
    tmdb_id: TmdbId | None = None
    poster_path: PosterPath | None = None


# Fields of ``MovieUpdate`` that may be left out but not null (they cannot be empty).
NOT_NULL = ("title", "genres", "hidden")


def _left_out_is_unchanged(schema: dict[str, Any]) -> None:
    """No property has a default (one left out stays as it is), and those of ``NOT_NULL``
    admit no null (a null is refused, as the validator refuses it)."""
    for name, value in schema.get("properties", {}).items():
        value.pop("default", None)
        if name in NOT_NULL:
            (kept,) = [branch for branch in value.pop("anyOf") if branch.get("type") != "null"]
            value |= kept


class MovieUpdate(Body):
    """Changes to a movie: a field left out stays as it is, ``null`` clears one that may be
    empty. A hidden movie, or one outside its window of availability (UTC Unix seconds, from
    ``available_from`` included to ``available_until`` excluded, either end open), is in no
    list from the next read on (a window ending before it starts is a 409 ``invalid_window``)."""

    model_config = ConfigDict(json_schema_extra=_left_out_is_unchanged)

    # None marks a field of ``NOT_NULL`` left out: a null sent is refused.
    title: Title | None = None
    year: Year | None = None
    genres: Genres | None = None
    overview: Overview | None = None
    imdb_id: ImdbId | None = None
    tmdb_id: TmdbId | None = None
    poster_path: PosterPath | None = None
    hidden: bool | None = Field(None, description="In no list while true")
    available_from: Seconds | None = Field(
        default=None, description="In lists from this moment on (UTC Unix seconds; null: always)"
    )
    available_until: Seconds | None = Field(
        default=None, description="In lists until this moment (UTC Unix seconds; null: always)"
    )

    @field_validator(*NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        """Refuse null for a field that cannot be empty (leave it out to keep it)."""
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class RatingIn(Body):
    """A star rating, 0.5 to 5.0 in steps of 0.5."""

    rating: Annotated[
        float,
        Field(
            ge=0.5,
            le=5.0,
            multiple_of=0.5,
            allow_inf_nan=False,
            description="0.5 to 5.0 in steps of 0.5",
        ),
    ]


class Page(Query):
    """Pagination of a list."""

    limit: Annotated[int, Field(ge=1, le=1000)] = Field(50, description="Items on the page")
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = Field(
        0, description="Items of the list before the page"
    )


class MovieSearch(Page):
    """Filters of the movie list."""

    q: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)] | None = Field(
        None, description="Part of the title, in any case"
    )
    genre: GenreName | None = Field(None, description=IN_GENRE)
    year: Year | None = Field(None, description="Only movies of this year")


AlgorithmName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
ListLength = Annotated[int, Field(ge=1, le=1000)]


# A comma-separated list of external ids, and of genre names (each with a character that is not
# whitespace, as ``NOT_BLANK``; a comma is no part of a name).
_ID = r"[A-Za-z0-9._:@-]+"
ID_LIST = rf"^{_ID}(,{_ID})*$"
_GENRE = r"[^,\x00]*[^\s\x1c-\x1f,\x00][^,\x00]*"
GENRE_LIST = rf"^{_GENRE}(,{_GENRE})*$"
# How deep a page may start in a ranked list.
MAX_LIST_OFFSET = 10_000


def _items(text: str | None) -> list[str]:
    """The items of a comma-separated parameter, stripped, in order, without repeats."""
    return [] if text is None else list(dict.fromkeys(part.strip() for part in text.split(",")))


class RankedListQuery(Query):
    """Rules and paging of a ranked list (recommendations, similar movies): the rules apply to
    the list before it is paged, so every page is full while the list has movies that keep to
    them, and pages of the same list never repeat a movie."""

    exclude: Annotated[str, StringConstraints(max_length=8000, pattern=ID_LIST)] | None = Field(
        None, description="Movie ids to leave out, separated by commas (unknown ids are ignored)"
    )
    genres: Annotated[str, StringConstraints(max_length=2000, pattern=GENRE_LIST)] | None = Field(
        None,
        description="Only movies of any of these genres, separated by commas (an unknown one"
        " is a 404 ``genre_not_found``)",
    )
    year_min: Year | None = Field(
        None, description="Only movies of this year or later (a movie of no year is left out)"
    )
    year_max: Year | None = Field(
        None, description="Only movies of this year or earlier (a movie of no year is left out)"
    )
    min_rating_count: Annotated[int, Field(ge=0, le=2**31 - 1)] = Field(
        0,
        description="Only movies rated by at least this many people (counted at most five"
        " minutes ago)",
    )
    offset: Annotated[int, Field(ge=0, le=MAX_LIST_OFFSET)] = Field(
        0, description="Movies of the filtered list before the page"
    )
    cursor: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}\.[0-9a-f]{8}$")] | None = Field(
        None,
        description="The ``next_cursor`` of the previous page: the next page of the same"
        " list, in place of ``offset``; a 409 ``list_changed`` when the list changed since"
        " (a new model version, or new ratings): start again from the first page",
    )

    @property
    def excluded(self) -> list[str]:
        """The ids of ``exclude``."""
        return _items(self.exclude)

    @property
    def genre_names(self) -> list[str]:
        """The names of ``genres``."""
        return _items(self.genres)


class RecommendationQuery(RankedListQuery):
    """Options of a user's recommendations."""

    n: ListLength = Field(10, description=HOW_MANY)
    algorithm: AlgorithmName | None = Field(None, description=RANKER)
    genre: GenreName | None = Field(
        None, description=IN_GENRE + " (with ``genres``: of any of them)"
    )
    exclude_rated: bool = Field(True, description="Leave out the movies the user rated")


class SimilarQuery(RankedListQuery):
    """Options of a similar-movies list."""

    n: ListLength = Field(10, description=HOW_MANY)
    algorithm: AlgorithmName | None = Field(
        None, description="An installed algorithm that finds similar movies (``/algorithms``)"
    )


class PredictionQuery(Query):
    """Which movie to predict, and by which algorithm."""

    movie_id: ExternalId = Field(description="The movie whose rating to predict")
    algorithm: AlgorithmName | None = Field(
        None,
        description="An installed algorithm that predicts ratings; left out,"
        " ``MOVIEREC_PREDICT_ALGORITHM``",
    )


class PopularQuery(Query):
    """Options of the popular list: ``window`` is ``all`` or a number of days like ``30d``."""

    n: ListLength = Field(10, description=HOW_MANY)
    genre: GenreName | None = Field(None, description=IN_GENRE)
    window: Annotated[str, StringConstraints(pattern=r"^(all|[1-9][0-9]{0,4}d)$")] = Field(
        "all", description="``all``, or ratings of the last days only, like ``30d``"
    )

    @property
    def window_days(self) -> int | None:
        """The window in days; None for all time."""
        return None if self.window == "all" else int(self.window[:-1])


FeedbackKind = Literal["view", "like", "watchlist", "not_interested"]


class FeedbackIn(Body):
    """Feedback besides stars on one movie: watched it (``view``), ``like``, on the
    ``watchlist``, or ``not_interested`` (never suggested again)."""

    type: FeedbackKind = Field(description="The kind of feedback")
    movie_id: ExternalId = Field(description="The movie's id")
    timestamp: Annotated[int, Field(ge=0, le=MAX_TIMESTAMP), BeforeValidator(_integral)] | None = (
        Field(None, description="When it happened, in UTC Unix seconds (now when left out)")
    )


class FeedbackQuery(Page):
    """Which feedback to list."""

    type: FeedbackKind | None = Field(None, description="Only feedback of this type")


# What a visitor without an account sends (``POST /recommendations``).
class VisitorRating(RatingIn):
    """One of the visitor's ratings."""

    movie_id: ExternalId


class VisitorFeedback(Body):
    """One piece of the visitor's feedback besides stars: ``view``, ``like`` and
    ``not_interested`` keep the movie out of their list, ``watchlist`` does not; the positive
    types count as signals (``MOVIEREC_FEEDBACK_WEIGHTS``)."""

    movie_id: ExternalId
    type: FeedbackKind


class VisitorRecommendationsIn(Body):
    """A list for someone the server does not store, from their ratings and feedback (a
    movie id sent twice: the last rating counts); the rules are those of a person's
    recommendations."""

    ratings: Annotated[list[VisitorRating], Field(max_length=MAX_RATINGS)] = Field(
        [], description=f"The visitor's ratings (at most {MAX_RATINGS})"
    )
    feedback: Annotated[list[VisitorFeedback], Field(max_length=MAX_FEEDBACK)] = Field(
        [], description=f"The visitor's feedback besides stars (at most {MAX_FEEDBACK})"
    )
    n: Annotated[int, Field(ge=1, le=1000), BeforeValidator(_integral)] = Field(
        10, description=HOW_MANY
    )
    algorithm: AlgorithmName | None = Field(None, description=RANKER)
    exclude: Annotated[list[ExternalId], Field(max_length=1000)] = Field(
        [], description="Movie ids to leave out (unknown ids are ignored)"
    )
    genres: Genres = Field(
        [],
        description="Only movies of any of these genres (an unknown one is a 404"
        " ``genre_not_found``)",
    )
    year_min: Year | None = Field(
        None, description="Only movies of this year or later (a movie of no year is left out)"
    )
    year_max: Year | None = Field(
        None, description="Only movies of this year or earlier (a movie of no year is left out)"
    )
    min_rating_count: Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_integral)] = Field(
        0, description="Only movies rated by at least this many people"
    )

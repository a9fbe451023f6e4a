"""The data model: users, movies (with genres and tags), ratings and the rating-event outbox.

Timestamps are UTC Unix seconds (the datasets' own unit: cheap to bulk-load and to feed time-based
splits). A rating is stored as ``half_stars`` (1-10 for 0.5-5.0 stars): exact, compact, and the
"half steps only" rule becomes a plain CHECK constraint in every database.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON

from server.db import Base

EXTERNAL_ID_LENGTH = 64
# What a client's own id of a user or movie may hold.
EXTERNAL_ID_PATTERN = rf"^[A-Za-z0-9._:@-]{{1,{EXTERNAL_ID_LENGTH}}}$"
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

RATING_KINDS = ("created", "updated", "deleted")
# Unix seconds from 1970 to the end of 9999: what the database columns and dates can hold.
MAX_TIMESTAMP = 253_402_300_799

# What a person can say of a movie besides stars: watched it, liked it, wants to watch it, or
# does not want it suggested again (the one negative type).
FEEDBACK_TYPES = ("view", "like", "watchlist", "not_interested")
_FEEDBACK_LIST = ", ".join(repr(kind) for kind in FEEDBACK_TYPES)


class ModelStatus(StrEnum):
    """Where a model version is in its life (see ``ModelVersion``)."""

    TRAINING = "training"
    FAILED = "failed"
    REJECTED = "rejected"
    READY = "ready"
    ACTIVE = "active"
    RETIRED = "retired"


# The statuses of a version whose training finished with a model: any of them can serve.
TRAINED_STATUSES = (
    ModelStatus.READY,
    ModelStatus.ACTIVE,
    ModelStatus.REJECTED,
    ModelStatus.RETIRED,
)


class User(Base):
    """A person who rates movies, addressed by the client's own id."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("external_id <> ''", name="external_id_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)

    favorite_genres: Mapped[list[Genre]] = relationship(
        secondary="user_genres", order_by="Genre.name", lazy="selectin"
    )


class UserGenre(Base):
    """A user's favourite genre (picked at onboarding; narrows the cold-start lists)."""

    __tablename__ = "user_genres"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    genre_id: Mapped[int] = mapped_column(
        ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True
    )


class Genre(Base):
    """A genre name ("Drama"); movies link to genres through ``movie_genres``."""

    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class MovieGenre(Base):
    """The many-to-many link between movies and genres."""

    __tablename__ = "movie_genres"

    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    genre_id: Mapped[int] = mapped_column(
        ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Movie(Base):
    """A movie with its metadata; ``title`` is empty only for movies known by id alone."""

    __tablename__ = "movies"
    __table_args__ = (
        CheckConstraint("external_id <> ''", name="external_id_not_empty"),
        CheckConstraint("year IS NULL OR (year BETWEEN 1800 AND 2200)", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), unique=True)
    title: Mapped[str | None] = mapped_column(String(500), index=True)
    year: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    overview: Mapped[str | None] = mapped_column(Text)
    imdb_id: Mapped[str | None] = mapped_column(String(16))
    tmdb_id: Mapped[int | None] = mapped_column(Integer)
    # A poster image: TMDb's ``poster_path`` ("/abc.jpg", joined to the poster URL template) or
    # a full URL; None draws one (``/movies/<id>/poster.svg``).
    poster_path: Mapped[str | None] = mapped_column(String(300))
    # When ``movierec enrich`` asked TMDb for this movie's poster and overview (UTC Unix seconds),
    # whatever the answer, a 404 included: a later run asks only the movies never asked.
    details_checked_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # A hidden movie, or one outside its availability window (UTC Unix seconds, either end
    # open), is in nobody's list; it comes back when shown again or once available.
    hidden: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    available_from: Mapped[int | None] = mapped_column(BigInteger)
    available_until: Mapped[int | None] = mapped_column(BigInteger)

    genres: Mapped[list[Genre]] = relationship(
        secondary="movie_genres", order_by=Genre.name, lazy="selectin"
    )
    tags: Mapped[list[MovieTag]] = relationship(
        order_by="(MovieTag.count.desc(), MovieTag.tag)", lazy="selectin", cascade="all"
    )


class MovieTag(Base):
    """A free-text tag on a movie and how many people applied it."""

    __tablename__ = "movie_tags"
    __table_args__ = (CheckConstraint("count > 0", name="count_positive"),)

    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


class Rating(Base):
    """One user's rating of one movie (at most one per pair)."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint("half_stars BETWEEN 1 AND 10", name="half_stars_range"),
        Index("ix_ratings_movie_id", "movie_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    half_stars: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    @property
    def stars(self) -> float:
        """The rating on the 0.5-5.0 scale."""
        return self.half_stars / 2


class Feedback(Base):
    """One piece of feedback besides stars (a type of ``FEEDBACK_TYPES``) on a movie, with its
    time; at most one of each type per person and movie, so sending it again changes nothing."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(f"type IN ({_FEEDBACK_LIST})", name="type_known"),
        Index("ix_feedback_movie_id", "movie_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


# The kind of an import's one event in the outbox.
IMPORT_EVENT = "imported"


class RatingEvent(Base):
    """The transactional outbox: one row per change a person makes, written in the same
    transaction as the change: a created, updated or deleted rating, or (``feedback`` set to its
    type) feedback created or deleted. Workers consume it by id; ``processed_at`` marks it
    done. A bulk import writes one row of kind ``imported`` instead of one per rating: of no
    person and no movie, born processed, it marks the data changed (a retrain follows). The
    name stays from when ratings were the only feedback."""

    __tablename__ = "rating_events"
    __table_args__ = (
        CheckConstraint("kind IN ('created', 'updated', 'deleted', 'imported')", name="kind_known"),
        CheckConstraint(
            "(kind <> 'imported' AND user_id IS NOT NULL AND movie_id IS NOT NULL AND ("
            "(feedback IS NULL AND ((kind = 'deleted' AND half_stars IS NULL) OR "
            "(kind <> 'deleted' AND half_stars IS NOT NULL AND half_stars BETWEEN 1 AND 10)))"
            " OR (feedback IS NOT NULL AND half_stars IS NULL AND kind <> 'updated')))"
            " OR (kind = 'imported' AND user_id IS NULL AND movie_id IS NULL"
            " AND half_stars IS NULL AND feedback IS NULL)",
            name="half_stars_matches_kind",
        ),
        CheckConstraint(
            f"feedback IS NULL OR feedback IN ({_FEEDBACK_LIST})", name="feedback_known"
        ),
        Index(
            "ix_rating_events_unprocessed",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
        Index("ix_rating_events_user_id", "user_id"),
        Index(
            "ix_rating_events_imported",
            "id",
            postgresql_where=text(f"kind = '{IMPORT_EVENT}'"),
            sqlite_where=text(f"kind = '{IMPORT_EVENT}'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # None only on an import's event.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int | None] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    half_stars: Mapped[int | None] = mapped_column(SmallInteger)
    feedback: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    processed_at: Mapped[int | None] = mapped_column(BigInteger)


class ModelVersion(Base):
    """One training run of one algorithm: its data, params, metrics, timings and status.

    ``status`` moves training → failed | rejected | ready | active; at most one version per
    algorithm is active (the one that serves), and a rolled-back version becomes ``retired``.
    ``data_version`` is the newest rating-event id the run saw: every change of a rating writes an
    event (an import, one for all of its ratings), so an equal number means the data has not
    changed.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("algorithm", "number"),
        CheckConstraint(
            f"status IN ({', '.join(repr(str(status)) for status in ModelStatus)})",
            name="status_known",
        ),
        Index("ix_model_versions_algorithm_status", "algorithm", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    plugin_version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    data_version: Mapped[int] = mapped_column(BigInteger)
    rating_count: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    evaluate_seconds: Mapped[float | None] = mapped_column(Float)
    precompute_seconds: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    artifact: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)
    promoted_at: Mapped[int | None] = mapped_column(BigInteger)


class ChampionSet(Base):
    """Which algorithm serves each segment of people under ``default_algorithm = auto``, and why.

    A new row is recorded whenever the choice changes (after a promotion) or is rolled back; the
    active row serves, earlier rows are ``retired``. ``choice`` maps each segment to its
    algorithm, the version whose served holdout decided, the figures and the reason. The row id
    is the generation stamped on cached "auto" lists: a new row makes them all stale.
    """

    __tablename__ = "champion_sets"
    __table_args__ = (CheckConstraint("status IN ('active', 'retired')", name="status_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    choice: Mapped[dict[str, object]] = mapped_column(JSON)
    cause: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    chosen_at: Mapped[int] = mapped_column(BigInteger)


class Account(Base):
    """A user who signs in to the web pages: their password (hashed) and role.

    The username is the user's ``external_id``, so a person's ratings on the pages and through
    the API are the same ratings.
    """

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role_known"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The username in lower case, unique: "Admin" cannot sign up beside "admin".
    username_key: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[int] = mapped_column(BigInteger)

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser. Its cookies (the session's and the remember-me one) hold a random
    secret whose SHA-256 is kept here: logging out deletes the row, a password change deletes
    all of the account's rows, and a copied or remembered cookie then opens nothing."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.user_id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    """A personal token for the JSON API (``Authorization: Bearer``). Only its SHA-256 is
    stored; the token itself is shown once, when it is created."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)

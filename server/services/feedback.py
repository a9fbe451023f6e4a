"""Feedback besides stars: a person watched a movie (``view``), liked it, put it on their
watchlist, or does not want it suggested (``not_interested``).

Like a rating, each piece is stored with its time and writes one outbox event in the same
transaction (``rating_events`` with ``feedback`` set), announced once committed: the worker folds
it into the person's lists. Giving the same feedback again changes nothing (no event), and
removing it writes a ``deleted`` event. The API, the pages and the bulk NDJSON endpoint all call
these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import Database, insert_ignoring_conflicts, now
from server.errors import Conflict, MovieRecError, NotFound, ValidationError
from server.models import (
    EXTERNAL_ID_LENGTH,
    EXTERNAL_ID_PATTERN,
    FEEDBACK_TYPES,
    MAX_TIMESTAMP,
    Feedback,
    Movie,
    RatingEvent,
    User,
)
from server.services.movies import get_movie, is_shown, movie_key
from server.services.users import user_key

if TYPE_CHECKING:
    from server.tasks import TaskQueue

# The bulk endpoint takes at most this many lines a request (the body limit applies too).
MAX_BULK_LINES = 10_000


_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
# Feedback that contradicts other feedback: the newer takes the older back.
OPPOSITES = {"watchlist": "not_interested", "not_interested": "watchlist"}


@dataclass(frozen=True)
class Given:
    """One piece of feedback as stored: the movie's public id, the type and its time."""

    movie_id: str
    type: str
    created_at: int


@dataclass(frozen=True)
class FeedbackChange:
    """A write's outcome: the feedback as stored, and whether this request created it."""

    given: Given
    created: bool


def check_type(kind: str) -> str:
    """``kind`` if it is a feedback type; ``ValidationError`` naming the types otherwise."""
    if kind not in FEEDBACK_TYPES:
        raise ValidationError(
            f"type must be one of {', '.join(FEEDBACK_TYPES)}, not {kind!r}",
            code="invalid_type",
            field="type",
        )
    return kind


def check_timestamp(timestamp: int | None) -> int:
    """``timestamp`` (UTC Unix seconds, up to the end of 9999), or now when None."""
    if timestamp is None:
        return now()
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValidationError(
            f"timestamp must be Unix seconds from 0 to {MAX_TIMESTAMP}",
            code="invalid_timestamp",
            field="timestamp",
        )
    return timestamp


def give_feedback(
    database: Database,
    tasks: TaskQueue,
    user_id: str,
    movie_id: str,
    kind: str,
    timestamp: int | None = None,
) -> FeedbackChange:
    """Store one piece of feedback and, once committed, announce its event; the same feedback
    given again is returned as stored, with no event (idempotent)."""
    check_type(kind)
    with _refused_if_changed(), database.transaction(writes=True) as session:
        user, movie = user_key(session, user_id), _body_movie(session, movie_id)
        stamp = check_timestamp(timestamp)
        created, event_ids = _insert(session, [(user, movie, kind, stamp)])
        if not created:
            stamp = _stored_time(session, user, movie, kind)
    for event_id in event_ids:
        tasks.announce_event(event_id)
    return FeedbackChange(Given(movie_id, kind, stamp), bool(created))


@contextmanager
def _refused_if_changed() -> Iterator[None]:
    """A person or movie deleted between its lookup and the insert (the foreign key refuses
    the row): 409, nothing written, rather than a 500."""
    try:
        yield
    except IntegrityError:
        raise Conflict(
            "a person or movie changed while the feedback was written; try again",
            code="conflict",
        ) from None


def _body_movie(session: Session, movie_id: str) -> int:
    """The internal id of the movie a request's body names; ``Conflict`` when there is none, or
    it is hidden or unavailable (as the catalogue answers people: no oracle of withheld ids).
    The request is well-formed and its person exists: a 404 would say they do not."""
    try:
        movie = get_movie(session, movie_id)
    except NotFound:
        movie = None
    if movie is None or not is_shown(movie):
        raise Conflict(f"no movie {movie_id!r}", code="movie_not_found", field="movie_id")
    return movie.id


def remove_feedback(
    database: Database, tasks: TaskQueue, user_id: str, movie_id: str, kind: str
) -> None:
    """Remove one piece of feedback and, once committed, announce its ``deleted`` event;
    ``NotFound`` when it was not given (of an unknown type: it never was)."""
    with database.transaction(writes=True) as session:
        user, movie = user_key(session, user_id), movie_key(session, movie_id)
        removed = session.execute(
            delete(Feedback)
            .where(Feedback.user_id == user, Feedback.movie_id == movie, Feedback.type == kind)
            .returning(Feedback.user_id)
        ).first()
        if removed is None:
            raise NotFound(
                f"user {user_id!r} gave no {kind!r} feedback on movie {movie_id!r}",
                code="feedback_not_found",
            )
        event_id = _record_events(session, [(user, movie, kind)], "deleted")[0]
    tasks.announce_event(event_id)


def list_feedback(
    session: Session, user_id: str, kinds: Sequence[str], limit: int, offset: int
) -> tuple[list[Given], int]:
    """A page of a person's feedback of ``kinds`` (every type when empty), newest first, and
    how many there are in all."""
    for kind in kinds:
        check_type(kind)
    where = [Feedback.user_id == user_key(session, user_id)]
    if kinds:
        where.append(Feedback.type.in_(list(kinds)))
    total = session.scalar(select(func.count()).select_from(Feedback).where(*where)) or 0
    rows = session.execute(
        select(Movie.external_id, Feedback.type, Feedback.created_at)
        .join(Movie, Movie.id == Feedback.movie_id)
        .where(*where)
        .order_by(Feedback.created_at.desc(), Feedback.movie_id, Feedback.type)
        .limit(limit)
        .offset(offset)
    ).all()
    return [Given(movie, kind, stamp) for movie, kind, stamp in rows], total


def movies_with_feedback(session: Session, user_id: str, kind: str, limit: int) -> list[Movie]:
    """The movies a person gave ``kind`` feedback, newest first (at most ``limit``)."""
    check_type(kind)
    return list(
        session.scalars(
            select(Movie)
            .join(Feedback, Feedback.movie_id == Movie.id)
            .where(Feedback.user_id == user_key(session, user_id), Feedback.type == kind)
            .order_by(Feedback.created_at.desc(), Movie.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class LineResult:
    """What became of one line of a bulk request: ``created``, ``unchanged`` or ``error``."""

    line: int
    status: str
    error: dict[str, Any] | None = None


def give_feedback_lines(
    database: Database, tasks: TaskQueue, lines: Sequence[bytes]
) -> list[LineResult]:
    """Store the feedback of NDJSON ``lines`` (``{"user_id", "movie_id", "type",
    "timestamp"?}`` each), all or nothing per line: a line that is not valid, or names an
    unknown person or movie, is reported and the others are stored, in one transaction; then
    their events are announced. Blank lines are skipped."""
    if len(lines) > MAX_BULK_LINES:
        raise ValidationError(
            f"send at most {MAX_BULK_LINES} lines a request, not {len(lines)}",
            code="too_many_lines",
        )
    results: dict[int, LineResult] = {}
    parsed: list[tuple[int, str, str, str, int]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            parsed.append((number, *_parse_line(raw)))
        except MovieRecError as error:
            results[number] = LineResult(number, "error", error.to_dict())
    with _refused_if_changed(), database.transaction(writes=True) as session:
        users = _keys(session, User, {user for _, user, _, _, _ in parsed})
        movies = _keys(session, Movie, {movie for _, _, movie, _, _ in parsed})
        rows, numbers = [], []
        for number, user, movie, kind, stamp in parsed:
            problem = _unknown(users, movies, user, movie)
            if problem is not None:
                results[number] = LineResult(number, "error", problem.to_dict())
                continue
            rows.append((users[user], movies[movie], kind, stamp))
            numbers.append(number)
        created, event_ids = _insert(session, rows)
    for number, row in zip(numbers, rows, strict=True):
        key = row[:3]
        # The first line of a pair created it; a repeat in the same request changed nothing.
        results[number] = LineResult(number, "created" if key in created else "unchanged")
        created.discard(key)
    for event_id in event_ids:
        tasks.announce_event(event_id)
    return [results[number] for number in sorted(results)]


def _parse_line(raw: bytes) -> tuple[str, str, str, int]:
    """(user id, movie id, type, timestamp) of one NDJSON line; ``ValidationError`` else."""
    try:
        item = json.loads(raw)
    # A number too long to convert is a ValueError; deep nesting overflows json's recursion.
    except (ValueError, RecursionError):
        raise ValidationError("the line is not valid JSON", code="invalid_json") from None
    if not isinstance(item, dict):
        raise ValidationError("the line must be a JSON object", code="invalid_json")
    unknown = set(item) - {"user_id", "movie_id", "type", "timestamp"}
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError(f"unknown field {field!r}", code="invalid_field", field=field)
    ids = [_id_field(item, name) for name in ("user_id", "movie_id")]
    kind = item.get("type")
    if not isinstance(kind, str):
        raise ValidationError("type is required, a string", code="invalid_field", field="type")
    timestamp = item.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        raise ValidationError(
            "timestamp must be whole Unix seconds", code="invalid_timestamp", field="timestamp"
        )
    return ids[0], ids[1], check_type(kind), check_timestamp(timestamp)


def _id_field(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not _EXTERNAL_ID.match(value):
        raise ValidationError(
            f"{name} is required: 1 to {EXTERNAL_ID_LENGTH} of A-Z a-z 0-9 . _ : @ -",
            code="invalid_field",
            field=name,
        )
    return value


def _keys(session: Session, model: type[User] | type[Movie], ids: set[str]) -> dict[str, int]:
    """Internal ids of the rows of ``model`` with these external ids, a chunk a query."""
    found: dict[str, int] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(
            select(model.external_id, model.id).where(model.external_id.in_(chunk))
        )
        found.update((external, key) for external, key in rows)
    return found


def _unknown(
    users: dict[str, int], movies: dict[str, int], user: str, movie: str
) -> NotFound | None:
    if user not in users:
        return NotFound(f"no user {user!r}", code="user_not_found", field="user_id")
    if movie not in movies:
        return NotFound(f"no movie {movie!r}", code="movie_not_found", field="movie_id")
    return None


def _insert(
    session: Session, rows: Sequence[tuple[int, int, str, int]]
) -> tuple[set[tuple[int, int, str]], list[int]]:
    """Insert the (user, movie, type, time) rows that are not stored yet, with a ``created``
    event each; returns the (user, movie, type) keys inserted and the events' ids."""
    table = cast(Table, Feedback.__table__)
    dialect = session.get_bind().dialect.name
    created: set[tuple[int, int, str]] = set()
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        values = [
            {"user_id": user, "movie_id": movie, "type": kind, "created_at": stamp}
            for user, movie, kind, stamp in chunk
        ]
        statement = insert_ignoring_conflicts(table, dialect).returning(
            table.c.user_id, table.c.movie_id, table.c.type
        )
        created.update(
            (user, movie, kind) for user, movie, kind in session.execute(statement, values)
        )
    keys = list(dict.fromkeys(row[:3] for row in rows if row[:3] in created))
    events = _record_events(session, keys, "created")
    return created, events + _drop_opposites(session, keys)


def _drop_opposites(session: Session, keys: Sequence[tuple[int, int, str]]) -> list[int]:
    """Take back the feedback each new piece contradicts (a movie wanted is no longer refused,
    and the other way round), with a ``deleted`` event each; returns the events' ids."""
    dropped: list[tuple[int, int, str]] = []
    for user, movie, kind in reversed(keys):  # the last line of a bulk request wins
        opposite = OPPOSITES.get(kind)
        if opposite is None or (user, movie, kind) in dropped:
            continue
        removed = session.execute(
            delete(Feedback)
            .where(Feedback.user_id == user, Feedback.movie_id == movie, Feedback.type == opposite)
            .returning(Feedback.user_id)
        ).first()
        if removed is not None:
            dropped.append((user, movie, opposite))
    return _record_events(session, dropped, "deleted")


def _record_events(session: Session, keys: Sequence[tuple[int, int, str]], kind: str) -> list[int]:
    """One outbox event per (user, movie, type) change; returns their ids, in order."""
    if not keys:
        return []
    stamp = now()
    values = [
        {
            "user_id": user,
            "movie_id": movie,
            "kind": kind,
            "feedback": feedback,
            "created_at": stamp,
        }
        for user, movie, feedback in keys
    ]
    statement = insert(RatingEvent).returning(RatingEvent.id, sort_by_parameter_order=True)
    return [int(event_id) for event_id in session.scalars(statement, values)]


def _stored_time(session: Session, user: int, movie: int, kind: str) -> int:
    stamp = session.scalar(
        select(Feedback.created_at).where(
            Feedback.user_id == user, Feedback.movie_id == movie, Feedback.type == kind
        )
    )
    return now() if stamp is None else int(stamp)

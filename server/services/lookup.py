"""Finding a user or a movie by the client's own id (``external_id``)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.models import Movie, User

Row = TypeVar("Row", User, Movie)


def row_by_external_id(session: Session, model: type[Row], external_id: str) -> Row:
    """The user or movie with this id; ``NotFound`` naming it otherwise."""
    row = session.scalar(select(model).where(model.external_id == external_id))
    if row is None:
        raise not_found(model, external_id)
    return row


def key_by_external_id(session: Session, model: type[User] | type[Movie], external_id: str) -> int:
    """The internal id of the user or movie with this id (no row loaded); ``NotFound``
    otherwise."""
    key = session.scalar(select(model.id).where(model.external_id == external_id))
    if key is None:
        raise not_found(model, external_id)
    return key


def not_found(model: type[User] | type[Movie], external_id: str) -> NotFound:
    """The error for an unknown user or movie id."""
    noun = model.__name__.lower()
    return NotFound(f"no {noun} {external_id!r}", code=f"{noun}_not_found")

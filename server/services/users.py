"""Users, addressed by the client's own id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import now
from server.errors import Conflict
from server.models import Genre, User
from server.services.lookup import key_by_external_id, row_by_external_id


def create_user(
    session: Session,
    external_id: str,
    name: str | None = None,
    favorite_genres: Sequence[str] = (),
) -> User:
    """Create a user; ``Conflict`` if the id is taken."""
    user = User(
        external_id=external_id,
        name=name,
        created_at=now(),
        favorite_genres=known_genres(session, favorite_genres),
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(
            f"user {external_id!r} already exists", code="user_exists", field="id"
        ) from None
    return user


def get_user(session: Session, external_id: str) -> User:
    """The user with this id; ``NotFound`` otherwise."""
    return row_by_external_id(session, User, external_id)


def user_key(session: Session, external_id: str) -> int:
    """The internal id of the user with this id (no row loaded); ``NotFound`` otherwise."""
    return key_by_external_id(session, User, external_id)


def known_genres(session: Session, names: Sequence[str]) -> list[Genre]:
    """The genres with these names; ``Conflict`` naming the first unknown one (the request is
    well-formed, the catalogue just has no such genre; a 404 would say the user is missing)."""
    wanted = list(dict.fromkeys(names))
    found = {g.name: g for g in session.scalars(select(Genre).where(Genre.name.in_(wanted)))}
    for name in wanted:
        if name not in found:
            raise Conflict(f"no genre {name!r}", code="unknown_genre", field="favorite_genres")
    return [found[name] for name in wanted]

"""Users, addressed by the client's own id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import now
from server.errors import Conflict, NotFound
from server.models import User


def create_user(session: Session, external_id: str, name: str | None = None) -> User:
    """Create a user; ``Conflict`` if the id is taken."""
    user = User(external_id=external_id, name=name, created_at=now())
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
    user = session.scalar(select(User).where(User.external_id == external_id))
    if user is None:
        raise NotFound(f"no user {external_id!r}", code="user_not_found")
    return user

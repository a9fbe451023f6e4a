"""Who is signed in: the session's person, loaded once per request by Flask-Login."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar, cast

import flask_login
from flask import abort
from flask_login import UserMixin, current_user

from server.context import get_db
from server.models import Account
from server.services.accounts import account_of

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class SignedIn(UserMixin):  # type: ignore[misc]
    """The person of the current session."""

    user_id: int
    username: str
    admin: bool

    def get_id(self) -> str:
        """What the session cookie stores."""
        return str(self.user_id)

    @classmethod
    def of(cls, account: Account) -> SignedIn:
        """The person signed in with ``account``."""
        return cls(account.user_id, account.user.external_id, account.role == "admin")


def load_signed_in(user_id: str) -> SignedIn | None:
    """The person of a session, or None when their account is gone."""
    if not user_id.isdigit():
        return None
    with get_db().transaction() as session:
        account = account_of(session, int(user_id))
        return None if account is None else SignedIn.of(account)


def me() -> SignedIn | None:
    """The signed-in person, or None for a visitor."""
    person = current_user._get_current_object()
    return person if isinstance(person, SignedIn) else None


def signed_in() -> SignedIn:
    """The signed-in person of a view behind ``login_required``."""
    person = me()
    if person is None:  # login_required let a visitor through: a bug, not a client error
        raise RuntimeError("signed_in() outside login_required")
    return person


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Visitors go to the login page (Flask-Login's decorator, typed)."""
    return cast(Callable[P, R], flask_login.login_required(view))


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Visitors go to the login page; signed-in people who are not admins get a 403."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not signed_in().admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapper)

"""Who is signed in: the session's person, loaded once per request by Flask-Login.

The cookies hold a web session's secret, not the user's id (``services.accounts.start_session``):
a session is live only while its row exists, so logging out or changing the password ends it
even in a copy of the cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar, cast

import flask_login
from flask import abort, current_app
from flask_login import UserMixin, current_user
from sqlalchemy.orm import Session

from server.context import get_db
from server.models import Account
from server.services.accounts import end_session, session_account, start_session

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class SignedIn(UserMixin):  # type: ignore[misc]
    """The person of the current session."""

    user_id: int
    username: str
    admin: bool
    session_secret: str

    def get_id(self) -> str:
        """What the session and remember-me cookies store."""
        return self.session_secret

    @classmethod
    def of(cls, account: Account, session_secret: str) -> SignedIn:
        """The person signed in with ``account`` in the session of ``session_secret``."""
        return cls(
            account.user_id, account.user.external_id, account.role == "admin", session_secret
        )


def sign_in(session: Session, account: Account, remember: bool = False) -> None:
    """Start a web session for ``account`` and give this browser its cookies."""
    lifetime = current_app.config["REMEMBER_COOKIE_DURATION"]
    secret = start_session(session, account.user_id, int(lifetime.total_seconds()))
    flask_login.login_user(SignedIn.of(account, secret), remember=remember)


def sign_out() -> None:
    """End this browser's web session (every copy of its cookies) and clear its cookies."""
    person = me()
    if person is not None:
        with get_db().transaction() as session:
            end_session(session, person.session_secret)
    flask_login.logout_user()


def load_signed_in(session_secret: str) -> SignedIn | None:
    """The person of a live web session, or None when it ended or never was."""
    with get_db().transaction() as session:
        account = session_account(session, session_secret)
        return None if account is None else SignedIn.of(account, session_secret)


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

"""Who is signed in: the session's person, loaded once per request by Flask-Login; and what a
visitor rated before signing up.

The cookies hold a web session's secret, not the user's id (``services.accounts.start_session``):
a session is live only while its row exists, so logging out or changing the password ends it
even in a copy of the cookie.

A visitor's ratings are kept in the signed session cookie (half stars by movie id, newest last),
at most ``MAX_VISITOR_RATINGS`` of them and ``VISITOR_RATING_BYTES`` of ids: a cookie over 4 KB
is dropped by browsers, with the visitor's CSRF token in it. The signature says only that this
server wrote them: their movies are looked up again whenever they are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar, cast

import flask_login
from flask import abort, current_app
from flask import session as cookie
from flask_login import UserMixin, current_user
from sqlalchemy.orm import Session

from server.context import get_db
from server.models import Account
from server.services.accounts import end_session, session_account, start_session
from server.services.ratings import MAX_HALF_STARS, MIN_HALF_STARS

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


VISITOR_RATINGS_KEY = "visitor_ratings"
MAX_VISITOR_RATINGS = 50
# The most characters of movie ids kept (with the stars, well under a cookie's 4 KB once signed).
VISITOR_RATING_BYTES = 1500


def visitor_ratings() -> dict[str, int]:
    """The ratings this browser's visitor made before signing up: half stars by movie id,
    oldest first (anything else the cookie holds under the key is left out)."""
    kept = cookie.get(VISITOR_RATINGS_KEY)
    if not isinstance(kept, dict):
        return {}
    return {
        movie: half
        for movie, half in kept.items()
        if isinstance(movie, str) and type(half) is int and MIN_HALF_STARS <= half <= MAX_HALF_STARS
    }


def keep_visitor_rating(movie_id: str, half_stars: int | None) -> None:
    """Set (or with None, remove) the visitor's rating of ``movie_id``; past the limits, their
    oldest ratings make room."""
    ratings = visitor_ratings()
    ratings.pop(movie_id, None)
    if half_stars is not None:
        ratings[movie_id] = half_stars
    newest = list(ratings.items())[-MAX_VISITOR_RATINGS:]
    while sum(len(movie) for movie, _ in newest) > VISITOR_RATING_BYTES:
        newest.pop(0)
    if newest:
        cookie[VISITOR_RATINGS_KEY] = dict(newest)
    else:
        cookie.pop(VISITOR_RATINGS_KEY, None)


def take_visitor_ratings() -> dict[str, int]:
    """The visitor's ratings, removed from the session (they are the account's now)."""
    ratings = visitor_ratings()
    cookie.pop(VISITOR_RATINGS_KEY, None)
    return ratings

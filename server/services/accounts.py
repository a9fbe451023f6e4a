"""Accounts for the web pages (username + hashed password + role) and personal API tokens.

A username is the user's ``external_id``: the person who signs up as ``ada`` is the API's user
``ada``. Usernames are unique regardless of case and signing in ignores case. Passwords are hashed
with Werkzeug's scrypt; tokens and web sessions are random secrets of which only the SHA-256 is
stored (a secret of 256 random bits needs no slow hash).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from server.db import now
from server.errors import Conflict, NotFound, ValidationError
from server.models import Account, ApiToken, User, WebSession

# 3 to 40 letters, digits, '.', '_' or '-', starting with a letter or a digit (no "...").
MAX_USERNAME_LENGTH = 40
USERNAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{2,{MAX_USERNAME_LENGTH - 1}}}", re.ASCII)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
ROLES = ("user", "admin")
TOKEN_PREFIX = "mr_"  # noqa: S105 (a label that marks our tokens, not a secret)
# A token's last use is written at most this often (a write per API call would contend).
TOKEN_USE_RESOLUTION_SECONDS = 60
# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_UNKNOWN_USER_HASH = generate_password_hash(secrets.token_hex(16))


def create_account(session: Session, username: str, password: str, role: str = "user") -> Account:
    """A new user with an account; ``ValidationError`` for a bad name or password, ``Conflict``
    when the name is taken (by an account or a user created through the API)."""
    _check_username(username)
    check_password(password)
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    taken = select(User.id).where(func.lower(User.external_id) == username.lower())
    if session.scalar(taken.limit(1)) is not None:
        raise _taken(username)
    user = User(external_id=username, name=username, created_at=now())
    account = Account(
        user=user,
        username_key=username.lower(),
        password_hash=generate_password_hash(password),
        role=role,
        created_at=now(),
    )
    session.add_all([user, account])
    try:
        session.flush()
    except IntegrityError:  # a concurrent sign-up took it between the check and the insert
        raise _taken(username) from None
    return account


def _taken(username: str) -> Conflict:
    return Conflict(f"the username {username!r} is taken", code="username_taken", field="username")


def set_password(session: Session, username: str, password: str, role: str | None = None) -> None:
    """Give an existing user (an account or an API-created user) a new password, and a role.
    Every session of the account ends (remember-me cookies included)."""
    check_password(password)
    user = session.scalar(select(User).where(User.external_id == username))
    if user is None:
        raise NotFound(f"no user {username!r}", code="user_not_found")
    account = session.get(Account, user.id)
    if account is None:
        if session.scalar(select(Account.user_id).where(Account.username_key == username.lower())):
            raise _taken(username)
        account = Account(user=user, username_key=username.lower(), role="user", created_at=now())
        session.add(account)
    account.password_hash = generate_password_hash(password)
    if role is not None:
        account.role = role
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def authenticate(session: Session, username: str, password: str) -> Account | None:
    """The account when the password is right; None otherwise (either way in about the same
    time, so the answer does not tell whether the username exists)."""
    account = session.scalar(select(Account).where(Account.username_key == username.lower()))
    if account is None:
        check_password_hash(_UNKNOWN_USER_HASH, password)
        return None
    return account if check_password_hash(account.password_hash, password) else None


def _check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise ValidationError(
            "use 3 to 40 letters, digits, '.', '_' or '-', starting with a letter or a digit",
            code="invalid_username",
            field="username",
        )


def check_password(password: str) -> None:
    """``ValidationError`` unless the password is long enough (and not absurdly long)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"use at least {MIN_PASSWORD_LENGTH} characters",
            code="invalid_password",
            field="password",
        )


# Web sessions ----------------------------------------------------------------------------------


def start_session(session: Session, user_id: int, lifetime_seconds: int) -> str:
    """A new signed-in session of the account; returns its secret (for the cookies)."""
    stamp = now()
    # Expired sessions of the account go as a new one starts (no sweeper needed).
    session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at <= stamp)
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            user_id=user_id,
            secret_hash=_digest(secret),
            created_at=stamp,
            expires_at=stamp + lifetime_seconds,
        )
    )
    return secret


def session_account(session: Session, secret: str) -> Account | None:
    """The account of a live session; None when it ended, expired or never was."""
    return session.scalar(
        select(Account)
        .join(WebSession, WebSession.user_id == Account.user_id)
        .where(WebSession.secret_hash == _digest(secret), WebSession.expires_at > now())
    )


def end_session(session: Session, secret: str) -> None:
    """Log one session out: its cookies open nothing any more."""
    session.execute(delete(WebSession).where(WebSession.secret_hash == _digest(secret)))


# Personal API tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenOwner:
    """Whom a valid token acts for."""

    username: str
    admin: bool


def create_token(session: Session, user_id: int, name: str) -> tuple[ApiToken, str]:
    """A new token for the user; returns the row and the token itself (shown once)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError("give the token a name of 1 to 100 characters", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=_digest(secret),
        prefix=secret[:10],
        created_at=now(),
    )
    session.add(token)
    session.flush()
    return token, secret


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens that are not revoked, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, user_id: int, token_id: int) -> None:
    """Revoke one of the user's tokens; ``NotFound`` when it is not theirs."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        raise NotFound("no such token", code="token_not_found")
    token.revoked_at = now()


def token_owner(session: Session, secret: str) -> TokenOwner | None:
    """Whom ``secret`` acts for, when it is a live token; notes when it was last used."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken, User.external_id, Account.role)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(Account, Account.user_id == ApiToken.user_id)
        .where(ApiToken.token_hash == _digest(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    token, username, role = row
    stamp = now()
    if token.last_used_at is None or stamp - token.last_used_at >= TOKEN_USE_RESOLUTION_SECONDS:
        token.last_used_at = stamp
    return TokenOwner(username, role == "admin")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

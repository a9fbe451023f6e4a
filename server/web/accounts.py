"""Sign up, log in, log out. Sign-in attempts are throttled per client address and per
username, so guessing passwords is slow."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from server.context import get_coordination, get_db, get_settings
from server.errors import MovieRecError
from server.services.accounts import authenticate, create_account
from server.web.forms import LoginForm, SignupForm
from server.web.session import SignedIn, me

bp = Blueprint("web-accounts", __name__)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response | tuple[str, int]:
    """Create an account, sign in, and go to onboarding."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            with get_db().transaction() as session:
                account = create_account(session, form.username.data, form.password.data)
                person = SignedIn.of(account)
        except MovieRecError as error:
            field = getattr(form, error.field or "", None) or form.username
            field.errors.append(error.message)
        else:
            login_user(person)
            return redirect(url_for("web.onboarding"))
    return render_template("signup.html", form=form), 200 if not form.errors else 400


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Sign in; back to the page that asked for it."""
    form = LoginForm()
    if form.validate_on_submit():
        if _too_many_attempts(form.username.data):
            form.password.errors.append("Too many attempts: wait a minute and try again.")
            return render_template("login.html", form=form), 429
        with get_db().transaction() as session:
            account = authenticate(session, form.username.data, form.password.data)
            person = SignedIn.of(account) if account else None
        if person:
            login_user(person, remember=form.remember.data)
            return redirect(_safe_next() or url_for("web.for_you"))
        form.password.errors.append("Wrong username or password.")
    status = 400 if form.errors else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with the CSRF token: a link could be forged)."""
    if me() is not None:
        logout_user()
        flash("You are logged out.")
    return redirect(url_for("web.home"))


def _too_many_attempts(username: str) -> bool:
    limit = get_settings().login_attempts_per_minute
    coordination = get_coordination()
    counts = [
        coordination.count_attempt(f"addr:{request.remote_addr}"),
        coordination.count_attempt(f"user:{username.lower()}"),
    ]
    return any(count is not None and count > limit for count in counts)


def _safe_next() -> str | None:
    """The ``next`` page when it is a path on this site (never an outside address)."""
    target = request.args.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None

"""Sign up, log in, log out. Sign-in attempts are throttled per client address and per
username, so guessing passwords is slow. Signing up or in keeps what the browser's visitor rated
(``keep_visits_ratings``)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.context import get_coordination, get_db, get_queue, get_settings
from server.errors import MovieRecError
from server.services.accounts import MAX_USERNAME_LENGTH, authenticate, create_account
from server.services.visitors import keep_visitor_ratings
from server.web.forms import LoginForm, SignupForm, safe_path
from server.web.session import me, sign_in, sign_out, signed_in, take_visitor_ratings

bp = Blueprint("web-accounts", __name__)

# A username is throttled only after this many times the per-address limit of wrong passwords
# (so only by guessers at that many addresses at once).
OWNER_LOCKOUT_FACTOR = 10


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response | tuple[str, int]:
    """Create an account, sign in, keep what they rated as a visitor, and go to onboarding."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            with get_db().transaction() as session:
                account = create_account(session, form.username.data, form.password.data)
                sign_in(session, account)
        except MovieRecError as error:
            field = getattr(form, error.field or "", None) or form.username
            field.errors.append(error.message)
        else:
            keep_visits_ratings()
            return redirect(url_for("web.onboarding"))
    return render_template("signup.html", form=form), 200 if not form.errors else 400


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Sign in; back to the page that asked for it."""
    form = LoginForm()
    if form.validate_on_submit():
        if too_many_attempts(form.username.data):
            form.password.errors.append("Too many attempts: wait a minute and try again.")
            return render_template("login.html", form=form), 429
        with get_db().transaction() as session:
            account = authenticate(session, form.username.data, form.password.data)
            if account is not None:
                sign_in(session, account, remember=form.remember.data)
        if account is not None:
            keep_visits_ratings()
            return redirect(safe_path(request.args.get("next", "")) or url_for("web.for_you"))
        get_coordination().attempts.add(_failures_of(form.username.data))
        form.password.errors.append("Wrong username or password.")
    status = 400 if form.errors else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST with the CSRF token: a link could be forged)."""
    if me() is not None:
        sign_out()
        flash("You are logged out.")
    return redirect(url_for("web.home"))


def keep_visits_ratings() -> None:
    """Store the ratings this browser made before signing in as the signed-in person's (never
    over a rating the account has), and take them out of the session."""
    ratings = take_visitor_ratings()
    if not ratings:
        return
    try:
        kept = keep_visitor_ratings(get_db(), get_queue(), signed_in().username, ratings)
    except MovieRecError as error:  # a movie removed meanwhile: the account is made all the same
        flash(f"Your ratings of this visit could not be kept: {error.message}", "error")
        return
    said = [f"Kept {kept} rating{'' if kept == 1 else 's'} of your visit"] if kept else []
    if left := len(ratings) - kept:  # the account's own rating stays (or the movie is gone)
        said.append(f"{left} you had rated before kept your earlier rating")
    if said:
        flash("; ".join(said) + ".")


def too_many_attempts(username: str) -> bool:
    """True when this address made over the limit of attempts this minute, or the username had
    ``OWNER_LOCKOUT_FACTOR`` times the limit of wrong passwords from all addresses together: one
    guesser is slowed down without locking the owner out when they sign in from elsewhere."""
    limit = get_settings().login_attempts_per_minute
    attempts = get_coordination().attempts
    if attempts.add(f"addr:{request.remote_addr}") > limit:
        return True
    return attempts.count(_failures_of(username)) >= limit * OWNER_LOCKOUT_FACTOR


def _failures_of(username: str) -> str:
    return f"failed:{username.lower()[:MAX_USERNAME_LENGTH]}"

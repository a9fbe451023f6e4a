"""The pages' forms (WTForms through Flask-WTF: CSRF token included, errors per field)."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlencode, urlsplit

from flask import redirect, request
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    PasswordField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from server.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from server.services.ratings import MAX_HALF_STARS, MIN_HALF_STARS

# No list is ever paged this far; a larger ?page= is read as this one (then sent to the last page),
# never a database error.
MAX_PAGE = 1_000_000


def page_number() -> int:
    """The request's ``?page=``: 1 when missing or not a number, at most ``MAX_PAGE``."""
    return min(MAX_PAGE, max(1, request.args.get("page", 1, type=int)))


def page_count(total: int, page_size: int) -> int:
    """How many pages ``total`` rows fill (1 when there are none)."""
    return max(1, -(-total // page_size))


def beyond_last_page(page: int, pages: int) -> Response | None:
    """A redirect to the last page, keeping the other query arguments, when ``page`` is beyond
    it (a stale link or a typed number); None otherwise."""
    if page <= pages:
        return None
    # built by hand, not with url_for: its "_scheme"/"_external" keywords must never come from
    # the query string
    arguments = request.args.copy()
    arguments["page"] = str(pages)
    query = urlencode(list(arguments.items(multi=True)))
    return redirect(f"{request.script_root}{request.path}?{query}")


# The star values a form offers: "0.5" to "5".
STAR_VALUES = [f"{half / 2:g}" for half in range(MIN_HALF_STARS, MAX_HALF_STARS + 1)]


class SignupForm(FlaskForm):  # type: ignore[misc]
    username = StringField("Username", validators=[DataRequired(), Length(3, 40)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )
    submit = SubmitField("Sign up")


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in")
    submit = SubmitField("Log in")


class RatingForm(FlaskForm):  # type: ignore[misc]
    """A star rating of one movie (one of ``STAR_VALUES``, checked by the view as the API
    checks it); ``remove`` deletes it."""

    rating = StringField("Your rating", validators=[Optional()])
    remove = SubmitField("Remove my rating")
    submit = SubmitField("Rate")


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GenresForm(FlaskForm):  # type: ignore[misc]
    genres = CheckboxesField("Genres you like", validate_choice=True)
    submit = SubmitField("Next: rate a few movies")


class TokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Token name", validators=[DataRequired(), Length(1, 100)])
    submit = SubmitField("Create token")


class EraseForm(FlaskForm):  # type: ignore[misc]
    """Erasing an account asks for its password: a borrowed, signed-in browser cannot."""

    password = PasswordField("Your password", validators=[DataRequired()])
    submit = SubmitField("Delete my account and everything about me")


class ImportForm(FlaskForm):  # type: ignore[misc]
    path = StringField(
        "Dataset path on the server (a MovieLens, Kaggle or Netflix directory or file)",
        validators=[DataRequired(), Length(1, 1000)],
    )
    submit = SubmitField("Import")


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that only needs its CSRF token (revoke, retrain, promote, roll back)."""

    submit = SubmitField("Confirm")


def safe_path(target: str) -> str | None:
    """``target`` when it is a path on this site (where a form may send a person back), never
    an outside address. Browsers drop control characters (``/%09/evil.example`` is read as
    ``//evil.example``), so they go first; then only a plain path with no scheme and no host
    passes."""
    target = "".join(ch for ch in target if not unicodedata.category(ch).startswith("C"))
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return None
    return target

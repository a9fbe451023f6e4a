"""The pages' forms (WTForms through Flask-WTF: CSRF token included, errors per field)."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
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

# No list is ever paged this far; a larger ?page= shows this one (empty), never a database error.
MAX_PAGE = 1_000_000


def page_number() -> int:
    """The request's ``?page=``: 1 when missing or not a number, at most ``MAX_PAGE``."""
    return min(MAX_PAGE, max(1, request.args.get("page", 1, type=int)))


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


class ImportForm(FlaskForm):  # type: ignore[misc]
    path = StringField(
        "Dataset path on the server (a MovieLens, Kaggle or Netflix directory or file)",
        validators=[DataRequired(), Length(1, 1000)],
    )
    submit = SubmitField("Import")


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that only needs its CSRF token (revoke, retrain, promote, roll back)."""

    submit = SubmitField("Confirm")

"""Your profile: the movies you rated (sortable, each rating editable in place), your personal
API tokens (create, list, revoke), and everything stored about you (download it, or erase it)."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from server.context import get_db, get_serving
from server.errors import MovieRecError
from server.services.accounts import authenticate, create_token, revoke_token, user_tokens
from server.services.privacy import erase_person, export_person
from server.services.ratings import RATED_ORDERS, rated_movies
from server.services.users import get_user
from server.web.accounts import too_many_attempts
from server.web.forms import (
    STAR_VALUES,
    ConfirmForm,
    EraseForm,
    RatingForm,
    TokenForm,
    beyond_last_page,
    page_count,
    page_number,
)
from server.web.session import login_required, sign_out, signed_in

bp = Blueprint("web-profile", __name__)

PAGE_SIZE = 50


@bp.get("/profile")
@login_required
def profile() -> str | Response:
    """Your ratings, favourite genres and tokens."""
    person = signed_in()
    order = request.args.get("sort", "recent")
    order = order if order in RATED_ORDERS else "recent"
    page = page_number()
    with get_db().transaction() as session:
        rows, total = rated_movies(
            session, person.user_id, order, PAGE_SIZE, (page - 1) * PAGE_SIZE
        )
        tokens = user_tokens(session, person.user_id)
        genres = [genre.name for genre in get_user(session, person.username).favorite_genres]
    pages = page_count(total, PAGE_SIZE)
    if (last := beyond_last_page(page, pages)) is not None:
        return last
    return render_template(
        "profile.html",
        rows=rows,
        total=total,
        order=order,
        orders=list(RATED_ORDERS),
        page=page,
        pages=pages,
        tokens=tokens,
        favourite_genres=genres,
        token_form=TokenForm(),
        erase_form=EraseForm(),
        confirm=ConfirmForm(),
        rating_form=RatingForm(),
        stars=STAR_VALUES,
        new_token=None,
    )


@bp.post("/profile/tokens")
@login_required
def new_token() -> Response:
    """Create a token and show it, once."""
    person = signed_in()
    form = TokenForm()
    if not form.validate_on_submit():
        flash("Give the token a name of 1 to 100 characters.", "error")
        return redirect(url_for("web-profile.profile"))
    with get_db().transaction() as session:
        token, secret = create_token(session, person.user_id, form.name.data)
        name = token.name
    flash(f"Token {name!r} created.")
    page = make_response(render_template("token_created.html", name=name, secret=secret))
    page.headers["Cache-Control"] = "no-store"  # the token must not outlive this page
    return page


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> Response:
    """Revoke one of your tokens."""
    person = signed_in()
    try:
        with get_db().transaction() as session:
            revoke_token(session, person.user_id, token_id)
    except MovieRecError as error:
        flash(error.message, "error")
    else:
        flash("Token revoked.")
    return redirect(url_for("web-profile.profile"))


@bp.get("/profile/export.json")
@login_required
def export() -> Response:
    """Everything stored about you, as a JSON file to download."""
    person = signed_in()
    with get_db().transaction() as session:
        data = export_person(session, person.username)
    answer = jsonify(data)
    answer.headers["Content-Disposition"] = (
        f'attachment; filename="movierec-{person.username}.json"'
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.post("/profile/erase")
@login_required
def erase() -> Response:
    """Delete your account and everything stored about you, once your password confirms it
    (attempts count towards the sign-in throttle)."""
    person = signed_in()
    form = EraseForm()
    if not form.validate_on_submit():
        flash("Give your password to delete your account: nothing was deleted.", "error")
        return redirect(url_for("web-profile.profile"))
    if too_many_attempts(person.username):
        flash("Too many attempts: wait a minute. Nothing was deleted.", "error")
        return redirect(url_for("web-profile.profile"))
    with get_db().transaction() as session:
        confirmed = authenticate(session, person.username, form.password.data) is not None
    if not confirmed:
        flash("That is not your password: nothing was deleted.", "error")
        return redirect(url_for("web-profile.profile"))
    try:
        erase_person(get_serving(), person.username)
    except MovieRecError as error:
        flash(error.message, "error")
        return redirect(url_for("web-profile.profile"))
    sign_out()
    flash("Your account and everything stored about you are deleted.")
    return redirect(url_for("web.home"))

"""The web pages for people: server-rendered Jinja templates, sessions through Flask-Login, CSRF
on every form through Flask-WTF, and a little progressive JavaScript (``static/app.js``). Nothing
is fetched from the internet: styles and scripts are served from ``server/static``.

The JSON API keeps its own authentication (bearer credentials, no cookies), so it is exempt
from CSRF, and its requests neither read nor write the session cookie.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from server.api.openapi import API_PREFIX
from server.config import Settings
from server.presentation import display_title, poster_origin
from server.web import accounts, admin, feedback, pages, profile
from server.web.session import load_signed_in


def init_web(app: Flask) -> None:
    """Register the pages, sessions and CSRF protection (after the API's blueprints)."""
    app.session_interface = PagesOnlySessions()
    csrf = CSRFProtect(app)
    for name, blueprint in app.blueprints.items():
        if name != "web" and not name.startswith("web-"):
            csrf.exempt(blueprint)
    # Assigned, not setdefault: Flask and its extensions already hold every one of these keys.
    settings: Settings = app.extensions["movierec.settings"]
    secure = settings.secure_cookies
    app.config.update(
        WTF_CSRF_TIME_LIMIT=None,  # a form's token is valid as long as its session
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_DURATION=REMEMBER_FOR,
    )
    app.extensions["movierec.page_headers"] = page_headers(settings)
    app.jinja_env.filters["display_title"] = display_title
    app.after_request(security_headers)
    logins = LoginManager(app)
    logins.login_view = "web-accounts.login"
    logins.login_message = "Please log in to see that page."
    logins.user_loader(load_signed_in)
    for blueprint in (pages.bp, accounts.bp, profile.bp, feedback.bp, admin.bp):
        app.register_blueprint(blueprint)


# How long "keep me signed in" lasts, and the longest any web session lives.
REMEMBER_FOR = timedelta(days=30)


def page_headers(settings: Settings) -> dict[str, str]:
    """The pages load only their own styles and script (and posters from the host of the poster
    URL template, when one is set), and are never framed (clickjacking)."""
    images = " ".join(filter(None, ["'self' data:", poster_origin(settings.poster_url_template)]))
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; img-src {images}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }


def security_headers(response: Response) -> Response:
    """Every answer: no content sniffing; every page: ``page_headers``."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not request.path.startswith(API_PREFIX + "/"):
        response.headers.update(current_app.extensions["movierec.page_headers"])
    return response


class PagesOnlySessions(SecureCookieSessionInterface):
    """Signed cookie sessions for the pages; none for the API, whose requests carry bearer
    credentials. Opening and saving a session on every API read cost a tenth of its time, and a
    cookie must never authenticate an API call (the API is exempt from CSRF)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)

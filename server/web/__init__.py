"""The web pages for people: server-rendered Jinja templates, sessions through Flask-Login, CSRF
on every form through Flask-WTF, and a little progressive JavaScript (``static/app.js``). Nothing
is fetched from the internet: styles and scripts are served from ``server/static``.

The JSON API keeps its own authentication (bearer credentials, no cookies), so it is exempt
from CSRF, and its requests neither read nor write the session cookie.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from server.api.openapi import API_PREFIX
from server.web import accounts, admin, pages, profile
from server.web.session import load_signed_in


def init_web(app: Flask) -> None:
    """Register the pages, sessions and CSRF protection (after the API's blueprints)."""
    app.session_interface = PagesOnlySessions()
    csrf = CSRFProtect(app)
    for name, blueprint in app.blueprints.items():
        if name != "web" and not name.startswith("web-"):
            csrf.exempt(blueprint)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    logins = LoginManager(app)
    logins.login_view = "web-accounts.login"
    logins.login_message = "Please log in to see that page."
    logins.user_loader(load_signed_in)
    for blueprint in (pages.bp, accounts.bp, profile.bp, admin.bp):
        app.register_blueprint(blueprint)


class PagesOnlySessions(SecureCookieSessionInterface):
    """Signed cookie sessions for the pages; none for the API, whose requests carry bearer
    credentials. Opening and saving a session on every API read cost a tenth of its time, and a
    cookie must never authenticate an API call (the API is exempt from CSRF)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)

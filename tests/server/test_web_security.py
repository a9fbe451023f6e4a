"""The pages' defences: redirects only within the site, sessions that end for real, cookie flags
and security headers, a sign-in throttle that holds when Redis is down and does not lock the
owner out, and usernames that cannot impersonate each other."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.db import Database
from server.services.accounts import set_password
from tests.server.test_web import PASSWORD, csrf_token, log_in, sign_up


def log_out(client: FlaskClient) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/for-you")})


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example",
        "/%0A/x",
        "/%0D%0A/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "%2F%2Fevil.example",
    ],
)
def test_login_goes_only_to_a_path_on_this_site(client: FlaskClient, target: str) -> None:
    sign_up(client, "ada")
    log_out(client)
    token = csrf_token(client, "/login")
    answer = client.post(
        f"/login?next={target}",
        data={"csrf_token": token, "username": "ada", "password": PASSWORD},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/for-you", target


def test_login_keeps_a_next_path_on_this_site(client: FlaskClient) -> None:
    sign_up(client, "ada")
    log_out(client)
    token = csrf_token(client, "/login")
    answer = client.post(
        "/login?next=/movies%3Fq%3Dalien",
        data={"csrf_token": token, "username": "ada", "password": PASSWORD},
    )
    assert answer.headers["Location"] == "/movies?q=alien"


def cookie_jar(client: FlaskClient) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def with_cookies(app_client: FlaskClient, cookies: dict[str, str]) -> FlaskClient:
    for name, value in cookies.items():
        app_client.set_cookie(name, value)
    return app_client


def test_logout_ends_the_session_even_in_a_copy_of_its_cookie(client: FlaskClient) -> None:
    sign_up(client, "ada")
    copied = cookie_jar(client)
    log_out(client)
    stolen = with_cookies(client.application.test_client(), copied)
    assert stolen.get("/for-you").status_code == 302  # to the login page


def test_a_password_change_ends_every_session_and_remember_me_cookie(
    client: FlaskClient, database: Database
) -> None:
    sign_up(client, "ada")
    log_out(client)
    token = csrf_token(client, "/login")
    client.post(
        "/login",
        data={"csrf_token": token, "username": "ada", "password": PASSWORD, "remember": "y"},
    )
    remembered = {"remember_token": cookie_jar(client)["remember_token"]}
    other_browser = client.application.test_client()
    assert log_in(other_browser, "ada").status_code == 302
    # Remembered alone, the cookie signs the person in while the session lives.
    assert (
        with_cookies(client.application.test_client(), remembered).get("/for-you").status_code
        == 200
    )
    with database.transaction() as session:
        set_password(session, "ada", "a new password")
    for browser in (
        client,
        other_browser,
        with_cookies(client.application.test_client(), remembered),
    ):
        assert browser.get("/for-you").status_code == 302
    assert log_in(client.application.test_client(), "ada", "a new password").status_code == 302


def test_cookies_are_flagged_and_secure_when_configured(settings: dict[str, Any]) -> None:
    for secure in (False, True):
        client = create_app(settings | {"secure_cookies": secure}).test_client()
        token = csrf_token(client, "/signup")
        answer = client.post(
            "/signup",
            data={
                "csrf_token": token,
                "username": "ada" if not secure else "bob",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        )
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
        assert client.application.config["WTF_CSRF_TIME_LIMIT"] is None


def test_pages_send_security_headers_and_the_token_page_is_not_stored(
    client: FlaskClient,
) -> None:
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert client.get("/api/v1/movies").headers["X-Content-Type-Options"] == "nosniff"
    sign_up(client, "ada")
    created = client.post(
        "/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "laptop"}
    )
    assert created.status_code == 200 and "mr_" in created.get_data(as_text=True)
    assert created.headers["Cache-Control"] == "no-store"


def test_guesses_from_one_address_do_not_lock_the_owner_out(settings: dict[str, Any]) -> None:
    app = create_app(settings | {"login_attempts_per_minute": 3})
    owner = app.test_client()
    sign_up(owner, "ada")
    log_out(owner)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    statuses = [log_in(attacker, "ada", "wrong password").status_code for _ in range(6)]
    assert statuses == [400, 400, 400, 429, 429, 429]
    assert log_in(owner, "ada").status_code == 302


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_sign_in_throttle_holds_while_redis_is_down(
    settings: dict[str, Any], database: Database
) -> None:
    with database.transaction() as session:
        from server.services.accounts import create_account

        create_account(session, "ada", PASSWORD)
    down = f"redis://127.0.0.1:{closed_port()}/0"
    client = create_app(
        settings | {"login_attempts_per_minute": 3, "redis_url": down}
    ).test_client()
    statuses = [log_in(client, "ada", "wrong password").status_code for _ in range(40)]
    assert statuses[:3] == [400, 400, 400]
    assert set(statuses[3:]) == {429}


def test_usernames_are_unique_regardless_of_case_and_well_formed(client: FlaskClient) -> None:
    sign_up(client, "admin")
    log_out(client)
    for name, message in (
        ("Admin", "is taken"),
        ("ADMIN", "is taken"),
        ("...", "starting with a letter or a digit"),
        (".hidden", "starting with a letter or a digit"),
    ):
        token = csrf_token(client, "/signup")
        answer = client.post(
            "/signup",
            data={"csrf_token": token, "username": name, "password": PASSWORD, "confirm": PASSWORD},
        )
        assert answer.status_code == 400 and message in answer.get_data(as_text=True), name
    assert log_in(client, "ADMIN").status_code == 302  # signing in ignores case


def test_the_for_you_refresh_needs_the_session(client: FlaskClient) -> None:
    assert client.get("/for-you/top-picks").status_code == 302
    sign_up(client, "ada")
    answer = client.get("/for-you/top-picks")
    assert answer.status_code == 200 and 'id="top-picks"' in answer.get_data(as_text=True)


def test_absurd_page_numbers_go_to_the_last_page(client: FlaskClient) -> None:
    for path in ("/movies?page=-5", "/movies?page=x"):
        assert client.get(path).status_code == 200, path
    beyond = client.get("/movies?page=9223372036854775807&q=a%20b")
    assert beyond.status_code == 302
    assert beyond.headers["Location"] == "/movies?page=1&q=a+b"  # every other argument kept
    tricky = client.get("/movies?page=99&_external=1&_scheme=javascript")
    assert tricky.headers["Location"].startswith("/movies?page=1&")  # a path on this site
    sign_up(client, "ada")
    beyond = client.get("/profile?page=9223372036854775807&sort=title")
    assert beyond.status_code == 302 and "page=1" in beyond.headers["Location"]
    assert "sort=title" in beyond.headers["Location"]
    assert client.get(beyond.headers["Location"]).status_code == 200

"""Who may read a person's data over the API: the service key, that person's token, or an
admin's; nobody else (not the pages' session), with the same answer whether or not the person
exists. The catalogue stays public."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.db import Database
from server.services.accounts import create_account, create_token
from tests.server.test_errors import assert_error
from tests.server.test_web import PASSWORD, sign_up

# A person's data, for ada; {who} is replaced by the user addressed.
PERSONAL = [
    "/api/v1/users/{who}",
    "/api/v1/users/{who}/ratings",
    "/api/v1/users/{who}/ratings/m1",
    "/api/v1/users/{who}/recommendations",
    "/api/v1/users/{who}/predictions?movie_id=m1",
    "/api/v1/users/{who}/export",
    "/api/v1/users/{who}/feedback",
]
CATALOGUE = [
    "/api/v1/movies",
    "/api/v1/movies/m1",
    "/api/v1/movies/m1/similar",
    "/api/v1/movies/popular",
    "/api/v1/genres",
    "/api/v1/algorithms",
]


@pytest.fixture
def people(client: FlaskClient, auth: dict[str, str], database: Database) -> dict[str, str]:
    """ada and bob with accounts, a movie both rated; each one's bearer header, and an admin's."""
    movie = {"id": "m1", "title": "Heat", "genres": ["Crime"]}
    assert client.post("/api/v1/movies", json=movie, headers=auth).status_code == 201
    headers = {}
    with database.transaction() as session:
        for name, role in (("ada", "user"), ("bob", "user"), ("root", "admin")):
            account = create_account(session, name, PASSWORD, role)
            headers[name] = f"Bearer {create_token(session, account.user_id, 'test')[1]}"
    for name in ("ada", "bob"):
        rating = client.put(f"/api/v1/users/{name}/ratings/m1", json={"rating": 4}, headers=auth)
        assert rating.status_code == 201
    return headers


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("path", [*PERSONAL, "/api/v1/movies/m1/ratings"])
@pytest.mark.parametrize("who", ["ada", "nobody"])
def test_a_persons_data_needs_credentials(client: FlaskClient, path: str, who: str) -> None:
    """401 alike for a person who exists and one who does not: no oracle of accounts."""
    response = client.get(path.format(who=who))
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get(path.format(who=who), headers={"Authorization": "Bearer not-a-key"})
    assert_error(wrong, 401, "unauthorized")


@pytest.mark.parametrize("path", PERSONAL)
def test_a_token_reads_its_own_persons_data_only(
    client: FlaskClient, people: dict[str, str], path: str
) -> None:
    ada = {"Authorization": people["ada"]}
    assert client.get(path.format(who="ada"), headers=ada).status_code == 200
    for other in ("bob", "nobody"):  # 403 alike whether or not the other exists
        assert_error(client.get(path.format(who=other), headers=ada), 403, "forbidden")


@pytest.mark.parametrize("path", PERSONAL)
def test_the_service_key_and_an_admin_read_anyones_data(
    client: FlaskClient, people: dict[str, str], auth: dict[str, str], path: str
) -> None:
    for headers in (auth, {"Authorization": people["root"]}):
        assert client.get(path.format(who="bob"), headers=headers).status_code == 200
        nobody = client.get(path.format(who="nobody"), headers=headers)
        assert nobody.status_code == 404


def test_who_rated_a_movie_is_for_the_service_key_and_admins(
    client: FlaskClient, people: dict[str, str], auth: dict[str, str]
) -> None:
    path = "/api/v1/movies/m1/ratings"
    assert_error(client.get(path, headers={"Authorization": people["ada"]}), 403, "forbidden")
    assert client.get(path, headers={"Authorization": people["root"]}).get_json()["count"] == 2
    assert client.get(path, headers=auth).get_json()["count"] == 2


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("path", CATALOGUE)
def test_the_catalogue_is_public(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_the_pages_session_opens_nothing_on_the_api(app: Flask, auth: dict[str, str]) -> None:
    """The API takes bearer credentials only: a cookie would need CSRF protection. (The "For
    you" page reads its top row through ``/for-you/top-picks``.)"""
    client = app.test_client()
    client.post("/api/v1/movies", json={"id": "m1", "title": "Heat"}, headers=auth)
    sign_up(client, "ada")
    for path in PERSONAL:
        answer = client.get(path.format(who="ada"))
        assert_error(answer, 401, "unauthorized")
        assert "Set-Cookie" not in answer.headers
    assert_error(
        client.put("/api/v1/users/ada/ratings/m1", json={"rating": 4}), 401, "unauthorized"
    )

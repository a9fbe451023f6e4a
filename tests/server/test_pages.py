"""What the pages show of movies: titles as people write them, posters (drawn, or from the poster
URL template), cards with the average and the reason, the rows of "For you", the movie page's
"people who liked this also liked", search by best match, and onboarding's "Haven't seen it"."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from server import create_app
from server.cache import keys
from server.config import Settings, SettingsError
from server.presentation import display_title, poster_url
from tests.conftest import get_ok
from tests.server.test_web import csrf_token, sign_up

CATALOGUE = [
    {
        "id": "1",
        "title": "Matrix, The",
        "year": 1999,
        "genres": ["Action", "Sci-Fi"],
        "tmdb_id": 603,
    },
    {"id": "2", "title": "Matrix Reloaded, The", "year": 2003, "genres": ["Action", "Sci-Fi"]},
    {"id": "3", "title": "Animatrix, The", "year": 2003, "genres": ["Animation"]},
    {"id": "4", "title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]},
    {"id": "5", "title": "Aliens", "year": 1986, "genres": ["Action", "Horror"]},
    {"id": "6", "title": "Heat <b>", "year": 1995, "genres": ["Crime"]},
]


# Enough more movies (none with "matrix" in its title) for every row to fill.
FILLERS = [
    {
        "id": f"f{n}",
        "title": f"Film {n}",
        "genres": [["Horror"], ["Sci-Fi", "Action"], ["Crime"]][n % 3],
    }
    for n in range(90)
]


@pytest.fixture
def catalogue(client: FlaskClient, auth: dict[str, str]) -> None:
    """Ninety-six movies; three people rated some of them (the Matrix and Alien fans)."""
    for movie in CATALOGUE + FILLERS:
        assert client.post("/api/v1/movies", json=movie, headers=auth).status_code == 201
    fillers = [movie["id"] for movie in FILLERS]
    for person, liked in (("p1", "1245"), ("p2", "1246"), ("p3", "12")):
        client.post("/api/v1/users", json={"id": person}, headers=auth)
        for movie in [*liked, *fillers[int(person[1]) :: 2]]:
            path = f"/api/v1/users/{person}/ratings/{movie}"
            assert client.put(path, json={"rating": 4.5}, headers=auth).status_code in (200, 201)


def test_titles_are_shown_as_people_write_them() -> None:
    assert display_title("Matrix, The") == "The Matrix"
    assert display_title("Boot, Das (Boat, The)") == "Das Boot (The Boat)"
    assert display_title("Atalante, L'") == "L'Atalante"
    assert display_title("Girl, Interrupted") == "Girl, Interrupted"  # not an article
    assert display_title("Toy Story") == "Toy Story"
    assert display_title(None) is None


def test_the_poster_url_template_is_filled_only_when_the_movie_has_its_fields() -> None:
    template = "https://image.example/w342{poster_path}"
    found = poster_url(template, movie_id="1", poster_path="/abc.jpg", tmdb_id=None, imdb_id=None)
    assert found == "https://image.example/w342/abc.jpg"
    assert poster_url(template, movie_id="1", poster_path=None, tmdb_id=603, imdb_id=None) is None
    full = "https://elsewhere.example/p.jpg"
    assert poster_url("", movie_id="1", poster_path=full, tmdb_id=None, imdb_id=None) == full
    with pytest.raises(SettingsError, match="POSTER_URL_TEMPLATE"):
        Settings(poster_url_template="https://image.example/{title}")
    with pytest.raises(SettingsError, match="POSTER_URL_TEMPLATE"):
        Settings(poster_url_template="javascript:{tmdb_id}")


@pytest.mark.usefixtures("catalogue")
def test_search_finds_a_title_written_either_way_best_match_first(client: FlaskClient) -> None:
    for query in ("The Matrix", "matrix"):
        found = get_ok(client, "/api/v1/movies", q=query)
        ids = [movie["id"] for movie in found["items"]]
        assert ids == ["1", "2", "3"], query  # the whole title, one starting with it, the rest
        assert found["items"][0]["display_title"] == "The Matrix"
    assert get_ok(client, "/api/v1/movies", q="Matrix, The")["items"][0]["id"] == "1"
    page = client.get("/movies?q=The+Matrix").get_data(as_text=True)
    titles = re.findall(r'class="card-title"><a [^>]+>([^<]+)</a>', page)
    assert titles == ["The Matrix", "The Matrix Reloaded", "The Animatrix"]


@pytest.mark.usefixtures("catalogue")
def test_a_movie_without_a_poster_gets_one_drawn(client: FlaskClient) -> None:
    movie = get_ok(client, "/api/v1/movies/6")
    assert movie["poster_url"] == "/movies/6/poster.svg"
    drawn = client.get(movie["poster_url"])
    assert drawn.status_code == 200 and drawn.mimetype == "image/svg+xml"
    svg = drawn.get_data(as_text=True)
    assert "Heat &lt;b&gt;" in svg and "<b>" not in svg and "1995" in svg
    assert drawn.headers["Cache-Control"] == "public, max-age=86400"
    assert client.get("/movies/nope/poster.svg").status_code == 404


def test_posters_come_from_the_template_and_the_pages_may_load_them(
    settings: dict[str, Any], auth: dict[str, str]
) -> None:
    template = {"poster_url_template": "https://posters.example/{tmdb_id}.jpg"}
    client = create_app(settings | template).test_client()
    for movie in CATALOGUE[:2]:
        client.post("/api/v1/movies", json=movie, headers=auth)
    assert get_ok(client, "/api/v1/movies/1")["poster_url"] == "https://posters.example/603.jpg"
    assert get_ok(client, "/api/v1/movies/2")["poster_url"] == "/movies/2/poster.svg"  # no tmdb id
    page = client.get("/movies/1")
    assert 'src="https://posters.example/603.jpg"' in page.get_data(as_text=True)
    assert (
        "img-src 'self' data: https://posters.example;" in page.headers["Content-Security-Policy"]
    )


@pytest.mark.usefixtures("catalogue")
def test_cards_show_year_genres_average_and_no_raw_score(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'class="movie-card"' in page and "/movies/4/poster.svg" in page
    assert "1979 · Horror, Sci-Fi" in page
    assert re.search(r"★</span> 4\.5 <span class=\"muted\">\(\d ratings?\)", page)
    assert 'class="score"' not in page


@pytest.mark.usefixtures("catalogue")
def test_the_movie_page_says_because_only_to_whoever_rated_it(client: FlaskClient) -> None:
    visitor = client.get("/movies/1").get_data(as_text=True)
    assert "People who liked The Matrix also liked" in visitor
    assert "Because you" not in visitor
    assert 'alt="Poster of The Matrix"' in visitor
    sign_up(client, "ada")
    token = csrf_token(client, "/movies/1")
    client.post("/movies/1/rating", data={"csrf_token": token, "rating": "5"})
    rated = client.get("/movies/1").get_data(as_text=True)
    assert "Because you rated it 5 stars: people who liked The Matrix also liked" in rated


@pytest.mark.usefixtures("catalogue")
def test_for_you_has_rows_that_name_their_source(client: FlaskClient) -> None:
    sign_up(client, "ada")
    token = csrf_token(client, "/welcome")
    client.post("/welcome", data={"csrf_token": token, "genres": ["Horror"]})
    token = csrf_token(client, "/movies/1")
    client.post("/movies/1/rating", data={"csrf_token": token, "rating": "4.5"})
    page = client.get("/for-you").get_data(as_text=True)
    headings = re.findall(r'<h2 id="[^"]+-title">([^<]+)</h2>', page)
    assert headings[0] == "Top picks for you"
    assert "Because you rated The Matrix 4.5★" in headings
    assert "Top Horror for you" in headings
    assert page.count('<p class="source">From ') == len(headings)
    because = page.split("Because you rated The Matrix 4.5★")[1].split("</section>")[0]
    assert "/movies/1/poster.svg" not in because  # never the movie it is because of


@pytest.mark.usefixtures("catalogue")
def test_onboarding_offers_haven_t_seen_it_and_saves_only_stars(client: FlaskClient) -> None:
    sign_up(client, "ada")
    page = client.get("/welcome/rate").get_data(as_text=True)
    asked = re.findall(r'name="rating-([^"]+)" value=""', page)
    assert asked and page.count('class="unseen">Haven\'t seen it') == len(asked)
    token = csrf_token(client, "/welcome/rate")
    answers = {f"rating-{movie}": "" for movie in asked} | {f"rating-{asked[0]}": "4"}
    client.post("/welcome/rate", data={"csrf_token": token, **answers})
    ratings = get_ok(client, "/api/v1/users/ada/ratings")
    assert [r["movie_id"] for r in ratings["items"]] == [asked[0]]


@pytest.mark.usefixtures("catalogue")
def test_onboarding_asks_the_same_movies_until_they_are_answered(client: FlaskClient) -> None:
    sign_up(client, "ada")
    first = re.findall(
        r'name="rating-([^"]+)" value=""', client.get("/welcome/rate").get_data(as_text=True)
    )
    again = re.findall(
        r'name="rating-([^"]+)" value=""', client.get("/welcome/rate").get_data(as_text=True)
    )
    assert again == first  # a reload does not lose them
    token = csrf_token(client, "/welcome/rate")
    answered = client.post(
        "/welcome/rate",
        data={"csrf_token": token, f"rating-{first[0]}": "4", "more": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Thanks: 1 rating saved. A few more, chosen from your answers:" in answered
    after = re.findall(r'name="rating-([^"]+)" value=""', answered)
    assert after and not set(after) & set(first)  # new ones once answered
    token = csrf_token(client, "/welcome/rate")
    nothing = client.post(
        "/welcome/rate", data={"csrf_token": token, "more": "1"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "A few other movies:" in nothing and "0 ratings" not in nothing


def test_trending_needs_two_people_in_the_window(client: FlaskClient, auth: dict[str, str]) -> None:
    for movie in FILLERS[:8]:
        client.post("/api/v1/movies", json=movie, headers=auth)
    for person in ("p1", "p2"):
        client.post("/api/v1/users", json={"id": person}, headers=auth)
    for movie in FILLERS[:8]:  # one person's ratings of today are not a trend
        client.put(f"/api/v1/users/p1/ratings/{movie['id']}", json={"rating": 4}, headers=auth)
    assert "Trending now" not in client.get("/").get_data(as_text=True)
    assert get_ok(client, "/api/v1/movies/popular", window="30d")["items"] == []
    for movie in FILLERS[:5]:
        client.put(f"/api/v1/users/p2/ratings/{movie['id']}", json={"rating": 5}, headers=auth)
    client.application.extensions["movierec.redis"].delete(keys.popular(30, ""))  # kept
    trending = get_ok(client, "/api/v1/movies/popular", window="30d")["items"]
    assert {item["movie_id"] for item in trending} == {movie["id"] for movie in FILLERS[:5]}
    assert "Trending now: the last 30 days" in client.get("/").get_data(as_text=True)


def test_search_puts_a_whole_word_before_a_longer_one(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for number, title in enumerate(["Toys", "Toy Story", "Toy Story 2", "Story of a Toy"]):
        client.post("/api/v1/movies", json={"id": f"t{number}", "title": title}, headers=auth)
    found = get_ok(client, "/api/v1/movies", q="toy")["items"]
    assert [movie["title"] for movie in found] == [
        "Toy Story",
        "Toy Story 2",
        "Toys",
        "Story of a Toy",
    ]

"""The API reference page, ``/api/v1/docs``: served whole from this server (Swagger UI from its
Python distribution, our initialiser as a file), under the pages' security headers, and naming
no other host."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from server.api.docs_page import ASSETS

DOCS = "/api/v1/docs"


class Links(HTMLParser):
    """Every ``src`` and ``href`` of a page, and whether it has an inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def page_links(client: FlaskClient, path: str = DOCS) -> Links:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    links = Links()
    links.feed(response.get_data(as_text=True))
    return links


@pytest.mark.parametrize("path", [DOCS, f"{DOCS}/"])
def test_the_page_and_everything_it_loads_come_from_this_server(
    client: FlaskClient, path: str
) -> None:
    links = page_links(client, path)
    assert not links.inline_script  # the Content-Security-Policy would refuse it
    assert links.urls and all(
        url.startswith("/") and not url.startswith("//") for url in links.urls
    )
    for url in links.urls:
        assert client.get(url).status_code == 200, url
    loaded = {url.rsplit("/", 1)[-1] for url in links.urls if url.startswith(f"{DOCS}/")}
    assert loaded == set(ASSETS)  # every file served is one the page uses
    assert "/api/v1/openapi.json" in links.urls  # a link to the document, for people


def test_the_assets_have_their_types(client: FlaskClient) -> None:
    types = {
        "swagger-ui-bundle.js": "text/javascript",
        "docs.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "docs.css": "text/css",
    }
    for name, mimetype in types.items():
        response = client.get(f"{DOCS}/{name}")
        assert (response.status_code, response.mimetype) == (200, mimetype), name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    bundle = client.get(f"{DOCS}/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000  # the real Swagger UI


def test_the_initialiser_names_no_host_and_reads_the_document_url_from_the_page(
    client: FlaskClient,
) -> None:
    for name in ("docs.js", "docs.css"):
        text = client.get(f"{DOCS}/{name}").get_data(as_text=True)
        assert not re.search(r"https?://", text), name
    script = client.get(f"{DOCS}/docs.js").get_data(as_text=True)
    assert "data-openapi-url" in script and "validatorUrl: null" in script
    html = client.get(DOCS).get_data(as_text=True)
    assert not re.search(r"https?://", html)
    assert 'data-openapi-url="/api/v1/openapi.json"' in html


def test_only_the_pages_files_are_served(client: FlaskClient) -> None:
    for name in ("index.html", "oauth2-redirect.html", "swagger-ui.js", "..%2Fopenapi.py", "x"):
        assert client.get(f"{DOCS}/{name}").status_code == 404, name


def test_the_page_has_the_pages_security_headers(client: FlaskClient) -> None:
    page = client.get("/login").headers
    policy = page["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src" not in policy  # scripts: self only
    for path in (DOCS, f"{DOCS}/docs.js"):
        response = client.get(path)
        for header in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
            assert response.headers[header] == page[header], (path, header)
    # The JSON API itself keeps its own headers: none of the pages'.
    assert "Content-Security-Policy" not in client.get("/api/v1/genres").headers


def test_the_page_is_not_an_operation_of_the_api(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert not [path for path in document["paths"] if path.startswith(DOCS)]

"""The API's reference page, ``/api/v1/docs``: Swagger UI rendering ``/api/v1/openapi.json``.

Nothing comes from the internet. Swagger UI's files are those of the ``flask-swagger-ui``
distribution (only its ``dist`` folder: its blueprint's page starts Swagger UI from an inline
script, which the pages' Content-Security-Policy refuses), served from here; ours
(``server/static/apidocs``) start it from a script file, reading the document's URL from the page.
The page carries the other pages' security headers (their Content-Security-Policy included),
and stays out of the OpenAPI document (it is no operation of the API).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template_string,
    send_from_directory,
    url_for,
)

from server.api.openapi import HIDDEN

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("api-docs", __name__)

# Swagger UI's distribution, and our own files for the page.
SWAGGER_UI = Path(str(resources.files("flask_swagger_ui").joinpath("dist")))
OURS = Path(__file__).resolve().parent.parent / "static" / "apidocs"
# Every file the page loads, and where it is: nothing else is served.
ASSETS = {
    "swagger-ui.css": SWAGGER_UI,
    "swagger-ui-bundle.js": SWAGGER_UI,
    "docs.css": OURS,
    "docs.js": OURS,
}

# The pages' headers, as ``server.web`` sets them for this app (``movierec.page_headers``), or,
# before it does, the same policy: only this site's styles, scripts, images and data: URIs
# (Swagger UI's icons), and never framed.
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API reference · movierec</title>
  <link rel="icon" href="{{ url_for('static', filename='favicon.svg') }}" type="image/svg+xml">
  <link rel="stylesheet" href="{{ url_for('api-docs.asset', name='swagger-ui.css') }}">
  <link rel="stylesheet" href="{{ url_for('api-docs.asset', name='docs.css') }}">
</head>
<body>
  <header class="docs-top">
    <a class="docs-brand" href="{{ url_for('web.home') }}">movierec</a>
    <span class="docs-what">API reference</span>
    <a href="{{ document }}">OpenAPI document (JSON)</a>
  </header>
  <noscript><p class="docs-noscript">This page needs JavaScript; the API is described in the
    <a href="{{ document }}">OpenAPI document</a>.</p></noscript>
  <main id="swagger-ui" data-openapi-url="{{ document }}"></main>
  <script src="{{ url_for('api-docs.asset', name='swagger-ui-bundle.js') }}"></script>
  <script src="{{ url_for('api-docs.asset', name='docs.js') }}"></script>
</body>
</html>
"""


def hidden(view: F) -> F:
    """Keep ``view`` out of the OpenAPI document."""
    setattr(view, HIDDEN, True)
    return view


@bp.get("/docs")
@bp.get("/docs/")
@hidden
def docs_page() -> str:
    """The API reference page."""
    return render_template_string(PAGE, document=url_for("openapi.openapi_document"))


@bp.get("/docs/<name>")
@hidden
def asset(name: str) -> Response:
    """One of the page's files."""
    folder = ASSETS.get(name)
    if folder is None:
        abort(404)
    return send_from_directory(folder, name)


@bp.after_request
def page_headers(response: Response) -> Response:
    """The headers of every page (the API's own answers carry none of them)."""
    headers: dict[str, str] = current_app.extensions.get("movierec.page_headers", DOCS_HEADERS)
    response.headers.update(headers)
    return response

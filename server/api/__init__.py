"""The JSON API under ``/api/v1``: one blueprint per resource, plus the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from server.api import (
    algorithms,
    docs_page,
    feedback,
    movies,
    ratings,
    recommendations,
    users,
)
from server.api.openapi import API_PREFIX, build_openapi

docs = Blueprint("openapi", __name__)


@docs.get("/openapi.json")
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of this API."""
    return build_openapi(current_app)


def register_api(app: Flask) -> None:
    """Mount every API blueprint under ``/api/v1``."""
    blueprints = (users.bp, recommendations.bp, movies.bp, ratings.bp, feedback.bp, algorithms.bp)
    for blueprint in (*blueprints, docs):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(docs_page.bp, url_prefix=API_PREFIX)  # the reference page

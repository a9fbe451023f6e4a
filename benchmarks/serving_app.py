"""The app the serving benchmark runs under gunicorn: movierec's app plus a bare endpoint that
returns a constant JSON, so both are measured through the same server, workers and load."""

from __future__ import annotations

from typing import Any

from server import create_app

app = create_app()


@app.get("/bench/constant")
def constant() -> dict[str, Any]:
    """The reference: no database, no Redis, no model."""
    return {"items": [], "source": "constant", "model_version": None, "cached": False}

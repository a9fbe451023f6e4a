"""Accessors for what the current Flask app holds (settings, database, Redis)."""

from __future__ import annotations

import redis
from flask import current_app

from server.config import Settings
from server.db import Database
from server.redis_store import connect


def get_db() -> Database:
    """The current app's database."""
    database: Database = current_app.extensions["movierec.db"]
    return database


def get_settings() -> Settings:
    """The current app's settings."""
    settings: Settings = current_app.extensions["movierec.settings"]
    return settings


def get_redis() -> redis.Redis:
    """The current app's Redis client, created on first use (this may start the embedded server)."""
    client: redis.Redis | None = current_app.extensions.get("movierec.redis")
    if client is None:
        client = connect(get_settings())
        current_app.extensions["movierec.redis"] = client
    return client

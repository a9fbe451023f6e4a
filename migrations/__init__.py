"""Alembic migrations (run through ``movierec db upgrade``)."""

"""Business rules as plain typed functions over a SQLAlchemy session; they raise domain errors
from ``server.errors`` and never touch Flask, so the CLI, workers and tests call them directly."""

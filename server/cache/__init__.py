"""The Redis cache."""

"""Celery workers: rating-event consumption, scheduled retraining and cache precomputation."""

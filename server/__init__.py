"""movierec web server: the Flask app, data layer, services, JSON API and CLI."""

from server.app import create_app

__all__ = ["create_app"]

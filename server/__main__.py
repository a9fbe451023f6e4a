"""``python -m server``: the same as the ``movierec`` command."""

from server.cli import run

run()

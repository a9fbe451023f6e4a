"""``python -m server``: the ``movierec`` command."""

from server.cli.root import run

run()

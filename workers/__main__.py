"""``python -m workers``: the ``movierec`` command."""

from server.cli.root import run

run()

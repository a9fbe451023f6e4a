"""``python -m workers``: the same as the ``movierec`` command."""

from workers.cli import run

run()

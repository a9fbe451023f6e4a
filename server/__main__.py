"""``python -m server``: the server's own commands (``movierec`` adds the workers' commands)."""

from server.cli.root import run

run()

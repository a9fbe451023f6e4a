"""The ``movierec`` command line: one root group (``root``), one module per group of commands.
The worker commands (serve, worker, beat, train) live with the workers and join the root group
through the ``movierec.commands`` entry points, so the server never imports the workers."""

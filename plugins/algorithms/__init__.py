"""The built-in algorithms. Each is declared as an entry point in pyproject.toml, like any
third-party plugin, so nothing here is special to the registry."""

"""Redis, as every process uses it: the cached lists and their keys, the web process's near copy
and rendered bodies, read counts, and the coordination of processes (locks, heartbeats,
throttles, import reports)."""

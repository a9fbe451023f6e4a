"""JSON bodies of answers cut from cached lists, rendered once per list and URL.

A list the web process holds (``server.cache.near``) is the same object on every cache hit
(``Cache`` unpacks a held value once). Its body for a given URL is then the same bytes too, so a
hit can skip decoding, titling and encoding the list: those were most of what a cached read cost
beyond Flask itself. A rewritten list is a new object, so its body is rendered anew.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from server.cache.lists import CachedList

# What one web process spends on bodies at most: about 30,000 top-10 answers.
MAX_BYTES = 32 * 1024 * 1024


class RenderedBodies:
    """Bodies by URL, each with the list it was rendered from; ``max_bytes`` of them at most."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._bodies: dict[str, tuple[CachedList, bytes]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def body(self, url: str, entry: CachedList, render: Callable[[], bytes]) -> bytes:
        """The body of ``url`` answered from ``entry``: kept from an earlier request if it was
        rendered from this very list, else ``render()``-ed and kept."""
        known = self._bodies.get(url)
        if known is not None and known[0] is entry:
            return known[1]
        body = render()
        with self._lock:
            replaced = self._bodies.pop(url, None)
            self._bytes -= len(replaced[1]) if replaced else 0
            if self._bytes + len(body) > self.max_bytes:
                self._bodies.clear()  # rare: start over rather than track the oldest
                self._bytes = 0
            self._bodies[url] = (entry, body)
            self._bytes += len(body)
        return body

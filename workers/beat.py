"""Celery beat's scheduler, run by one beat at a time.

Two beats may run, for availability; each takes or renews a lease in Redis at every tick
(``Coordination.scheduler_lease``) and schedules only while it holds it. A standby beat checks
every few seconds and takes over once the leader's lease lapses (it died, or lost Redis).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler

from server.cache import keys
from server.cache.connection import connect
from server.cache.coordination import Coordination
from server.config import Settings

log = logging.getLogger(__name__)

# How often a standby beat asks for the lease.
STANDBY_SECONDS = 5.0
# The leader renews its lease at least this often, well within the lease's life.
RENEW_SECONDS = keys.SCHEDULER_LEASE_SECONDS / 3


class OneScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery's persistent scheduler behind the lease: ticks of a beat without it send
    nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.coordination = Coordination(connect(Settings.load()))
        self.leading: bool | None = None  # the first tick says which it is

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Schedule what is due when holding the lease; the seconds until the next tick."""
        leading = self.coordination.scheduler_lease(self.holder)
        if leading != self.leading:
            log.info("beat %s: %s", self.holder, "schedules" if leading else "stands by")
            self.leading = leading
        if not leading:
            return STANDBY_SECONDS
        return float(min(super().tick(*args, **kwargs), RENEW_SECONDS))

"""Every Redis key and TTL of movierec, in one place.

On a Redis Cluster, keys that one transaction changes together must be in one slot: a key's slot
is worked out from its hash tag (the part in braces) when it has one. Only the catalogue's two
keys need that; every other multi-key command is split by slot (``connection.mget``, redis-py's
cluster pipelines, DEL and UNLINK).
"""

from __future__ import annotations

PREFIX = "movierec:"
# The "algorithm" whose lists are the champions' (``server.services.champions``).
AUTO = "auto"

# Active versions are republished at every promotion and on every computed answer.
ACTIVE_TTL_SECONDS = 86_400
# A worker's heartbeat: beat's relay renews it every few seconds.
HEARTBEAT_TTL_SECONDS = 30
# The lease of the one beat that schedules: renewed at every tick, taken over by a standby beat
# once it lapses.
SCHEDULER_LEASE_SECONDS = 30
SCHEDULER_LEASE = f"{PREFIX}beat:lease"
# Read counts are kept per minute for this long.
READ_STATS_TTL_SECONDS = 3600
# Popular lists are kept by the workers: each list someone asked for within a day is computed
# again every few seconds at most (``server.services.popular``); readers take the kept one,
# however old.
POPULAR_REFRESH_SECONDS = 10
POPULAR_KEPT_SECONDS = 86_400
# The lists to keep: a sorted set of "window:genres", scored by when one was last asked for.
POPULAR_WANTED = f"{PREFIX}popular-wanted"
# When each window's lists were last computed and what it took: a hash of window -> "began:took".
POPULAR_COSTS = f"{PREFIX}popular-costs"
# One process computes a list nobody has kept yet; the others wait for it this long at most.
POPULAR_FIRST_SECONDS = 30
# The outcome of the latest dataset import, for the admin page.
IMPORT_REPORT_TTL_SECONDS = 86_400

# What web processes read on every request, so what they hold near (see ``server.cache.near``).
NEAR_PREFIXES = (
    f"{PREFIX}recs:",
    f"{PREFIX}similar:",
    f"{PREFIX}active:",
    f"{PREFIX}catalogue:",
)


def recs(algorithm: str, user: str) -> str:
    """A user's ranked list by ``algorithm``."""
    return f"{PREFIX}recs:{algorithm}:{user}"


def similar(algorithm: str, movie: str) -> str:
    """A movie's similar list by ``algorithm``."""
    return f"{PREFIX}similar:{algorithm}:{movie}"


def active(algorithm: str) -> str:
    """The version of ``algorithm`` that serves."""
    return f"{PREFIX}active:{algorithm}"


def popular(window_days: int, genres: str) -> str:
    """A popular list over a window (0: all time) and a set of genres ('' for all)."""
    return f"{PREFIX}popular:{window_days}:{genres}"


def popular_first(window_days: int, genres: str) -> str:
    """Held by the one process computing a popular list not kept yet."""
    return f"{PREFIX}popular-first:{window_days}:{genres}"


def reads(minute: int) -> str:
    """The hit and miss counts of one minute (Unix minutes)."""
    return f"{PREFIX}reads:{minute}"


def attempts(window_seconds: int, subject: str) -> str:
    """Sign-in attempts of an address or a username in the current window."""
    return f"{PREFIX}attempts:{window_seconds}:{subject}"


def training_lock(algorithm: str) -> str:
    """The lock one retrain of ``algorithm`` holds."""
    return f"{PREFIX}lock:train:{algorithm}"


def retrain_waiting(algorithm: str) -> str:
    """Set while a requested retrain of ``algorithm`` waits in the queue."""
    return f"{PREFIX}retrain-waiting:{algorithm}"


# A waiting retrain's mark outlives a lost task by at most this long.
RETRAIN_WAITING_TTL_SECONDS = 600


HEARTBEAT = f"{PREFIX}heartbeat:worker"
LAST_IMPORT = f"{PREFIX}import:last"


# What lists may show (``server.serving.catalogue``): a number raised by every change of a movie
# that lists must follow at once (hidden, shown, its window moved, deleted), and the movies deleted
# (``<internal id>:<external id>``), which the trained models still know until they are retrained.
# One transaction changes both (``announce_change``): the generation's hash tag is the deleted
# set's whole name, which puts both in the set's slot while the set keeps the name it had before
# clusters were supported (an upgrade keeps the deleted movies; the generation starts afresh,
# which only makes every process read the catalogue again).
CATALOGUE_DELETED = f"{PREFIX}catalogue:deleted"
CATALOGUE_GENERATION = f"{PREFIX}catalogue:generation:{{{CATALOGUE_DELETED}}}"

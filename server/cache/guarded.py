"""Writing people's lists so that a slower writer cannot undo a newer one.

Two workers can refresh one person at once: a task re-sent by the relay, a precompute shard, a
read computing a list on a miss. One that read the person's data before a change can finish
after one that read it after, and a plain SET would leave the older list cached until the
person's next change (a refused movie back in their list). Each person's list therefore carries
the newest of their changes it reflects (``CachedList.stamp``, an outbox event id), and a write
replaces the cached value only when that value's stamp is not newer, compared and written in one
Lua script so no write slips in between. A dropped list leaves a stamped marker for the same
reason (``pack_dropped``).

Equal stamps write: both writers read the data as of the same change (or newer), and the one
written last is the one to keep when a new model version is being precomputed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from server.cache.connection import Client

# KEYS[1] a person's list; ARGV[1] the new value, ARGV[2] its TTL in seconds, ARGV[3] its stamp,
# ARGV[4] "1" to write only where a value is cached. The cached value's header (see
# ``server.cache.lists``): flags in byte 9, and when flag 4 (stamped) is set, the stamp in
# bytes 11-18, little-endian. Lua's numbers hold integers exactly up to 2^53.
_WRITE_UNLESS_NEWER = """
local head = redis.call('GETRANGE', KEYS[1], 0, 17)
if #head == 0 and ARGV[4] == '1' then
    return 0
end
if #head >= 18 and math.floor(string.byte(head, 9) / 4) % 2 == 1 then
    local cached = 0
    for i = 18, 11, -1 do
        cached = cached * 256 + string.byte(head, i)
    end
    if cached > tonumber(ARGV[3]) then
        return 0
    end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_SHA = hashlib.sha1(_WRITE_UNLESS_NEWER.encode(), usedforsecurity=False).hexdigest()  # its name

# (key, packed value, stamp)
Write = tuple[str, bytes, int]


def write_unless_newer(
    client: Client, writes: Sequence[Write], ttl: int, only_cached: bool = False
) -> int:
    """Write each value unless the one cached at its key is stamped newer (with
    ``only_cached``, only where one is cached); pipelined, one round trip per Redis node.
    Returns how many were written."""
    written = 0
    for node, mine in _by_node(client, writes):
        written += _pipelined(node, mine, ttl, only_cached)
    return written


def _pipelined(node: redis.Redis, writes: Sequence[Write], ttl: int, only_cached: bool) -> int:
    try:
        return _run(node, writes, ttl, only_cached)
    except NoScriptError:  # a restarted or flushed Redis: load the script, then once more
        node.script_load(_WRITE_UNLESS_NEWER)
        return _run(node, writes, ttl, only_cached)


def _run(node: redis.Redis, writes: Sequence[Write], ttl: int, only_cached: bool) -> int:
    pipe = node.pipeline(transaction=False)
    for key, value, stamp in writes:
        pipe.evalsha(_SHA, 1, key, value, ttl, stamp, int(only_cached))
    return sum(int(done) for done in pipe.execute())


def _by_node(client: Client, writes: Sequence[Write]) -> list[tuple[redis.Redis, list[Write]]]:
    """The writes grouped by the Redis server holding their keys. A cluster's pipeline refuses
    scripts, so each node gets a pipeline of its own keys."""
    if not writes:
        return []
    if not isinstance(client, RedisCluster):
        return [(client, list(writes))]
    grouped: dict[str, list[Write]] = defaultdict(list)
    nodes = {}
    for write in writes:
        node = client.get_node_from_key(write[0])  # type: ignore[no-untyped-call]
        grouped[node.name].append(write)
        nodes[node.name] = node
    return [(client.get_redis_connection(nodes[name]), mine) for name, mine in grouped.items()]

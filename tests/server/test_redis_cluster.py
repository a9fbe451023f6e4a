"""movierec on a Redis Cluster: a real three-node cluster on 127.0.0.1, started once for this
module. Lists written in pipelines across nodes and read back, near copies kept exact on every
node, the catalogue's transaction, locks, sign-in attempts, read counts, import reports, and an
app answering from the lists a precompute wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from server import create_app
from server.cache import keys
from server.cache.connection import connect, connect_cluster
from server.cache.coordination import Coordination
from server.cache.lists import CachedList
from server.cache.near import NearCache
from server.cache.read_counts import ReadCounter
from server.cache.store import Cache
from server.config import Settings, SettingsError
from server.datasets import open_dataset
from server.datasets.importer import import_dataset
from server.datasets.synthetic import SyntheticSpec, write_dataset
from server.db import Database
from server.services.imports import replace_catalogue
from server.serving.catalogue import announce_change
from tests.conftest import API_KEY, get_ok
from tests.redis_cluster import LocalCluster, running_cluster
from tests.workers.conftest import wait_for
from workers.context import build_context
from workers.training import retrain


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three redis-server processes forming one cluster, stopped after the module."""
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as started:
        yield started


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[RedisCluster]:
    """A client of the emptied cluster."""
    cluster.flush()
    connected = connect_cluster(cluster.url)
    yield connected
    connected.close()


def node_of(client: RedisCluster, key: str) -> str:
    """The name of the node holding ``key``."""
    return str(client.get_node_from_key(key).name)


def one_per_node(client: RedisCluster, key_of: Callable[[str], str]) -> list[str]:
    """Names (``0``, ``1``, ...) whose keys, by ``key_of``, fall on each node in turn."""
    found: dict[str, str] = {}
    for number in range(1000):
        found.setdefault(node_of(client, key_of(str(number))), str(number))
        if len(found) == len(client.get_primaries()):
            return list(found.values())
    raise AssertionError("no names on some node")


def listed(version: int, movies: list[int], stamp: int = 0) -> CachedList:
    """A list of ``movies`` by a model version, of a person's data as of change ``stamp``."""
    scores = np.linspace(1.0, 0.5, len(movies)).astype(np.float32)
    return CachedList(version, "als", np.array(movies, np.int32), scores, stamp=stamp)


def mget_calls(cluster: LocalCluster) -> int:
    """The MGETs every node has answered so far."""
    calls = 0
    for port in cluster.ports:
        stats = cluster.node(port).info("commandstats").get("cmdstat_mget", {})
        calls += int(stats.get("calls", 0))
    return calls


def test_a_cluster_url_names_every_startup_node_and_needs_a_broker_of_its_own(
    cluster: LocalCluster,
) -> None:
    with pytest.raises(SettingsError, match="BROKER_URL"):
        Settings.load({"redis_url": cluster.url, "broker_url": ""})
    settings = Settings.load({"redis_url": cluster.url, "broker_url": "memory://"})
    assert settings.uses_redis_cluster and not settings.uses_embedded_redis
    client = connect(settings)
    assert isinstance(client, RedisCluster)
    assert {node.port for node in client.get_primaries()} == set(cluster.ports)
    assert client.ping()
    # Any one startup node finds the others.
    alone = connect_cluster(f"redis+cluster://127.0.0.1:{cluster.ports[2]}/")
    assert len(alone.get_primaries()) == 3
    with pytest.raises(SettingsError, match="host:port"):
        connect_cluster(f"redis+cluster://127.0.0.1:{cluster.ports[0]},:1/")


def test_users_lists_are_written_across_nodes_in_one_pipeline_and_read_back(
    client: RedisCluster,
) -> None:
    cache = Cache(client, ttl_seconds=3600, list_length=3)
    users = [str(number) for number in range(60)]
    assert cache.store_user_lists("als", [(u, listed(2, [1, 2, 3, 4])) for u in users]) == 60
    assert len({node_of(client, keys.recs("als", u)) for u in users}) == 3  # on every node
    assert cache.user_list("als", "7") == (None, None)  # no active version published yet
    cache.publish_active_version("als", 2)
    active, entry = cache.user_list("als", "7")
    assert active == 2 and entry is not None and entry.movies.tolist() == [1, 2, 3]
    assert 0 < client.ttl(keys.recs("als", "7")) <= 3600
    cache.publish_active_version("als", 3)  # a newer version: the lists are stale
    assert cache.user_list("als", "7") == (3, None)
    cache.drop_user_list("als", "8")
    assert client.exists(keys.recs("als", "8")) == 0
    # Stamped writes compare with what each node holds: older data is refused on every node.
    assert cache.store_user_lists("als", [(u, listed(3, [9], stamp=5)) for u in users]) == 60
    assert cache.store_user_lists("als", [(u, listed(3, [8], stamp=4)) for u in users]) == 0
    cache.drop_user_lists("als", dict.fromkeys(users, 6))
    assert cache.user_list("als", "7") == (3, None)
    assert cache.store_similar_lists("als", [("10", listed(3, [5, 6]))]) == 1
    assert cache.similar_list("als", "10")[1] is not None
    cache.store_popular(0, "", [(4, 2.5), (5, 1.5)], 1234)
    assert cache.popular(0, "") == ([(4, 2.5), (5, 1.5)], 1234)


def test_near_copies_follow_writes_on_every_node(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    writer = Cache(client, ttl_seconds=3600, list_length=10)
    reader = Cache(connect_cluster(cluster.url), 3600, 10, near_entries=100)
    assert reader.near is not None
    users = one_per_node(client, lambda user: keys.recs("als", user))
    writer.publish_active_version("als", 1)
    writer.store_user_lists("als", [(user, listed(1, [1, 2, 3])) for user in users])
    reader.user_list("als", users[0])
    wait_for(lambda: reader.near is not None and reader.near.live, timeout=10)

    def all_held() -> bool:
        for user in users:
            reader.user_list("als", user)
        calls = mget_calls(cluster)
        entries = [reader.user_list("als", user)[1] for user in users]
        return mget_calls(cluster) == calls and all(entry is not None for entry in entries)

    wait_for(all_held, timeout=5, every=0.01)
    writer.store_user_lists("als", [(user, listed(1, [9, 8, 7])) for user in users])
    for user in users:

        def rewritten(user: str = user) -> bool:
            entry = reader.user_list("als", user)[1]
            return entry is not None and entry.movies.tolist() == [9, 8, 7]

        assert wait_for(rewritten, timeout=2, every=0.001)
    writer.publish_active_version("als", 2)  # the active version's key, on its own node
    assert wait_for(lambda: reader.user_list("als", users[0])[0] == 2, timeout=2, every=0.001)


def test_the_catalogue_changes_in_one_transaction_and_near_copies_follow(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    assert client.keyslot(keys.CATALOGUE_GENERATION) == client.keyslot(keys.CATALOGUE_DELETED)
    writer = Cache(client, 3600, 10)
    reader = NearCache(connect_cluster(cluster.url), keys.NEAR_PREFIXES, 10)
    reader.mget([keys.CATALOGUE_GENERATION])
    wait_for(lambda: reader.live, timeout=10)
    assert announce_change(writer, [(5, "m5"), (6, "m6")])
    assert wait_for(lambda: reader.mget([keys.CATALOGUE_GENERATION]) == [b"1"], 2, 0.001)
    assert client.smembers(keys.CATALOGUE_DELETED) == {b"5:m5", b"6:m6"}
    assert announce_change(writer)
    assert wait_for(lambda: reader.mget([keys.CATALOGUE_GENERATION]) == [b"2"], 2, 0.001)


def test_a_training_lock_is_held_by_one_coordination_at_a_time(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    first = Coordination(client, lock_seconds=5)
    second = Coordination(connect_cluster(cluster.url), lock_seconds=5)
    with first.training_lock("als") as held:
        assert held
        with second.training_lock("als") as also:
            assert not also
        with second.training_lock("svd") as other:  # another key, maybe another node
            assert other
    with second.training_lock("als") as again:
        assert again


def test_sign_in_attempts_count_per_subject_on_any_node(client: RedisCluster) -> None:
    attempts = Coordination(client).attempts
    subjects = one_per_node(client, lambda subject: keys.attempts(60, subject))
    for times, subject in enumerate(subjects, start=1):
        assert [attempts.add(subject) for _ in range(times)][-1] == times
    assert [attempts.count(subject) for subject in subjects] == [1, 2, 3]
    assert 0 < client.ttl(keys.attempts(60, subjects[0])) <= 60


def test_read_counts_are_added_up_across_processes(client: RedisCluster) -> None:
    first, second = ReadCounter(client), ReadCounter(client)
    for hit in (True, True, False):
        first.count(hit)
    second.count(True)
    first.flush()
    second.flush()
    assert first.recent() == (3, 1)  # fifteen minutes' keys, read from whichever node


def test_import_reports_heartbeats_and_waiting_retrains(client: RedisCluster) -> None:
    coordination = Coordination(client)
    assert coordination.last_import() is None
    coordination.record_import({"ratings": 10, "status": "done"})
    assert coordination.last_import() == {"ratings": 10, "status": "done"}
    coordination.beat_heartbeat(1234)
    assert coordination.last_heartbeat() == 1234
    assert coordination.mark_retrain_waiting("als")
    assert not coordination.mark_retrain_waiting("als")
    coordination.retrain_started("als")
    assert coordination.mark_retrain_waiting("als")


def test_replacing_the_catalogue_drops_cached_lists_on_every_node(
    database: Database, client: RedisCluster
) -> None:
    cache = Cache(client, 3600, 10)
    cache.store_user_lists("als", [(str(user), listed(1, [1])) for user in range(30)])
    cache.publish_active_version("als", 1)
    client.set(keys.LAST_IMPORT, "{}")
    deleted = replace_catalogue(database, client)
    assert deleted["cached lists"] == 31
    assert client.exists(keys.LAST_IMPORT) == 1  # not computed from the catalogue: kept


def test_a_lost_node_turns_the_near_copy_off_and_a_lost_cluster_is_a_miss(
    tmp_path: Path,
) -> None:
    with running_cluster(tmp_path) as own:
        client = connect_cluster(own.url)
        cache = Cache(client, 3600, 10, near_entries=10)
        assert cache.near is not None
        cache.user_list("als", "1")
        wait_for(lambda: cache.near is not None and cache.near.live, timeout=10)
        own.processes[1].kill()
        wait_for(lambda: cache.near is not None and not cache.near.live, timeout=10)
        own.stop()  # no node answers: the client raises no RedisError but its own exception
        assert cache.user_list("als", "1") == (None, None)
        attempts = Coordination(client).attempts
        assert [attempts.add("ada"), attempts.add("ada")] == [1, 2]  # counted in this process
        assert attempts.count("ada") == 2


def test_an_app_on_the_cluster_answers_from_the_lists_precompute_wrote(
    cluster: LocalCluster,
    client: RedisCluster,
    database: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    write_dataset(SyntheticSpec(users=40, movies=100, ratings=1500, seed=3), tmp_path / "data")
    import_dataset(database, open_dataset(tmp_path / "data"))
    settings: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": cluster.url,
        "broker_url": "memory://",
        "data_dir": tmp_path / "movierec",
        "api_keys": [API_KEY],
        "secret_key": "test-secret",
        "train_schedule": ["als=3600"],
        "default_algorithm": "als",
    }
    assert retrain(build_context(Settings.load(settings)), "als", False).status == "promoted"
    assert client.exists(keys.recs("als", "5")) == 1
    api = create_app(settings).test_client()
    body = get_ok(api, "/api/v1/users/5/recommendations", n=5)
    assert body["cached"] and body["source"] == "als" and len(body["items"]) == 5
    assert get_ok(api, "/api/v1/users/5/recommendations", n=5) == body  # held near, same body
    with pytest.raises(RedisClusterException):  # what the cache avoids: one MGET, 2 slots
        client.mget([keys.active("als"), keys.recs("als", "5")])

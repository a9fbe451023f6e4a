"""Two beats for availability, one schedule: a lease in Redis decides which beat sends tasks,
and a standby takes over once the leader's lease lapses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from server.cache import keys
from server.cache.coordination import Coordination
from tests.workers.conftest import WorkerProcess, wait_for


def test_the_lease_is_held_by_one_and_renewed_only_by_it(redis_client: redis.Redis) -> None:
    coordination = Coordination(redis_client)
    assert coordination.scheduler_lease("a")
    assert not coordination.scheduler_lease("b")
    assert coordination.scheduler_lease("a")  # renewed
    assert 0 < redis_client.ttl(keys.SCHEDULER_LEASE) <= keys.SCHEDULER_LEASE_SECONDS
    redis_client.delete(keys.SCHEDULER_LEASE)  # lapsed
    assert coordination.scheduler_lease("b")
    assert not coordination.scheduler_lease("a")


def test_with_redis_down_every_beat_schedules() -> None:
    down = Coordination(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    assert down.scheduler_lease("a") and down.scheduler_lease("b")


class BeatProcess(WorkerProcess):
    """``celery beat`` with its own schedule file, logging to its own file."""

    def start(self) -> BeatProcess:
        schedule = self.log.with_suffix(".schedule")
        argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat"]
        argv += ["--loglevel", "INFO", "--schedule", str(schedule)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=self.environment(), stdout=log, stderr=log, start_new_session=True
            )
        return self

    def schedules(self) -> bool:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        said = [line for line in lines if line.endswith(("schedules", "stands by"))]
        return bool(said) and said[-1].endswith("schedules")


def test_of_two_beats_one_schedules_and_the_other_takes_over_when_it_dies(
    pipeline_settings: dict[str, Any], tmp_path: Path, redis_client: redis.Redis
) -> None:
    first = BeatProcess(pipeline_settings, None, tmp_path / "beat-1.log").start()
    second = BeatProcess(pipeline_settings, None, tmp_path / "beat-2.log").start()
    try:
        wait_for(lambda: first.schedules() or second.schedules(), timeout=60, every=0.2)
        leader, standby = (first, second) if first.schedules() else (second, first)
        wait_for(lambda: "stands by" in standby.log.read_text(), timeout=60, every=0.2)
        assert not standby.schedules()
        holder = redis_client.get(keys.SCHEDULER_LEASE)
        assert leader.process is not None and holder is not None
        assert f"-{leader.process.pid}-".encode() in holder
        leader.kill()  # a host lost: nothing released its lease...
        assert 0 < redis_client.ttl(keys.SCHEDULER_LEASE) <= keys.SCHEDULER_LEASE_SECONDS
        redis_client.delete(keys.SCHEDULER_LEASE)  # ... which lapses (here at once)
        wait_for(standby.schedules, timeout=60, every=0.2)
    finally:
        for beat in (first, second):
            beat.stop()
        for beat in (first, second):
            sys.stderr.write(beat.log.read_text()[-2000:] if beat.log.exists() else "")

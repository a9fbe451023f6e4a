"""The installed algorithms: checking a request names one, and queueing a retrain of one."""

from __future__ import annotations

from plugins.registry import Registry
from server.cache.coordination import Coordination
from server.errors import NotFound, Unavailable
from server.tasks import RETRAIN, TRAINING_QUEUE, TaskQueue

# What each capability lets an algorithm do, as an error message says it.
CAN = {
    "rank": "rank movies for a person",
    "similar": "find similar movies",
    "predict": "predict a rating",
}


def require_algorithm(registry: Registry, name: str, capability: str | None = None) -> None:
    """``NotFound`` unless an installed algorithm ``name`` exists (and has ``capability``); an
    installed one that cannot load (a missing optional dependency) says why."""
    if name not in registry.names():
        why = next((s.reason for s in registry.skipped if s.name == name), None)
        message = f"no algorithm {name!r}" if why is None else f"algorithm {name!r}: {why}"
        raise NotFound(message, code="algorithm_not_found", field="algorithm")
    if capability is not None and capability not in registry.get(name).capabilities:
        raise NotFound(
            f"algorithm {name!r} cannot {CAN.get(capability, capability)}",
            code="capability_missing",
            field="algorithm",
        )


def queue_retrain(
    registry: Registry, tasks: TaskQueue, coordination: Coordination, name: str, force: bool = True
) -> bool:
    """Ask the workers to retrain ``name`` now (``force``: even when its data has not changed).

    Requests coalesce: while one waits in the queue, another adds nothing (returns False), so a
    client repeating the request cannot fill the training queue. ``NotFound`` for an unknown
    algorithm, ``Unavailable`` when the broker is down."""
    require_algorithm(registry, name)
    if not coordination.mark_retrain_waiting(name):
        return False
    if not tasks.send(RETRAIN, [name, force], TRAINING_QUEUE):
        coordination.retrain_started(name)  # nothing waits after all
        raise Unavailable(
            "The task broker is not reachable; try again shortly.", code="broker_down"
        )
    return True

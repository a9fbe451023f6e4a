"""Retrains keep their fits for one another while the data stays the same: a composite takes its
components back, every holdout its content model, and a retrain fits its own algorithm anew."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY

from server.db import Database
from workers.context import WorkerContext
from workers.training import FITS_DIRECTORY, Outcome, RetrainStatus

NAMES = ("als", "content", "ease")


def reused() -> dict[str, float]:
    return {
        name: REGISTRY.get_sample_value("movierec_fits_reused_total", {"algorithm": name}) or 0.0
        for name in NAMES
    }


def since(before: dict[str, float]) -> dict[str, float]:
    return {name: count - before[name] for name, count in reused().items()}


def test_a_composite_retrain_takes_back_its_components_fits(
    seeded: Database, context: WorkerContext, train: Callable[..., list[Outcome]]
) -> None:
    before = reused()
    train("als", "content")
    # content's holdout served its own content model beside it: the second fit was taken back
    assert since(before) == {"als": 0, "content": 1, "ease": 0}

    before = reused()
    (outcome,) = train("hybrid")
    assert outcome.status in (RetrainStatus.PROMOTED, RetrainStatus.REJECTED)
    # als and content: on the holdout and on everything; content once more, beside the holdout
    assert since(before) == {"als": 2, "content": 3, "ease": 0}

    before = reused()
    train("content", force=True)
    assert since(before) == {"als": 0, "content": 1, "ease": 0}  # fitted anew, then taken


def test_fits_of_an_older_version_of_the_data_are_dropped(
    seeded: Database, context: WorkerContext, train: Callable[..., list[Outcome]]
) -> None:
    root = context.settings.resolved_data_dir / FITS_DIRECTORY
    stale = root / "0" / "als" / "an-old-fit"
    stale.mkdir(parents=True)
    train("content")
    (current,) = [path.name for path in root.iterdir()]
    assert current != "0"
    assert sorted(path.name for path in (root / current).iterdir()) == ["content"]
    assert context.serving.registry.fits is None  # only while a retrain runs

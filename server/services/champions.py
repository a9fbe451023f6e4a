"""The champions: under ``default_algorithm = auto``, the active ranker that serves each segment
of people (new, cold, warm), chosen by the served holdout of each active version.

Each version's holdout is its own (trained at its own time), so candidates are compared by their
lift over the popularity fallback on the same people; a ranker must beat popularity to serve a
segment, else popularity serves it. A change is recorded as a ``ChampionSet`` row, like a
promotion, and can be rolled back; a rollback holds until the next promotion chooses again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.cache import keys
from server.db import now
from server.errors import Conflict
from server.models import ChampionSet, ModelVersion
from server.serving.evaluation import MIN_SEGMENT_USERS, lift
from server.serving.policy import SEGMENTS, Segment

# The name that asks for the champions instead of one algorithm.
AUTO = keys.AUTO
# What serves a segment no ranker beats (its active version, else the live popular list).
POPULARITY = "popularity"
METRIC = "ndcg@10"


@dataclass(frozen=True)
class Candidate:
    """One active version's served figures for one segment."""

    algorithm: str
    version: int
    figures: dict[str, Any]

    @property
    def lift(self) -> float | None:
        """Served NDCG over popularity's on the same people."""
        return lift(self.figures)


def current(session: Session) -> ChampionSet | None:
    """The champion set that serves, if any was chosen."""
    return session.scalar(select(ChampionSet).where(ChampionSet.status == "active"))


def champion_of(champions: ChampionSet | None, segment: Segment) -> str:
    """The algorithm serving ``segment`` (popularity before any choice)."""
    if champions is None:
        return POPULARITY
    entry = champions.choice.get(segment)
    return str(entry["algorithm"]) if isinstance(entry, dict) else POPULARITY


def precomputed(chosen: ChampionSet | None, default_algorithm: str, challenger: str) -> set[str]:
    """The rankers whose lists the workers keep: the champions (each for the people of its
    segments, as their ``auto`` list) and those ``served_by_name``. Any other algorithm asked
    for by name is computed on demand and cached by the read."""
    served = {champion_of(chosen, segment) for segment in SEGMENTS}
    return served | served_by_name(default_algorithm, challenger)


def served_by_name(default_algorithm: str, challenger: str) -> set[str]:
    """The rankers whose own lists are kept for everyone: the configured default when it is
    one algorithm, and the challenger of experiments."""
    return {name for name in (default_algorithm, challenger) if name and name != AUTO}


def champion_reason(champions: ChampionSet | None, segment: Segment) -> str | None:
    """Why ``segment``'s champion was chosen (None before any choice)."""
    entry = None if champions is None else champions.choice.get(segment)
    return str(entry["reason"]) if isinstance(entry, dict) and "reason" in entry else None


def leaderboard(active: dict[str, ModelVersion]) -> dict[Segment, list[Candidate]]:
    """Every ``active`` version with a served holdout, best lift first, per segment."""
    board: dict[Segment, list[Candidate]] = {}
    for algorithm, version in sorted(active.items()):
        served = version.metrics.get("served")
        if not isinstance(served, dict):
            continue
        for segment in SEGMENTS:
            candidate = _candidate(algorithm, version, served, segment)
            if candidate is not None:
                board.setdefault(segment, []).append(candidate)
    for candidates in board.values():
        candidates.sort(key=lambda c: (-(c.lift or 0.0), c.algorithm))
    return board


def _candidate(
    algorithm: str, version: ModelVersion, served: dict[str, Any], segment: Segment
) -> Candidate | None:
    """The version's figures on ``segment``; none when it had too few people to judge by, or
    served none of them itself (a personal model leaves new people to the fallback)."""
    figures = served.get(segment)
    if not isinstance(figures, dict) or figures.get(METRIC) is None:
        return None
    if int(figures.get("users", 0)) < MIN_SEGMENT_USERS or figures.get("own_share", 1.0) == 0:
        return None
    return Candidate(algorithm, version.number, figures)


def choose(active: dict[str, ModelVersion]) -> dict[str, dict[str, Any]]:
    """The best of the ``active`` versions for each segment if it beats popularity, else
    popularity; with why."""
    board = leaderboard(active)
    choice: dict[str, dict[str, Any]] = {}
    for segment in SEGMENTS:
        best = next(iter(board.get(segment, [])), None)
        if best is None or best.lift is None or best.lift <= 1.0:
            reason = (
                "no active ranker beats popularity on the served holdout "
                f"(of at least {MIN_SEGMENT_USERS} such people)"
            )
            if best is not None and best.lift is not None:
                reason = (
                    f"the best, {best.algorithm}, reaches {best.lift:.2f}x popularity: not above it"
                )
            choice[segment] = {"algorithm": POPULARITY, "reason": reason}
            continue
        choice[segment] = {
            "algorithm": best.algorithm,
            "version": best.version,
            METRIC: best.figures[METRIC],
            f"popularity_{METRIC}": best.figures.get(f"popularity_{METRIC}"),
            "users": best.figures.get("users"),
            "reason": (
                f"best served {METRIC} on {segment} people: "
                f"{float(best.figures[METRIC]):.3f}, {best.lift:.2f}x popularity"
            ),
        }
    return choice


def refresh(session: Session, active: dict[str, ModelVersion], cause: str) -> ChampionSet | None:
    """Choose again among the ``active`` versions; record and return a new set when a segment's
    algorithm changed (None when nothing changed)."""
    choice = choose(active)
    serving = current(session)
    if serving is not None and all(
        champion_of(serving, segment) == choice[segment]["algorithm"] for segment in SEGMENTS
    ):
        return None
    return _record(session, choice, cause)


def roll_back(session: Session) -> ChampionSet:
    """Serve the set chosen before the active one again (recorded as a new set)."""
    active = current(session)
    previous = None
    if active is not None:
        previous = session.scalar(
            select(ChampionSet)
            .where(ChampionSet.id < active.id, ChampionSet.status == "retired")
            .order_by(ChampionSet.id.desc())
            .limit(1)
        )
    if active is None or previous is None:
        raise Conflict("no earlier champion set to go back to", code="nothing_to_roll_back")
    return _record(session, dict(previous.choice), f"rolled back to set {previous.id}")


def _record(session: Session, choice: dict[str, Any], cause: str) -> ChampionSet:
    session.execute(
        update(ChampionSet).where(ChampionSet.status == "active").values(status="retired")
    )
    row = ChampionSet(choice=choice, cause=cause[:200], status="active", chosen_at=now())
    session.add(row)
    session.flush()  # the id is the generation of cached "auto" lists
    return row


def history(session: Session, limit: int = 20) -> list[ChampionSet]:
    """The newest champion sets first."""
    return list(session.scalars(select(ChampionSet).order_by(ChampionSet.id.desc()).limit(limit)))

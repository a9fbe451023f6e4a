"""``spark-als``: implicit-feedback ALS trained by Spark MLlib (the optional ``spark`` extra), on
one machine or a cluster, saved as the same factor artifact as ``als``.

The confidence values are ``als``'s (``confidence``: stars weighted by ``weighting`` above
``min_stars``, plus feedback signals). Spark trains on them; its user and item factors, keyed by
the dense indices we give it as ids, become the ``users`` and ``items`` arrays ``als`` saves, so
scoring, similar movies, save and load are ``als``'s own code. Only the objective differs:
Spark's confidence is ``1 + alpha * value`` and its regularization is multiplied by each user's
(movie's) number of positive entries (ALS-WR), so a person is folded in with Spark's update, not
implicit's, and their vector matches what training would have given them.

``MOVIEREC_SPARK_MASTER`` (default ``local[*]``) says where Spark runs; it is read here because
it describes the machine, not the model (the server trains with default parameters, and a
model's configuration is saved with it). Every other Spark setting comes from Spark's own
configuration (``spark-defaults.conf``) when the master is a cluster.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from plugins.base import MissingDependency

# Checked without importing: pyspark is imported by the first fit, never by discovery.
if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pyarrow") is None:
    raise MissingDependency("spark-als needs pyspark and pyarrow: pip install 'movierec[spark]'")
if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
    raise MissingDependency("spark-als needs a Java runtime (17 or later) on PATH or in JAVA_HOME")

from plugins.algorithms.implicit_mf import Weighting, _ImplicitModel, confidence, one_user
from plugins.base import FitOptions, UserState
from plugins.config import ConfigError
from plugins.data import FloatArray, Ratings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MASTER_VARIABLE = "MOVIEREC_SPARK_MASTER"
DEFAULT_MASTER = "local[*]"
# Local mode: the driver is the only executor (Spark's default heap is 1 GB; 2 GB trains 10M
# ratings at 64 factors, benchmarks/spark_als.py).
LOCAL_SETTINGS = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",  # 200 by default: tiny tasks on one machine
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",  # listen on this machine only
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
}
# Each iteration lengthens the lineage Spark serializes with every task: past about a dozen the
# driver overflows its stack unless the factors are checkpointed (which needs a checkpoint dir).
CHECKPOINT_INTERVAL = 5
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkAlsConfig:
    """``als``'s settings where they mean the same. ``regularization`` is Spark's ``regParam``
    (per positive entry: about ``als``'s value divided by a person's number of ratings);
    ``blocks`` is Spark's number of user and item blocks (0: Spark's default parallelism, the
    cores in local mode)."""

    factors: int = 64
    regularization: float = 0.2
    alpha: float = 2.0
    iterations: int = 15
    weighting: Weighting = "centered"
    min_stars: float = 0.0
    blocks: int = 0

    def validate(self) -> None:
        """Reject settings that cannot train."""
        if self.factors < 1 or self.iterations < 1 or self.alpha <= 0:
            raise ConfigError("factors and iterations must be >= 1, alpha > 0")
        if self.regularization <= 0 or self.blocks < 0:
            raise ConfigError("regularization must be > 0, blocks >= 0")


class SparkAls(_ImplicitModel):
    """Spark MLlib's ``ALS(implicitPrefs=True)`` on ``als``'s confidence values."""

    name = "spark-als"
    version = "1"
    capabilities = frozenset({"rank", "similar", "fold_in"})
    config_class = SparkAlsConfig
    _item_gram: np.ndarray | None = None  # YᵀY for fold-in, made on first use

    def _fit(self, ratings: Ratings, options: FitOptions) -> None:
        c = self.config
        weights = confidence(ratings, c.weighting, c.min_stars)
        users, movies = weights.shape
        self.user_factors = np.zeros((users, c.factors), np.float32)
        self.item_factors = np.zeros((movies, c.factors), np.float32)
        self._item_gram = None
        if weights.nnz == 0:  # Spark refuses empty data; nobody has a preference to learn
            return
        from pyspark.ml.recommendation import ALS  # the extra, imported only to train

        session = spark_session()
        blocks = c.blocks or session.sparkContext.defaultParallelism
        model = ALS(
            rank=c.factors,
            maxIter=c.iterations,
            regParam=c.regularization,
            alpha=c.alpha,
            implicitPrefs=True,
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            seed=options.seed,
            checkpointInterval=CHECKPOINT_INTERVAL,
            userCol="user",
            itemCol="item",
            ratingCol="confidence",
        ).fit(confidence_frame(session, weights))
        fill_factors(self.user_factors, model.userFactors)
        fill_factors(self.item_factors, model.itemFactors)

    def _user_extra(self, state: UserState) -> FloatArray | None:
        if state.index is not None:
            return np.asarray(self.user_factors[state.index], np.float32)
        if len(state.rated) == 0 and len(state.signal_items) == 0:
            return None
        row = confidence(one_user(state, self.data), self.config.weighting, self.config.min_stars)
        return self._solve_user(row.indices, row.data)

    def _solve_user(self, items: np.ndarray, values: np.ndarray) -> FloatArray:
        """Spark's update of one user given the item factors Y, for confidence values r on
        ``items``: (YᵀY + Σ alpha·r·yyᵀ + λ·n·I) x = Σ (1 + alpha·r)·y, n the number of
        positive r (Spark's ``computeFactors``)."""
        rank = self.item_factors.shape[1]
        positive = values > 0
        if not positive.any():  # Spark leaves such a user out: a zero vector, as in training
            return np.zeros(rank, np.float32)
        factors = self.item_factors[items].astype(np.float64)
        extra = self.config.alpha * np.abs(values.astype(np.float64))
        gram = self._gram() + (factors.T * extra) @ factors
        gram[np.diag_indices(rank)] += self.config.regularization * np.count_nonzero(positive)
        target = factors.T @ np.where(positive, 1.0 + extra, 0.0)
        return np.linalg.solve(gram, target).astype(np.float32)

    def _gram(self) -> np.ndarray:
        """YᵀY in float64, as Spark sums it; computed once, fold-in runs per request."""
        if self._item_gram is None:
            items = self.item_factors.astype(np.float64)
            self._item_gram = items.T @ items
        return self._item_gram

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self._item_gram = None


def spark_session() -> SparkSession:
    """The process's Spark session: the active one, else one made for ``MOVIEREC_SPARK_MASTER``
    (local mode gets a small, quiet, loopback-only setup). Starting Spark takes seconds, so it
    is kept for the next fit."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        return session
    master = os.environ.get(MASTER_VARIABLE) or DEFAULT_MASTER
    builder = SparkSession.builder.master(master).appName("movierec-spark-als")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master.startswith("local"):
        settings = {**LOCAL_SETTINGS, "spark.checkpoint.dir": _local_checkpoints()}
        for key, value in settings.items():
            builder = builder.config(key, value)
    with warnings.catch_warnings():
        # pyspark imports its pandas checks on start; spark-als sends Arrow, never pandas
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    if session.sparkContext.getCheckpointDir() is None:
        log.warning(
            "spark-als: no spark.checkpoint.dir on %s; a dozen iterations or more may overflow "
            "the driver's stack (set it in spark-defaults.conf to a directory every executor "
            "reaches)",
            master,
        )
    return session


@functools.cache
def _local_checkpoints() -> str:
    """A checkpoint directory for local mode, removed when the process exits."""
    directory = tempfile.mkdtemp(prefix="movierec-spark-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def confidence_frame(session: SparkSession, weights: sp.csr_matrix) -> DataFrame:
    """(user, item, confidence) rows with our dense indices as Spark's integer ids, sent to
    Spark as Arrow columns (a Python row per rating would take minutes at 10M)."""
    import pyarrow as pa

    users = np.repeat(np.arange(weights.shape[0], dtype=np.int32), np.diff(weights.indptr))
    table = pa.table(
        {
            "user": users,
            "item": weights.indices.astype(np.int32),
            "confidence": weights.data.astype(np.float32),
        }
    )
    return session.createDataFrame(table)


def fill_factors(target: FloatArray, frame: DataFrame) -> None:
    """Write Spark's (id, features) rows into ``target`` at row ``id``; rows Spark did not
    return (no positive confidence) keep their zeros."""
    table = frame.toArrow()
    ids = table.column("id").to_numpy()
    features = table.column("features").combine_chunks().flatten().to_numpy()
    if len(ids) and (ids.min() < 0 or ids.max() >= len(target)):
        raise ValueError(f"Spark returned ids outside 0..{len(target) - 1}")
    target[ids] = features.reshape(len(ids), target.shape[1])

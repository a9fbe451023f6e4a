"""Posters and overviews from TMDb's API for the movies that have a TMDb id (``movierec enrich``
and the worker task ``movierec.data.enrich``).

Only movies never asked are asked (``movies.details_checked_at`` is set after each answer, a 404
included), and the answers are written in batches of ``COMMIT_EVERY``: a run stopped part-way
keeps what it wrote, and the next run goes on from there. Requests are paced at
``MOVIEREC_TMDB_REQUESTS_PER_SECOND`` and wait as long as a 429's ``Retry-After`` says. A poster
path is only ever filled where there is none, an overview only where there is none (an empty
answer never replaces one).

The API key is sent (as the ``api_key`` query parameter, or as a bearer token when it is an API
read access token) and never put in a message, a log line or an exception.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from server.config import ENV_PREFIX, Settings
from server.db import Database, now
from server.models import Movie
from server.presentation import clean_poster_path

# Answers written per transaction: a stopped run loses at most this many lookups.
COMMIT_EVERY = 50
# How long one request may take before it counts as failed (and is asked again next run).
TIMEOUT_SECONDS = 10.0
# A 429 without a usable Retry-After waits this long; a longer Retry-After is cut to the cap so
# a misbehaving server cannot park the run for hours.
DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 60.0
# The run stops after this many 429s for one movie, or this many failed lookups in a row (TMDb
# or the network is in trouble: asking on would only fail faster).
MAX_RATE_LIMITED = 5
MAX_FAILURES_IN_A_ROW = 10
# An overview longer than this is cut (what the API accepts for one, too).
OVERVIEW_LENGTH = 20_000
KEY_SETTING = f"{ENV_PREFIX}TMDB_API_KEY"


class EnrichError(Exception):
    """Why enriching cannot start or cannot go on: one line, without the API key."""


class _Failed(Exception):
    """One lookup failed (a 5xx, a timeout, an answer that is not JSON); asked again next run."""


@dataclass
class EnrichReport:
    """What one run did."""

    to_ask: int = 0  # movies still missing data when the run started (up to its limit)
    asked: int = 0
    posters: int = 0
    overviews: int = 0
    not_found: int = 0
    failed: int = 0
    remaining: int = 0  # movies still to ask after the run
    stopped: str | None = None  # why the run stopped early (None: it finished)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (the worker task returns it)."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a person."""
        return (
            f"asked TMDb about {self.asked} movies: {self.posters} posters and {self.overviews} "
            f"overviews filled, {self.not_found} not on TMDb, {self.failed} failed (asked again "
            f"next run); {self.remaining} movies still to ask"
        )


@dataclass(frozen=True)
class MovieDetails:
    """What TMDb says of a movie that we keep."""

    poster_path: str | None
    overview: str | None


class TmdbClient:
    """``GET {base}/3/movie/{tmdb_id}`` at a steady pace; None for a movie TMDb does not know."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        requests_per_second: float,
        *,
        timeout: float = TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.interval = 1.0 / requests_per_second
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self._next_at = 0.0
        # Whether TMDb answered at all yet: a first request that times out means unreachable.
        self._answered = False

    def __repr__(self) -> str:  # the key stays out of any traceback or log line
        return f"TmdbClient({self.base_url!r})"

    def _request(self, tmdb_id: int) -> urllib.request.Request:
        url = f"{self.base_url}/3/movie/{int(tmdb_id)}"
        token = _is_read_access_token(self._api_key)
        if not token:
            url += "?" + urllib.parse.urlencode({"api_key": self._api_key})
        # The base URL is http(s) only (``Settings`` checks it).
        request = urllib.request.Request(  # noqa: S310
            url, headers={"Accept": "application/json", "User-Agent": "movierec"}
        )
        if token:  # not sent on to wherever a redirect points
            request.add_unredirected_header("Authorization", f"Bearer {self._api_key}")
        return request

    def _pace(self) -> None:
        """Wait until the next request is due: at most ``requests_per_second``."""
        moment = self.clock()
        if self._next_at > moment:
            self.sleep(self._next_at - moment)
            moment = self._next_at
        self._next_at = moment + self.interval

    def movie(self, tmdb_id: int) -> MovieDetails | None:
        """The poster path and overview of ``tmdb_id``; None when TMDb has no such movie.

        ``EnrichError`` when TMDb cannot be reached or refuses the key (nothing more can be
        done), ``_Failed`` for one failed lookup.
        """
        for _ in range(MAX_RATE_LIMITED):
            self._pace()
            try:
                request = self._request(tmdb_id)
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                    body = answer.read()
            except urllib.error.HTTPError as error:
                self._answered = True
                status = error.code
                retry_after = error.headers.get("Retry-After") if error.headers else None
                body = _read_quietly(error)
                if status == 404 and _is_json_object(body):
                    return None
                if status == 404:  # not TMDb's JSON: a wrong URL must not mark every movie
                    raise _Failed(
                        f"HTTP 404 that is not TMDb's (is {ENV_PREFIX}TMDB_API_URL right?)"
                    ) from None
                if status == 429:
                    self.sleep(_retry_after(retry_after))
                    continue
                if status in (401, 403):
                    raise EnrichError(
                        f"TMDb refused the API key (HTTP {status}): check {KEY_SETTING}"
                    ) from None
                raise _Failed(f"HTTP {status}") from None
            except urllib.error.URLError as error:
                reason = error.reason
                if isinstance(reason, TimeoutError) and self._answered:  # a slow moment
                    raise _Failed("timed out") from None
                raise EnrichError(
                    f"cannot reach TMDb at {self.base_url} ({_reason(reason)})"
                ) from None
            except (OSError, http.client.HTTPException) as error:  # timed out or cut mid-answer
                if isinstance(error, TimeoutError) and not self._answered:
                    raise EnrichError(
                        f"cannot reach TMDb at {self.base_url} (no answer within "
                        f"{self.timeout:g} s)"
                    ) from None
                raise _Failed(type(error).__name__) from None
            self._answered = True
            return _details(body)
        raise EnrichError(
            f"TMDb kept answering 429 Too Many Requests ({MAX_RATE_LIMITED} times for one movie): "
            f"lower {ENV_PREFIX}TMDB_REQUESTS_PER_SECOND"
        )


def _is_read_access_token(key: str) -> bool:
    """TMDb's API read access token is a JWT (three dot-separated parts, far longer than the
    32 hexadecimal characters of a v3 API key): it goes in the Authorization header."""
    return key.count(".") == 2 and len(key) > 64


def _read_quietly(error: urllib.error.HTTPError) -> bytes:
    """The body of an error answer (empty when it cannot be read), the connection closed."""
    try:
        return error.read(65_536)
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        error.close()


def _is_json_object(body: bytes) -> bool:
    """True for a JSON object: what TMDb's API answers, a 404 included."""
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (a number of seconds; a date or nothing: the
    default), within the cap."""
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _reason(reason: object) -> str:
    """A network failure in a few words ("Connection refused", "Name or service not known")."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _details(body: bytes) -> MovieDetails:
    """The fields we keep of a movie's JSON; ``_Failed`` for an answer that is not one."""
    try:
        document = json.loads(body)
    except ValueError:
        raise _Failed("the answer is not JSON") from None
    if not isinstance(document, dict):
        raise _Failed("the answer is not a JSON object")
    poster = document.get("poster_path")
    overview = document.get("overview")
    text = (
        overview.replace("\x00", "").strip()[:OVERVIEW_LENGTH] if isinstance(overview, str) else ""
    )
    return MovieDetails(
        clean_poster_path(poster if isinstance(poster, str) else None), text or None
    )


def client_from_settings(settings: Settings) -> TmdbClient:
    """A client for the configured TMDb API; ``EnrichError`` without an API key."""
    if not settings.tmdb_api_key:
        raise EnrichError(
            f"no TMDb API key: set {KEY_SETTING} to a v3 API key or an API read access token "
            "(https://www.themoviedb.org/settings/api)"
        )
    return TmdbClient(
        settings.tmdb_api_url, settings.tmdb_api_key, settings.tmdb_requests_per_second
    )


def _missing_details() -> Any:
    """Movies with a TMDb id, never asked, that lack a poster or an overview."""
    return (
        Movie.tmdb_id.is_not(None),
        Movie.details_checked_at.is_(None),
        or_(Movie.poster_path.is_(None), Movie.overview.is_(None), Movie.overview == ""),
    )


def count_missing(session: Session) -> int:
    """How many movies ``enrich_movies`` would ask TMDb about."""
    return session.scalar(select(func.count()).select_from(Movie).where(*_missing_details())) or 0


def enrich_movies(
    database: Database,
    client: TmdbClient,
    limit: int | None = None,
    progress: Callable[[EnrichReport], None] | None = None,
) -> EnrichReport:
    """Ask TMDb about every movie still missing data (the first ``limit`` by id) and fill in
    posters and overviews; ``progress`` sees the report after each movie.

    Never raises for TMDb's or the network's trouble: the report's ``stopped`` says why the run
    ended early, and what it did before is written.
    """
    report = EnrichReport()
    with database.transaction() as session:
        statement = select(Movie.id, Movie.tmdb_id).where(*_missing_details()).order_by(Movie.id)
        if limit is not None:
            statement = statement.limit(limit)
        todo = [(movie, tmdb) for movie, tmdb in session.execute(statement) if tmdb is not None]
    report.to_ask = len(todo)
    answers: list[tuple[int, MovieDetails | None]] = []
    failures_in_a_row = 0
    try:
        for movie, tmdb_id in todo:
            try:
                details = client.movie(tmdb_id)
            except _Failed as failure:
                report.failed += 1
                failures_in_a_row += 1
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    report.stopped = (
                        f"{failures_in_a_row} lookups in a row failed (the last: {failure}); "
                        "run again later"
                    )
                    break
            except EnrichError as error:
                report.stopped = str(error)
                break
            else:
                failures_in_a_row = 0
                report.asked += 1
                answers.append((movie, details))
                if len(answers) >= COMMIT_EVERY:
                    _write(database, answers, report)
            if progress is not None:
                progress(report)
    finally:  # an interrupted run (Ctrl-C, a stopping worker) keeps what it was told
        _write(database, answers, report)
        with database.transaction() as session:
            report.remaining = count_missing(session)
    return report


def _write(
    database: Database, answers: list[tuple[int, MovieDetails | None]], report: EnrichReport
) -> None:
    """Store a batch of answers (and empty the list): fill only what is missing, mark each movie
    asked. Counted in ``report`` once committed."""
    if not answers:
        return
    stamp = now()
    posters = overviews = not_found = 0
    with database.transaction() as session:
        current = {
            movie: (poster, overview)
            for movie, poster, overview in session.execute(
                select(Movie.id, Movie.poster_path, Movie.overview).where(
                    Movie.id.in_([movie for movie, _ in answers])
                )
            )
        }
        for movie, details in answers:
            values: dict[str, Any] = {"details_checked_at": stamp}
            poster, overview = current.get(movie, (None, None))
            if details is None:
                not_found += 1
            else:
                if poster is None and details.poster_path is not None:
                    values["poster_path"] = details.poster_path
                    posters += 1
                if not overview and details.overview is not None:
                    values["overview"] = details.overview
                    overviews += 1
            session.execute(update(Movie).where(Movie.id == movie).values(**values))
    report.posters += posters
    report.overviews += overviews
    report.not_found += not_found
    answers.clear()

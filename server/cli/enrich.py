"""``movierec enrich [--limit N] [--queue]``: posters and overviews from TMDb's API for the movies
that have a TMDb id (``server/services/enrich.py``)."""

from __future__ import annotations

import time

import click

from server.cli.common import load_settings, migrated_database
from server.services.enrich import EnrichError, EnrichReport, client_from_settings, enrich_movies
from server.tasks import ENRICH_MOVIES, TRAINING_QUEUE, TaskQueue

# A progress line on stderr every this many movies, or this many seconds, whichever comes first.
PROGRESS_EVERY_MOVIES = 100
PROGRESS_EVERY_SECONDS = 10.0


@click.command("enrich")
@click.option(
    "--limit", type=click.IntRange(min=1), help="Ask about at most this many movies this run."
)
@click.option("--queue", "through_queue", is_flag=True, help="Send it to the workers instead.")
def enrich_command(limit: int | None, through_queue: bool) -> None:
    """Fill posters and overviews from TMDb's API (MOVIEREC_TMDB_API_KEY) for movies with a TMDb
    id that lack them.

    Paced at MOVIEREC_TMDB_REQUESTS_PER_SECOND. Each movie is asked once (a movie TMDb does not
    know is remembered as asked); what a stopped run wrote is kept, and running it again goes on
    from there.
    """
    settings = load_settings()
    try:
        client = client_from_settings(settings)  # refuses at once without a key, queued or not
    except EnrichError as error:
        raise click.ClickException(str(error)) from None
    if through_queue:
        if not TaskQueue(settings).send(ENRICH_MOVIES, [limit], TRAINING_QUEUE):
            raise click.ClickException("the task broker is not reachable; try again shortly")
        click.echo("queued: a worker asks TMDb for posters and overviews (its log tells how far)")
        return
    report = enrich_movies(migrated_database(settings), client, limit, _Progress())
    if report.stopped is not None:
        kept = f"; the {report.asked} movies asked before are kept" if report.asked else ""
        raise click.ClickException(f"{report.stopped}{kept}")
    click.echo(report.summary())


class _Progress:
    """Prints a line on stderr every ``PROGRESS_EVERY_MOVIES`` movies or
    ``PROGRESS_EVERY_SECONDS``."""

    def __init__(self) -> None:
        self.shown_at = time.monotonic()
        self.shown_done = 0

    def __call__(self, report: EnrichReport) -> None:
        done = report.asked + report.failed
        if (
            done - self.shown_done < PROGRESS_EVERY_MOVIES
            and time.monotonic() - self.shown_at < PROGRESS_EVERY_SECONDS
        ):
            return
        self.shown_at, self.shown_done = time.monotonic(), done
        click.echo(
            f"enrich: {done}/{report.to_ask} movies asked ({report.failed} failed)", err=True
        )

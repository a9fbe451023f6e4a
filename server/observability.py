"""The web's side of operations: every request gets an id (``X-Request-ID``, echoed in the
response and carried by its log records) and its latency counted by endpoint and status; and
``GET /metrics``, Prometheus's scrape, open to the networks of ``MOVIEREC_METRICS_ALLOW`` and,
when ``MOVIEREC_METRICS_TOKEN`` is set, only with that bearer token.

The hooks are cheap (a header read, a clock read, one histogram observation): the pages and the
API do not slow down measurably.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import re
import time
from functools import cache
from typing import Any

from flask import Blueprint, Flask, Response, request

from server.context import get_db, get_settings
from server.http_errors import error_response
from server.logs import REQUEST_ID_HEADER, current_request_id, request_id_from
from server.metrics import exposition, metrics

bp = Blueprint("metrics", __name__)

# A request no route matched (a 404, a 405): one label, not one per path asked for.
UNMATCHED = "unmatched"


# When the current request started (None outside a request): a context variable, like the
# request id, as each of gunicorn's threads answers its own request; cheaper than flask.g.
_request_started: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "movierec_request_started", default=None
)
# The latency histogram's series, by (endpoint, method, status): found without the lock
# prometheus-client takes in labels().
_series: dict[tuple[str, str, int], Any] = {}


def _start_request() -> None:
    _request_started.set(time.perf_counter())
    current_request_id.set(request_id_from(request.headers.get(REQUEST_ID_HEADER)))


# A route's label names its variables alone: ``<movie_id:movie_id>`` reads ``<movie_id>``.
_CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def _finish_request(response: Response) -> Response:
    request_id = current_request_id.get()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = _request_started.get()
    if started is not None:
        rule = request.url_rule
        route = UNMATCHED if rule is None else _CONVERTER.sub(r"<\1>", rule.rule)
        key = (route, request.method, response.status_code)
        series = _series.get(key)
        if series is None:
            series = _series.setdefault(key, metrics().request_seconds.labels(*map(str, key)))
        series.observe(time.perf_counter() - started)
    return response


def _end_request(_error: BaseException | None) -> None:
    # The thread answers its next request, or logs outside one, without this one's id.
    current_request_id.set(None)
    _request_started.set(None)


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus's scrape: every process's metrics and the database's gauges."""
    settings = get_settings()
    if not _allowed_address(settings.metrics_allow, request.remote_addr):
        return error_response(403, "forbidden", "Metrics are not served to this address.")
    if settings.metrics_token and not _has_token(settings.metrics_token):
        response = error_response(401, "unauthorized", "Metrics need the bearer token.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition(get_db(), request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _has_token(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _allowed_address(networks: tuple[str, ...], address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:  # a Unix socket's peer, or a test client's made-up address
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(networks))


@cache
def _networks(
    networks: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)


def init_app(app: Flask) -> None:
    """Register the request hooks (first, so they time the others) and ``/metrics``."""
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_blueprint(bp)

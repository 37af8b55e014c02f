"""What every route's Lambda handler does around its route: the request id in every log line, the
query parameters a route does not read refused, every error mapped in one place (handlers.wire.http),
and one `Responses` metric per answer by status class."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from handlers.domain.errors import PaymentError
from handlers.entrypoints import wiring
from handlers.entrypoints.observability import emit_metric, log_context
from handlers.entrypoints.settings import Settings
from handlers.wire import http
from handlers.wire.validation import refuse_query_parameters

logger = logging.getLogger("handlers.api")  # the name the API functions' log lines carry
RESPONSE_DIMENSION_SETS = (("FunctionName",), ("FunctionName", "StatusClass"))

_Route = Callable[[http.Event], http.Response]
_Handler = Callable[[http.Event, Any], http.Response]


def entry_point(route: _Route) -> _Handler:
    """A route that takes no query parameter: any is refused with a 400 naming it."""
    return _wrap(route, reads_query=False)


def query_entry_point(route: _Route) -> _Handler:
    """A route that parses (and checks) its own query parameters."""
    return _wrap(route, reads_query=True)


def _wrap(route: _Route, *, reads_query: bool) -> _Handler:
    """Wrap a route: request context in every log line, every error mapped in one place, and one
    `Responses` metric per answer by status class. Every exception becomes a 5xx answer, so Lambda's
    Errors metric sees only crashes: this is what shows a function failing (its 5xx alarm)."""

    @functools.wraps(route)
    def handle(event: http.Event, context: Any) -> http.Response:
        with log_context(request_id=http.request_id(event)):
            response = _answer(route, event, reads_query=reads_query)
            _count_response(getattr(context, "function_name", None) or route.__name__, response)
            return response

    return handle


def _answer(route: _Route, event: http.Event, *, reads_query: bool) -> http.Response:
    try:
        wiring.settings()
        if not reads_query:
            refuse_query_parameters(http.query_parameters(event))
        return route(event)
    except PaymentError as e:
        return http.error_response(e, event)
    except Exception as e:
        logger.exception("unhandled_error")
        return http.error_response(e, event)


def _count_response(function_name: str, response: http.Response) -> None:
    """By FunctionName (all answers) and FunctionName + StatusClass: the alarm divides one by the other."""
    dimensions = {"FunctionName": function_name, "StatusClass": f"{int(response['statusCode']) // 100}xx"}
    emit_metric(_metrics_namespace(), "Responses", 1, "Count", dimensions, dimension_sets=RESPONSE_DIMENSION_SETS)


def _metrics_namespace() -> str:
    """The configured namespace, even when the rest of the configuration is too broken to load: a
    misconfigured version answers 500 to everything, which is exactly what its 5xx alarm must see."""
    try:
        return wiring.settings().metrics_namespace
    except Exception:
        return os.environ.get("METRICS_NAMESPACE") or Settings.from_env({}).metrics_namespace

"""gunicorn's logs as JSON lines, in the handlers' format (handlers.entrypoints.observability.JsonFormatter,
which masks anything that looks like a card number).

The access log names the method, the path (decoded, then masked), the status, the size, the time
taken and the request id: never the query string (it may carry a cursor or anything a client
put there), a header or a body.
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from handlers.entrypoints.observability import JsonFormatter


class JsonLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no type hints: Any
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        self.access_log.info("request", extra=access_fields(resp, environ, request_time))


def access_fields(resp: Any, environ: dict[str, Any], request_time: Any) -> dict[str, object]:
    status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
    return {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "status": int(status),
        "bytes": getattr(resp, "sent", None),
        "duration_ms": round(request_time.total_seconds() * 1000, 1),
        "request_id": _header(resp.headers, "x-request-id"),
    }


def _header(headers: Any, name: str) -> str | None:
    pairs = headers.items() if hasattr(headers, "items") else headers
    return next((str(value) for key, value in pairs if key.lower() == name), None)

"""The embedded DynamoDB: moto's server, pinned to one region so both gateways share one table.

moto keeps a separate backend per region (taken from the SigV4 credential scope), so the
eu-west-1 and us-east-1 gateways would see two different tables. In AWS a global table
replicates between them; locally, rewriting every request's region to TABLE_REGION gives one
table with immediate "replication".

It runs on a keep-alive server (local_gateway.wsgi_server), not werkzeug's development server
(which closes every connection), and DynamoDB's own calls reach moto's `DynamoHandler` without
Flask (`DynamoDBApp`): moto answers every call as its own server would, only the plumbing
around it is cheaper (docs/performance.md; the stack's child also installs
local_gateway.moto_speedups and local_gateway.indexed_table).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from botocore.exceptions import ClientError
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.settings import DISABLE_GLOBAL_CORS
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import InternalServerError

from local_gateway.topology import TABLE_REGION
from local_gateway.wsgi_server import KeepAliveWSGIServer

_CREDENTIAL_SCOPE_REGION = re.compile(r"(Credential=[^/,]+/\d{8}/)([^/]+)/")
_USER_AGENT_REGION = re.compile(r"region/[a-z0-9-]+")
log = logging.getLogger("local_gateway.moto_server")
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."  # X-Amz-Target of every DynamoDB call (not Streams)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RegionPinningMiddleware:
    def __init__(self, app: WsgiApp, region: str = TABLE_REGION) -> None:
        self._app = app
        self._region = region

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization and not self._pinned(authorization):
            environ["HTTP_AUTHORIZATION"] = _CREDENTIAL_SCOPE_REGION.sub(rf"\g<1>{self._region}/", authorization)
        user_agent = environ.get("HTTP_USER_AGENT")
        if user_agent and "region/" in user_agent:  # botocore's own agent names no region
            environ["HTTP_USER_AGENT"] = _USER_AGENT_REGION.sub(f"region/{self._region}", user_agent)
        return self._app(environ, start_response)

    def _pinned(self, authorization: str) -> bool:
        """One credential scope, already this region's (eu-west-1's calls): nothing to rewrite."""
        if authorization.count("Credential=") != 1:
            return False
        match = _CREDENTIAL_SCOPE_REGION.search(authorization)
        return match is None or match.group(2) == self._region


class DynamoDBFirst:
    """DynamoDB's own calls straight to moto's DynamoDB app; anything else (`/moto-api`, streams...)
    through moto's dispatcher, which looks for the service on every request under one lock and
    cost ~8% of this process's CPU under load (docs/performance.md)."""

    def __init__(self, dynamodb: WsgiApp, others: WsgiApp) -> None:
        self._dynamodb = dynamodb
        self._others = others

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET_PREFIX):
            return self._dynamodb(environ, start_response)
        return self._others(environ, start_response)


_LOCAL_HOST = re.compile(r"127\.0\.0\.1:(?!80$)\d{1,5}")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class _ServerRequest(Request):
    """moto's request type as its own server makes it (moto adds no Date header: the server does).

    For DynamoDB's own calls (a JSON body POSTed to `/` on 127.0.0.1, no query) the body, its empty
    form and the URL are given as werkzeug would work them out, which it does lazily and at a cost
    (a form parser per request, the URL rebuilt from the environ): ~10% of a call's CPU."""

    from_wsgi_server = True

    @classmethod
    def of(cls, environ: dict[str, Any]) -> _ServerRequest:
        request = cls(environ)
        if _plain_json_post(environ) and not recorder._user_enabled:  # the recorder reads the body itself
            known = request.__dict__
            body = _whole_body(environ)
            if body is None:
                body = request.stream.read()  # werkzeug's own stream, left read to its end as werkzeug leaves it
            else:
                known["stream"] = environ["wsgi.input"]  # read to its end, as werkzeug's would be
            known["form"], known["files"], known["data"] = ImmutableMultiDict(), ImmutableMultiDict(), body
            request._cached_data = body
            known["_plain_url"] = f"http://{environ['HTTP_HOST']}/"
        return request

    def headers_dict(self) -> dict[str, str]:
        """dict(self.headers), as moto's Flask view passes it, without werkzeug's lookups per header."""
        if PRESERVED_HEADER_NAMES_ENVIRON_KEY in self.environ:
            return dict(self.headers)
        found: dict[str, str] = {}
        for key, value in self.environ.items():  # werkzeug's EnvironHeaders.__iter__, then its lookups
            if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                found[key[5:].replace("_", "-").title()] = value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                found[key.replace("_", "-").title()] = value
        return found

    @property
    def raw_url(self) -> str:
        plain: str | None = self.__dict__.get("_plain_url")
        return plain if plain is not None else super().raw_url


def _whole_body(environ: dict[str, Any]) -> bytes | None:
    """The body from local_gateway.wsgi_server's input (all of it, unread): what werkzeug's stream
    would read; None for any other input."""
    stream = environ["wsgi.input"]
    if type(stream) is not io.BytesIO or stream.tell() != 0:
        return None
    body = stream.read()
    if len(body) != int(environ["CONTENT_LENGTH"]):
        stream.seek(0)
        return None
    return body


def _plain_json_post(environ: dict[str, Any]) -> bool:
    content_type = environ.get("CONTENT_TYPE", "")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("RAW_URI", environ.get("PATH_INFO")) == "/"
        and not environ.get("QUERY_STRING")
        and not environ.get("SCRIPT_NAME")
        and environ.get("wsgi.url_scheme") == "http"
        and _LOCAL_HOST.fullmatch(environ.get("HTTP_HOST", "")) is not None
        and str(environ.get("CONTENT_LENGTH", "")).isdigit()
        and bool(content_type)
        and not content_type.lower().startswith(_FORM_TYPES)
        and "HTTP_CONTENT_ENCODING" not in environ
    )


class DynamoDBApp:
    """What moto's Flask app does for DynamoDB's one route (`POST /`, `convert_to_flask_response`
    around `DynamoHandler.dispatch`), without Flask's per-request machinery; anything else (another
    path or method) goes to moto's Flask app itself."""

    def __init__(self, flask_app: WsgiApp) -> None:
        self._flask_app = flask_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") not in ("/", ""):
            return self._flask_app(environ, start_response)
        request = _ServerRequest.of(environ)
        recorder._record_request(request)
        try:
            status, headers, body = DynamoHandler.dispatch(request, request.raw_url, request.headers_dict())
        except ClientError as error:  # as convert_to_flask_response answers it
            status, headers, body = 400, {}, error.response["Error"]["Message"]
        except Exception:  # a bug in moto: werkzeug's 500 page, as moto's server (Flask in debug mode) sends it
            log.exception("moto failed on %s", environ.get("HTTP_X_AMZ_TARGET"))
            return InternalServerError()(environ, start_response)
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        fields = [(name, str(value)) for name, value in headers.items()]
        if not any(name.lower() == "content-type" for name, _ in fields):
            fields.append(("Content-Type", "text/html; charset=utf-8"))  # as a Flask Response without one
        if not DISABLE_GLOBAL_CORS:
            fields.append(("Access-Control-Allow-Origin", "*"))  # as moto's app (flask_cors) adds it
        start_response(f"{int(status)} {HTTPStatus(int(status)).phrase}", fields)
        return [payload]


def make_dynamodb_server(port: int) -> KeepAliveWSGIServer:
    dispatcher = DomainDispatcherApplication(create_backend_app)
    dynamodb = DynamoDBApp(create_backend_app("dynamodb"))
    return KeepAliveWSGIServer(port, RegionPinningMiddleware(DynamoDBFirst(dynamodb, dispatcher)))

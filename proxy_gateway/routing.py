"""Match a request to an API Gateway resource path template, as API Gateway REST APIs do.

Templates are `handlers.contract.routes` paths: literal segments, `{name}` (one segment) and `{name+}`
(greedy, the rest of the path). A literal segment wins over a variable one, a trailing slash is
ignored, and path parameters are URL-decoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from handlers.contract.routes import Route

_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Template:
    route: Route
    segments: tuple[str, ...]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        parameters: dict[str, str] = {}
        for index, pattern in enumerate(self.segments):
            kind = _kind(pattern)
            if kind == _GREEDY:
                rest = segments[index:]
                if not rest:
                    return None
                parameters[pattern[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(segments):
                return None
            if kind == _VARIABLE:
                parameters[pattern[1:-1]] = unquote(segments[index])
            elif unquote(segments[index]) != pattern:
                return None
        return parameters if len(segments) == len(self.segments) else None

    def specificity(self) -> tuple[int, ...]:
        """Sorts literal-first, segment by segment: API Gateway's precedence."""
        return tuple(_kind(segment) for segment in self.segments)


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        templates = [_Template(route, tuple(_split(route.path))) for route in routes]
        self._templates = sorted(templates, key=_Template.specificity)

    def match(self, method: str, path: str) -> RouteMatch | None:
        segments = _split(path)
        for template in self._templates:
            if template.route.method not in (method, "ANY"):
                continue
            parameters = template.match(segments)
            if parameters is not None:
                return RouteMatch(template.route, parameters)
        return None


def _split(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    if segment.startswith("{") and segment.endswith("}"):
        return _VARIABLE
    return _LITERAL

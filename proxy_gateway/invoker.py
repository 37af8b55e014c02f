"""Resolve Lambda entry points by dotted name (as `handlers.contract.routes` names them) and invoke them.

Unlike Lambda, one process serves many concurrent invocations on threads, so handler modules'
lazily created globals must tolerate being initialised by two threads at once.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

from handlers.contract.routes import Function
from proxy_gateway.lambda_proxy import LambdaContext

Handler = Callable[[dict[str, Any], Any], object]


class LambdaInvoker:
    def __init__(self, region: str) -> None:
        self._region = region
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def invoke(self, function: Function, event: dict[str, Any]) -> object:
        return self.resolve(function.handler)(event, LambdaContext.for_function(function, self._region))

    def resolve(self, dotted_name: str) -> Handler:
        with self._lock:
            handler = self._handlers.get(dotted_name)
            if handler is None:
                handler = self._handlers[dotted_name] = load_object(dotted_name)
            return handler

    def preload(self, functions: Iterable[Function]) -> None:
        """Import every entry point now, so a broken handler fails at startup, not on a request."""
        for function in functions:
            self.resolve(function.handler)


def load_object(dotted_name: str) -> Handler:
    module_name, _, attribute = dotted_name.rpartition(".")
    target = getattr(importlib.import_module(module_name), attribute)
    if not callable(target):
        raise TypeError(f"{dotted_name} is not callable")
    return cast(Handler, target)

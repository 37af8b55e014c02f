"""Every Lambda handler string the contract names (routes, authorizer, resolver, simulator) resolves
to a callable: the infrastructure deploys these strings as they are."""

from __future__ import annotations

import importlib

import pytest

from handlers.contract.routes import AUTHORIZER, BANK_SIMULATOR, RESOLVER, ROUTES, Function

NAMED = sorted({route.function for route in ROUTES} | {AUTHORIZER, RESOLVER, BANK_SIMULATOR})


@pytest.mark.parametrize("function", NAMED, ids=[function.name for function in NAMED])
def test_each_named_handler_imports_and_is_callable(function: Function) -> None:
    module, _, attribute = function.handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))

"""moto 5.2.5's DynamoDB, the same answers for less CPU: work it repeats on every call, done once.

Each is a pure function of its inputs in moto, so its result is kept, or its loop made linear;
tests/local/test_moto_speedups.py checks each against moto's own code. Found by profiling the
embedded DynamoDB under load (docs/performance.md):
- `method_names_from_class`: moto lists a response class's methods with `inspect.getmembers`
  on every call (~10% of a call's CPU). The list depends only on the class.
- `ConditionExpressionParser.parse`: a condition is parsed twice per conditional write (once to
  validate it, once to apply it) and the project sends the same few conditions all the time
  (~13%). The tree depends only on the expression, its names and its values, and moto never
  changes it once built: it is kept per (expression, names, values), least recently used out.
- `Item.__init__`: every attribute added re-measures the whole item against the 400 KB limit,
  quadratic in the number of attributes (~8%). The running total gives the same checks.
- `AttributeValue` in and out: moto's generic request parser and response serializer walk its
  ten members for every attribute of every item (the serializer under several aliases each):
  ~13% and ~15% of a call. An attribute value of one key (S, N, BOOL, NULL, SS, NS, or M and L
  of such) parses and serializes to itself; anything else (B, BS, odd values) takes moto's path.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from botocore.model import Shape
from moto.core import responses as moto_responses
from moto.core.parse import BaseJSONParser
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.comparisons import ConditionExpressionParser, Func, Op
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

# moto's own figure (dynamo_type.LimitedSizeDict): between the documented 400 KB and the measured 410.
ITEM_SIZE_LIMIT = 405000
PARSED_CONDITIONS_KEPT = 4096

_moto_method_names = getattr(moto_responses, "method_names_from_class")  # noqa: B009 - not exported
_moto_parse = ConditionExpressionParser.parse
_moto_serialize_structure = BaseJSONSerializer._serialize_type_structure
_moto_parse_structure: Callable[..., Any] = BaseJSONParser._parse_structure


@functools.cache
def method_names_from_class(clazz: object) -> list[str]:
    names: list[str] = _moto_method_names(clazz)
    return names


class _ParsedConditions:
    """(expression, names, values) -> the parsed tree and the names and values it used."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, tuple[Op | Func, list[str], list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, parser: ConditionExpressionParser) -> Op | Func:
        if not parser.condition_expression:
            return _moto_parse(parser)
        key = (
            parser.condition_expression,
            _frozen(parser.expression_attribute_names),
            _frozen(parser.expression_attribute_values),
        )
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        if kept is None:
            names_before, values_before = len(parser.expr_attr_names_found), len(parser.expr_attr_values_found)
            tree = _moto_parse(parser)  # a malformed expression raises here, every time, as in moto
            kept = (
                tree,
                parser.expr_attr_names_found[names_before:],
                parser.expr_attr_values_found[values_before:],
            )
            with self._lock:
                self._kept[key] = kept
                if len(self._kept) > self._size:
                    self._kept.popitem(last=False)
            return tree
        tree, names, values = kept
        parser.expr_attr_names_found.extend(names)
        parser.expr_attr_values_found.extend(values)
        return tree


def _frozen(value: Any) -> Hashable:
    """A hashable twin of a request's JSON-like value; types stay apart ({"N": "1"} is not {"S": "1"})."""
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((key, _frozen(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(item) for item in value))
    if isinstance(value, bytearray):
        return ("bytes", bytes(value))
    return (type(value).__name__, value)


PARSED_CONDITIONS = _ParsedConditions(PARSED_CONDITIONS_KEPT)


def _parse_condition(self: ConditionExpressionParser) -> Op | Func:
    return PARSED_CONDITIONS.parse(self)


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's Item.__init__ with LimitedSizeDict's check made on a running total: the same checks in
    the same order (the item so far plus the new attribute, each time), in linear time."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size = bytesize(key) + typed.size()
        if total + size > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)
        total += size


class _Unsure(Exception):
    """An attribute value this module does not claim to serialize as moto does."""


_AS_IS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
_SETS = frozenset({"SS", "NS"})


def _serialize_structure(
    self: BaseJSONSerializer, serialized: dict[str, Any], value: Any, shape: Shape, key: str
) -> None:
    if shape.name == "AttributeValue" and key and not _transforms(self):
        try:
            plain = _attribute_value(value)
        except _Unsure:
            pass
        else:
            serialized[shape.serialization.get("name", key)] = plain
            return
    _moto_serialize_structure(self, serialized, value, shape, key)  # type: ignore[arg-type]


def _transforms(serializer: BaseJSONSerializer) -> bool:
    """moto's response transformers (per key path; none for DynamoDB) need its own path."""
    return bool(getattr(serializer._value_picker, "response_transformers", True))


def _attribute_value(value: Any) -> dict[str, Any]:
    """What moto's serializer makes of a stored attribute value, or _Unsure."""
    if type(value) is not dict or len(value) != 1:
        raise _Unsure
    ((kind, inner),) = value.items()
    expected = _AS_IS.get(kind)
    if expected is not None and type(inner) is expected:
        return {kind: inner}
    if kind in _SETS and type(inner) is list and all(type(member) is str for member in inner):
        return {kind: list(inner)}
    if kind == "M" and type(inner) is dict and "" not in inner:
        return {"M": {name: _attribute_value(member) for name, member in inner.items()}}
    if kind == "L" and type(inner) is list:
        return {"L": [_attribute_value(member) for member in inner]}
    raise _Unsure


_SCALARS = frozenset({"S", "N", "BOOL", "NULL"})


def _parse_structure(self: BaseJSONParser, shape: Shape, value: Any) -> Any:
    if shape.name == "AttributeValue" and self.MAP_TYPE is dict:
        try:
            return _parsed_attribute_value(value)
        except _Unsure:
            pass
    return _moto_parse_structure(self, shape, value)


def _parsed_attribute_value(value: Any) -> dict[str, Any]:
    """What moto's JSON parser makes of a request's attribute value (its members in the model's
    order, a null member dropped, blobs decoded...), for the values it leaves as they are."""
    if type(value) is not dict or len(value) != 1:
        raise _Unsure
    ((kind, inner),) = value.items()
    if inner is None:
        raise _Unsure
    if kind in _SCALARS:
        return {kind: inner}
    if kind in _SETS and type(inner) is list:
        return {kind: list(inner)}
    if kind == "M" and type(inner) is dict:
        return {"M": {name: _parsed_attribute_value(member) for name, member in inner.items()}}
    if kind == "L" and type(inner) is list:
        return {"L": [_parsed_attribute_value(member) for member in inner]}
    raise _Unsure


def patches() -> list[tuple[object, str, object]]:
    """(target, attribute, value) for each speed-up."""
    return [
        (moto_responses, "method_names_from_class", method_names_from_class),
        (ConditionExpressionParser, "parse", _parse_condition),
        (Item, "__init__", _item_init),
        (BaseJSONSerializer, "_serialize_type_structure", _serialize_structure),
        (BaseJSONParser, "_parse_structure", _parse_structure),
    ]


def install() -> None:
    for target, name, value in patches():
        setattr(target, name, value)

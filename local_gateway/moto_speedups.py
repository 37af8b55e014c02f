"""moto 5.2.5's DynamoDB, the same answers for less CPU: work it repeats on every call, done once.

Each is a pure function of its inputs in moto, so its result is kept, or its loop made linear;
tests/local/test_moto_speedups.py checks each against moto's own code. Found by profiling the
embedded DynamoDB under load (docs/performance.md):
- `method_names_from_class`: moto lists a response class's methods with `inspect.getmembers`
  on every call (~10% of a call's CPU). The list depends only on the class.
- `ConditionExpressionParser.parse`: a condition is parsed twice per conditional write (once to
  validate it, once to apply it) and the project sends the same few conditions all the time
  (~13%). The tree depends only on the expression, its names and its values, and moto never
  changes it once built: it is kept, with the values as slots filled per call (moto's parse looks
  at a value only to make its operand, and in BETWEEN, which keeps the values in its key).
- `Item.__init__`: every attribute added re-measures the whole item against the 400 KB limit,
  quadratic in the number of attributes (~8%). The running total gives the same checks.
- `AttributeValue` in and out: moto's generic request parser and response serializer walk its
  ten members for every attribute of every item (the serializer under several aliases each):
  ~13% and ~15% of a call. An attribute value of one key (S, N, BOOL, NULL, SS, NS, or M and L
  of such) parses and serializes to itself; anything else (B, BS, odd values) takes moto's path.
  A map of them (an item, a key, the expression's values) is parsed in one comprehension, not
  two generic dispatches per entry.
- `gen_amzn_requestid_long`: every answer's 52-character request id, drawn with one `choice`
  per character (~2% of a call). `choices` draws the same characters from moto's own random
  source in a third of the time. Seeding moto still makes ids repeatable, but not the sequence
  plain moto gives for that seed (`choices` consumes the source differently).

And one setting of the process, not of moto (`tune_collector`): the emulator's heap grows with the
table (every stored attribute is an object), and each of Python's full collections scans all of it.
"""

from __future__ import annotations

import functools
import gc
import string
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import MapShape, Shape
from moto.core import responses as moto_responses
from moto.core.parse import BaseJSONParser
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.comparisons import (
    AttributeValue,
    ConditionExpressionParser,
    Func,
    FuncBetween,
    Op,
    OpDefault,
)
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.moto_api._internal import mock_random

# moto's own figure (dynamo_type.LimitedSizeDict): between the documented 400 KB and the measured 410.
ITEM_SIZE_LIMIT = 405000
PARSED_CONDITIONS_KEPT = 4096

_moto_method_names = getattr(moto_responses, "method_names_from_class")  # noqa: B009 - not exported
_moto_parse = ConditionExpressionParser.parse
_moto_serialize_structure = BaseJSONSerializer._serialize_type_structure
_moto_parse_structure: Callable[..., Any] = BaseJSONParser._parse_structure
_moto_parse_map: Callable[..., Any] = BaseJSONParser._parse_map


@functools.cache
def method_names_from_class(clazz: object) -> list[str]:
    names: list[str] = _moto_method_names(clazz)
    return names


class _ParsedConditions:
    """Parsed condition trees, least recently used out. A condition whose values are all plain
    (one type each) is kept as a template per (expression, names, value placeholders), whose value
    slots take each call's values: the claim's condition carries a new owner and time on every
    payment. Anything else is kept per (expression, names, values)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, _Parsed] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, parser: ConditionExpressionParser) -> Op | Func:
        expression = parser.condition_expression
        if not expression:
            return _moto_parse(parser)
        values = parser.expression_attribute_values
        names = _frozen(parser.expression_attribute_names)
        values_key = (expression, names, _frozen(values))
        kept = self._get(values_key)
        if kept is not None:  # the same values again (the transition's): the same tree
            self._found(parser, kept)
            return kept.tree
        template_key = (expression, names, tuple(sorted(values or ()))) if _plain(values) else None
        kept = self._get(template_key) if template_key is not None else None
        if kept is not None and kept is not _NO_TEMPLATE:  # new values (the claim's owner and time)
            self._found(parser, kept)
            tree: Op | Func = _bound(kept.tree, values or {}, {})
            return tree
        names_before, values_before = len(parser.expr_attr_names_found), len(parser.expr_attr_values_found)
        tree = _moto_parse(parser)  # a malformed expression raises here, every time, as in moto
        found = (parser.expr_attr_names_found[names_before:], parser.expr_attr_values_found[values_before:])
        self._put(values_key, _Parsed(tree, *found))
        if template_key is not None and kept is None:
            template = _template(parser)  # None: a value checked while parsing (BETWEEN)
            self._put(template_key, _NO_TEMPLATE if template is None else _Parsed(template, *found))
        return tree

    @staticmethod
    def _found(parser: ConditionExpressionParser, kept: _Parsed) -> None:
        parser.expr_attr_names_found.extend(kept.names_found)
        parser.expr_attr_values_found.extend(kept.values_found)

    def _get(self, key: Hashable) -> _Parsed | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            return kept

    def _put(self, key: Hashable, parsed: _Parsed) -> None:
        with self._lock:
            self._kept[key] = parsed
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)


@dataclass(frozen=True)
class _Parsed:
    tree: Op | Func  # kept per (expression, names, placeholders): a template, its values slots
    names_found: list[str]
    values_found: list[str]


# Kept per (expression, names, placeholders): this condition's parse looks at its values.
_NO_TEMPLATE = _Parsed(OpDefault(None, None), [], [])  # type: ignore[arg-type]

_TREE_NODES = (Op, Func)
# A template's value slot: a string no request's value is compared with (templates hold only these).
_SLOT = "\x00local_gateway.moto_speedups slot:"
_PLAIN_TYPES = {"S": str, "N": str, "BOOL": bool}


def _plain(values: Any) -> bool:
    """Values moto turns into operands without a check that could fail or depend on them."""
    if values is None:
        return True
    if type(values) is not dict:
        return False
    for value in values.values():
        if type(value) is not dict or len(value) != 1:
            return False
        ((kind, inner),) = value.items()
        if type(inner) is not _PLAIN_TYPES.get(kind):
            return False
    return True


def _template(parser: ConditionExpressionParser) -> Op | Func | None:
    """The condition parsed again with a slot for each value; None if its parse looks at values."""
    slots = {name: {"S": _SLOT + name} for name in parser.expression_attribute_values or {}}
    try:
        tree = _moto_parse(
            ConditionExpressionParser(parser.condition_expression, parser.expression_attribute_names, slots)
        )
    except Exception:  # moto parsed the real values; were the slots refused, the values' own key is used
        return None
    return None if _contains(tree, FuncBetween) else tree


def _contains(node: Any, kind: type, seen: set[int] | None = None) -> bool:
    seen = set() if seen is None else seen
    if id(node) in seen:
        return False
    seen.add(id(node))
    if isinstance(node, kind):
        return True
    if isinstance(node, list | tuple):
        return any(_contains(child, kind, seen) for child in node)
    if isinstance(node, Op | Func):
        return any(_contains(child, kind, seen) for child in vars(node).values())
    return False


def _bound(node: Any, values: Mapping[str, Any], copies: dict[int, Any]) -> Any:
    """The template with each slot's value operand made from this call's value (a fresh tree)."""
    bound = copies.get(id(node))
    if bound is not None:
        return bound
    kind = type(node)
    if kind is AttributeValue and node.type == "S" and str(node.value).startswith(_SLOT):
        bound = AttributeValue(values[node.value[len(_SLOT) :]])
    elif kind is list or kind is tuple:
        bound = kind(_bound(child, values, copies) for child in node)
    elif isinstance(node, _TREE_NODES):
        bound = object.__new__(kind)  # moto's nodes: plain objects, their state in __dict__
        bound.__dict__.update({name: _bound(child, values, copies) for name, child in vars(node).items()})
    else:
        bound = node  # paths, strings: shared, moto never changes them
    copies[id(node)] = bound
    return bound


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


def _parse_map(self: BaseJSONParser, shape: MapShape, value: Any) -> Any:
    """A map of attribute values by name: each key as is (a JSON parser's string), each value as
    `_parse_structure` parses it; anything else, or a value it is unsure of, takes moto's path."""
    if (
        self.MAP_TYPE is dict
        and type(value) is dict
        and shape.value.name == "AttributeValue"
        and shape.key.type_name == "string"
        and not hasattr(self, "_parse_string")
    ):
        try:
            return {name: _parsed_attribute_value(member) for name, member in value.items()}
        except _Unsure:
            pass
    return _moto_parse_map(self, shape, value)


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


_REQUEST_ID_CHARACTERS = string.ascii_letters + string.digits  # moto's get_random_string pool, digits included
_REQUEST_ID_LENGTH = 52


def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
    """moto's request id (52 letters and digits, from its own random source), drawn at once."""
    request_id = "".join(mock_random.choices(_REQUEST_ID_CHARACTERS, k=_REQUEST_ID_LENGTH))
    if headerdict is not None and isinstance(headerdict, dict):
        headerdict.update({"x-amzn-requestid": request_id})
    return request_id


# Python's own first two thresholds, then a full collection every 100 middle ones instead of every 10
# (CPython also waits until a quarter of the heap is new). A replay of 12,000 calls of the stack:
# -12% of CPU per call (docs/performance.md); cycles among new objects are still found as often.
EMULATOR_GC_THRESHOLDS = (700, 10, 100)


def tune_collector() -> None:
    """Once the emulator is built: what exists now (moto's modules, models, the service model) is
    moved out of every future collection, and full collections of the growing heap come rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*EMULATOR_GC_THRESHOLDS)


def patches() -> list[tuple[object, str, object]]:
    """(target, attribute, value) for each speed-up."""
    return [
        (moto_responses, "method_names_from_class", method_names_from_class),
        (ConditionExpressionParser, "parse", _parse_condition),
        (Item, "__init__", _item_init),
        (BaseJSONSerializer, "_serialize_type_structure", _serialize_structure),
        (BaseJSONParser, "_parse_structure", _parse_structure),
        (BaseJSONParser, "_parse_map", _parse_map),
        (moto_responses, "gen_amzn_requestid_long", gen_amzn_requestid_long),
    ]


def install() -> None:
    for target, name, value in patches():
        setattr(target, name, value)

"""local_gateway.moto_speedups: each speed-up gives what moto's own code gives (the embedded server as
a whole is compared with moto as it ships in test_dynamodb_server.py)."""

from __future__ import annotations

import itertools
import json
import random
import string
from decimal import Decimal
from typing import Any

import pytest
from moto.core.parse import BaseJSONParser, JSONParser
from moto.core.responses import BaseResponse
from moto.core.serialize import BaseJSONSerializer, XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model
from moto.dynamodb.comparisons import ConditionExpressionParser, OpDefault
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api._internal import mock_random
from moto.utilities.aws_headers import gen_amzn_requestid_long

from local_gateway import moto_speedups
from local_gateway.moto_speedups import ITEM_SIZE_LIMIT

MOTO_ITEM_INIT = Item.__init__
MOTO_PARSE = ConditionExpressionParser.parse
MOTO_REQUEST_ID = gen_amzn_requestid_long
CONDITIONS = (
    "attribute_not_exists(#pk)",
    "attribute_not_exists(#pk) OR #expires <= :now OR #owner = :owner",
    "#status = :previous AND attempt = :attempt",
    "attempt = :previous OR #owner = :owner",
    "NOT (#status IN (:previous, :owner)) AND size(#owner) > :attempt",
    "begins_with(#owner, :owner) OR attempt BETWEEN :attempt AND :now",
    # The lifecycle's filters (handlers.adapters.dynamo, dynamo_operations): a list by status keeps
    # every operation, the reference search none, the resolver only what is due.
    "#status IN (:status0, :status1) OR attribute_exists(#kind)",
    "#status IN (:status0) OR attribute_exists(#kind)",
    "#reference = :reference AND attribute_not_exists(#kind)",
    "#due <= :now",
)
NAMES = {
    "#pk": "pk",
    "#expires": "expires_at",
    "#owner": "owner",
    "#status": "status",
    "#kind": "kind",
    "#reference": "bank_reference",
    "#due": "due_at",
}


def test_nothing_was_patched_before_these_tests() -> None:
    """Each comparison below takes moto's side from moto's classes as they are: no earlier test of the
    session may have left a speed-up installed."""
    left = [name for target, name, value in moto_speedups.patches() if getattr(target, name) is value]
    assert left == []


def test_a_class_s_method_names_are_moto_s() -> None:
    names = moto_speedups.method_names_from_class(DynamoHandler)
    assert names == moto_speedups._moto_method_names(DynamoHandler)
    assert "put_item" in names
    assert moto_speedups.method_names_from_class(DynamoHandler) is names  # computed once


@pytest.mark.parametrize("seed", range(3))
def test_a_kept_condition_judges_every_item_as_a_fresh_parse_does(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_speedups, "PARSED_CONDITIONS", moto_speedups._ParsedConditions(64))
    rng = random.Random(seed)
    items = [_item(rng) for _ in range(30)]
    for expression in itertools.chain.from_iterable(itertools.repeat(CONDITIONS, 6)):
        names = {key: value for key, value in NAMES.items() if key in expression}
        values = _values(rng, expression)
        fresh = ConditionExpressionParser(expression, names, values)
        kept = ConditionExpressionParser(expression, names, values)
        fresh_tree, kept_tree = MOTO_PARSE(fresh), moto_speedups._parse_condition(kept)
        assert [_judged(kept_tree, item) for item in items] == [_judged(fresh_tree, item) for item in items]
        assert (kept.expr_attr_names_found, kept.expr_attr_values_found) == (
            fresh.expr_attr_names_found,
            fresh.expr_attr_values_found,
        )


def _counted_parses(monkeypatch: pytest.MonkeyPatch, kept: int) -> list[object]:
    """The values of each parse moto does from now on, with a fresh cache of `kept` entries."""
    parses: list[object] = []

    def counted(parser: ConditionExpressionParser) -> Any:
        parses.append(parser.expression_attribute_values)
        return MOTO_PARSE(parser)

    monkeypatch.setattr(moto_speedups, "_moto_parse", counted)
    monkeypatch.setattr(moto_speedups, "PARSED_CONDITIONS", moto_speedups._ParsedConditions(kept))
    return parses


def test_a_condition_is_parsed_once_and_then_takes_each_call_s_values(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _counted_parses(monkeypatch, kept=2)
    item = Item(DynamoType({"S": "k"}), None, {"attempt": {"N": "1"}})
    expression = "attempt = :v"
    trees = [
        moto_speedups._parse_condition(ConditionExpressionParser(expression, {}, values))
        for values in ({":v": {"N": "1"}}, {":v": {"N": "2"}}, {":v": {"S": "1"}}, {":v": {"N": "1"}})
    ]
    assert [tree.expr(item) for tree in trees] == [True, False, False, True]
    assert len(parses) == 2  # the call's own parse, then the template's; the other calls fill its slots
    assert trees[3] is trees[0]  # the same values: the same tree
    assert len({id(tree) for tree in trees[:3]}) == 3


def test_a_between_condition_is_kept_per_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's BETWEEN looks at its bounds while parsing (a NULL bound is refused there): no slots."""
    parses = _counted_parses(monkeypatch, kept=8)
    expression = "attempt BETWEEN :low AND :high"
    low_high = {":low": {"N": "1"}, ":high": {"N": "3"}}
    for values in (low_high, low_high, {":low": {"N": "5"}, ":high": {"N": "9"}}):
        moto_speedups._parse_condition(ConditionExpressionParser(expression, {}, values))
    assert len(parses) == 1 + 1 + 1  # the first, its template refused, then the other values
    with pytest.raises(ValueError, match="NULL"):
        moto_speedups._parse_condition(
            ConditionExpressionParser(expression, {}, {":low": {"NULL": True}, ":high": {"N": "3"}})
        )


def test_the_least_recently_used_condition_goes_first() -> None:
    kept = moto_speedups._ParsedConditions(2)
    a, b, c = (moto_speedups._Parsed(OpDefault(None, None), [], []) for _ in range(3))  # type: ignore[arg-type]
    kept._put("a", a)
    kept._put("b", b)
    assert kept._get("a") is a
    kept._put("c", c)
    assert (kept._get("a"), kept._get("b"), kept._get("c")) == (a, None, c)


def test_values_equal_in_python_but_not_in_type_are_other_keys() -> None:
    assert moto_speedups._frozen({":v": [True, 1]}) != moto_speedups._frozen({":v": [1, True]})
    assert moto_speedups._frozen({"a": {"N": "1"}}) == moto_speedups._frozen({"a": {"N": "1"}})


def test_a_malformed_condition_fails_every_time_as_in_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_speedups, "PARSED_CONDITIONS", moto_speedups._ParsedConditions(8))
    for expression, values in (("attribute_not_exists(pk", {}), ("attempt = :missing", {}), ("attempt = = 1", {})):
        with pytest.raises(Exception) as moto_failure:
            MOTO_PARSE(ConditionExpressionParser(expression, {}, values))
        for _ in range(2):
            with pytest.raises(type(moto_failure.value), match=_escaped(moto_failure.value)):
                moto_speedups._parse_condition(ConditionExpressionParser(expression, {}, values))


@pytest.mark.parametrize("seed", range(4))
def test_an_item_is_measured_against_the_limit_as_moto_measures_it(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        sizes = [rng.randint(1, ITEM_SIZE_LIMIT // 3) for _ in range(rng.randint(1, 5))]
        attrs: dict[str, Any] = {f"a{n}": {"S": "x" * size} for n, size in enumerate(sizes)}
        if rng.random() < 0.3:
            attrs["nested"] = {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "abc"}, {"BOOL": True}]}}}
        assert _built(moto_speedups._item_init, attrs) == _built(MOTO_ITEM_INIT, attrs)


def test_an_item_just_over_the_limit_is_refused_and_one_at_it_is_not() -> None:
    at_limit = {"k": {"S": "x" * (ITEM_SIZE_LIMIT - 1)}}  # 1 byte of name, the rest value
    over = {"k": {"S": "x" * ITEM_SIZE_LIMIT}}
    assert _built(moto_speedups._item_init, at_limit) == _built(MOTO_ITEM_INIT, at_limit) != "too large"
    assert _built(moto_speedups._item_init, over) == _built(MOTO_ITEM_INIT, over) == "too large"


@pytest.mark.parametrize("seed", range(4))
def test_items_are_serialized_as_moto_serializes_them(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    for operation in ("GetItem", "Query", "PutItem"):
        for _ in range(25):
            item = {f"a{n}": _attribute(rng, depth=0) for n in range(rng.randint(0, 6))}
            result = {"Item": item} if operation == "GetItem" else {"Attributes": item}
            if operation == "Query":
                result = {"Items": [item, {"pk": {"S": "x"}}], "Count": 2, "ScannedCount": 2}
            moto_body = _serialized(operation, result)
            monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", moto_speedups._serialize_structure)
            assert _serialized(operation, result) == moto_body
            monkeypatch.undo()


@pytest.mark.parametrize("seed", range(4))
def test_requests_are_parsed_as_moto_parses_them(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every map of attribute values the project sends (an item, a key, a start key, the expression's
    values, inside a transaction too), with odd values and odd maps among them."""
    rng = random.Random(seed)
    for _ in range(60):
        operation, request = _request(rng)
        monkeypatch.setattr(BaseJSONParser, "_parse_structure", moto_speedups._moto_parse_structure)
        monkeypatch.setattr(BaseJSONParser, "_parse_map", moto_speedups._moto_parse_map)
        moto_parsed = _parsed(operation, request)
        monkeypatch.setattr(BaseJSONParser, "_parse_structure", moto_speedups._parse_structure)
        monkeypatch.setattr(BaseJSONParser, "_parse_map", moto_speedups._parse_map)
        assert _parsed(operation, request) == moto_parsed, request
        monkeypatch.undo()


def _request(rng: random.Random) -> tuple[str, dict[str, Any]]:
    values = _attribute_map(rng, ":v")
    names = {"#n": "status"} if rng.random() < 0.5 else rng.choice([{}, {"#n": 5}, None])
    put = {"TableName": "t", "Item": _attribute_map(rng, "a"), "ExpressionAttributeValues": values}
    if names is not None:
        put["ExpressionAttributeNames"] = names
    key = _attribute_map(rng, "k")
    return rng.choice(
        [
            ("PutItem", put),
            ("GetItem", {"TableName": "t", "Key": key, "ConsistentRead": True}),
            ("Query", {"TableName": "t", "ExpressionAttributeValues": values, "ExclusiveStartKey": key, "Limit": 3}),
            ("UpdateItem", {"TableName": "t", "Key": key, "ExpressionAttributeValues": values}),
            (
                "TransactWriteItems",
                {"TransactItems": [{"Put": put}, {"ConditionCheck": {"TableName": "t", "Key": key}}]},
            ),
        ]
    )


def _attribute_map(rng: random.Random, prefix: str) -> Any:
    """A map of attribute values by name, or now and then something else where one is expected."""
    if rng.random() < 0.08:
        return rng.choice([None, [], "text", {"a": None}, {}])
    return {f"{prefix}{n}": _request_value(rng, depth=0) for n in range(rng.randint(0, 6))}


def _parsed(operation: str, request: dict[str, Any]) -> object:
    parser = JSONParser(get_service_model("dynamodb").operation_model(operation), map_type=dict)
    try:
        return parser.parse({"body": json.dumps(request).encode()})  # type: ignore[typeddict-item]
    except Exception as error:  # an odd value moto cannot parse: it must fail the same way
        return repr(error)


def _request_value(rng: random.Random, depth: int) -> Any:
    """What a client may send as an attribute value, odd ones included."""
    kind = rng.choice(["S", "N", "BOOL", "NULL", "SS", "NS", "B", "BS", "odd"] + (["M", "L"] * (depth < 3)))
    if kind == "M":
        return {"M": {f"k{n}": _request_value(rng, depth + 1) for n in range(rng.randint(0, 3))}}
    if kind == "L":
        return {"L": [_request_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    if kind == "odd":
        return rng.choice(
            [{"S": None}, {"S": "a", "N": "1"}, {"X": "1"}, {}, {"SS": "ab"}, {"S": 5}, {"M": None}, {"L": "x"}, "text"]
        )
    simple = {
        "S": "text",
        "N": "12.5",
        "BOOL": False,
        "NULL": True,
        "SS": ["a"],
        "NS": ["1"],
        "B": "eA==",
        "BS": ["eA=="],
    }
    return {kind: simple[kind]}


def test_values_moto_stores_otherwise_take_moto_s_own_path() -> None:
    for odd in ({"B": b"x"}, {"S": None}, {"S": 1}, {"M": {"": {"S": "x"}}}, {"SS": ["a", 1]}, {"S": "a", "N": "1"}):
        with pytest.raises(moto_speedups._Unsure):
            moto_speedups._attribute_value({"L": [{"S": "fine"}, odd]})


def _serialized(operation: str, result: dict[str, Any]) -> object:
    model = get_service_model("dynamodb")
    serializer = get_serializer_class("dynamodb", "json")(
        operation_model=model.operation_model(operation),
        value_picker=XFormedAttributePicker(response_transformers={}),
    )
    return json.loads(serializer.serialize(result)["body"])


def _attribute(rng: random.Random, depth: int) -> Any:
    kinds = ["S", "N", "BOOL", "NULL", "SS", "NS", "B", "BS", "S-odd"] + (["M", "L"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "M":
        return {"M": {f"k{n}": _attribute(rng, depth + 1) for n in range(rng.randint(0, 3))}}
    if kind == "L":
        return {"L": [_attribute(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    simple: dict[str, Any] = {
        "S": "text",
        "N": "12.5",
        "BOOL": rng.random() < 0.5,
        "NULL": True,
        "SS": ["a", "b"],
        "NS": ["1", "2"],
        "B": b"\x00bytes",
        "BS": [b"a", b"b"],
        "S-odd": {"S": None} if rng.random() < 0.5 else {"S": 5},
    }
    value = simple[kind]
    return value if kind == "S-odd" else {kind: value}


def _judged(tree: Any, item: Item) -> object:
    try:
        return bool(tree.expr(item))
    except ValueError as error:  # e.g. size() of a missing attribute, as moto raises it
        return repr(error)


def _built(init: Any, attrs: dict[str, Any]) -> object:
    item = Item.__new__(Item)
    try:
        init(item, DynamoType({"S": "h"}), None, attrs)
    except ItemSizeTooLarge:
        return "too large"
    return {name: (value.type, value.value) for name, value in item.attrs.items()}


def _item(rng: random.Random) -> Item:
    attrs: dict[str, Any] = {"pk": {"S": "MERCHANT#m"}}
    if rng.random() < 0.8:
        attrs["status"] = {"S": rng.choice(("pending", "authorized", "o1"))}
    if rng.random() < 0.8:
        attrs["attempt"] = {"N": str(rng.randint(0, 3))}
    if rng.random() < 0.8:
        attrs["owner"] = {"S": rng.choice(("o1", "o2", "o"))}
    if rng.random() < 0.8:
        attrs["expires_at"] = {"N": str(rng.randint(0, 9))}
    if rng.random() < 0.4:  # an operation's item
        attrs["kind"] = {"S": rng.choice(("capture", "void", "refund"))}
    if rng.random() < 0.6:
        attrs["bank_reference"] = {"S": rng.choice(("ref-1", "ref-2"))}
    if rng.random() < 0.6:
        attrs["due_at"] = {"N": rng.choice(("3", "4.5", "7.25"))}
    return Item(DynamoType({"S": "MERCHANT#m"}), None, attrs)


def _values(rng: random.Random, expression: str) -> dict[str, Any]:
    candidates = {
        ":now": {"N": str(rng.randint(0, 9)) + rng.choice(("", ".5"))},
        ":owner": {"S": rng.choice(("o1", "o2", "o"))},
        ":previous": rng.choice(({"S": "pending"}, {"N": "1"})),
        ":attempt": {"N": str(Decimal(rng.randint(0, 3)))},
        ":status0": {"S": rng.choice(("pending", "authorized", "captured"))},
        ":status1": {"S": rng.choice(("voided", "authorized"))},
        ":reference": {"S": rng.choice(("ref-1", "ref-2", "ref-3"))},
    }
    return {name: value for name, value in candidates.items() if name in expression}


def _escaped(error: BaseException) -> str:
    import re  # noqa: PLC0415

    return re.escape(str(error))


def test_a_request_id_is_moto_s_kind_and_set_on_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """52 letters and digits, as moto's own, on every answer moto enriches (where moto calls it),
    repeatable once moto's random is seeded (though not moto's own sequence: `choices` draws otherwise)."""
    for target, name, value in moto_speedups.patches():
        monkeypatch.setattr(target, name, value)
    drawn = "".join(moto_speedups.gen_amzn_requestid_long() for _ in range(400))
    assert set(drawn) == set(string.ascii_letters + string.digits)  # every character of moto's pool, nothing else
    state = mock_random.getstate()
    try:
        mock_random.seed(7)
        headers, _ = BaseResponse._enrich_response({}, "")
        mock_random.seed(7)
        assert headers == {"x-amzn-requestid": moto_speedups.gen_amzn_requestid_long()}
        mock_random.seed(7)
        moto_own = MOTO_REQUEST_ID()
    finally:
        mock_random.setstate(state)
    assert len(headers["x-amzn-requestid"]) == len(moto_own) == 52
    assert headers["x-amzn-requestid"] != moto_own  # this module's, not moto's, answered

"""moto's DynamoDB table, indexed by partition: a Query reads its own partition, not the whole table.

moto 5.2.5's `Table.query` starts from `Table.all_items()`, which builds and sorts every item of the
table, on every Query, index queries included: its cost grows with the table, not with the answer
(docs/performance.md, "The embedded default under the design load"). `IndexedTable` keeps, for the
base table and for each secondary index, every partition's keys in sorted order (updated on each
put, delete and update), and hands moto's own `Table.query` only the items that query can reach:
those of the queried partition inside the sort-key condition, after the ExclusiveStartKey, at most
Limit of them plus the next one (which tells moto whether to return a LastEvaluatedKey). moto's
code still does everything else (key conditions, order, filters, projections, Select=COUNT, pages),
so its answers are those of plain moto; tests/local/test_indexed_table.py checks that on random
sequences of writes and queries. Anything the index is not sure about (legacy QueryFilter,
multi-attribute index keys, a start key from another partition, pages near 1 MB...) takes moto's
own path over the whole table, as before.
"""

from __future__ import annotations

import bisect
import copy
import logging
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

log = logging.getLogger("local_gateway.indexed_table")

# A page stops at 1 MB; an item is at most 400 KB. Candidates this large take moto's own path, where
# an item outside the key condition can still end a page by its size.
_MAX_ITEM_BYTES = 400 * 1024
_SIZE_SAFE_BYTES = RESULT_SIZE_LIMIT - _MAX_ITEM_BYTES
# moto's names for a sort-key condition (as the expression spells it, or KeyConditions' operator).
_OPERATORS = {
    **{name: name for name in ("EQ", "LT", "LE", "GT", "GE", "BETWEEN", "BEGINS_WITH")},
    **{"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"},
}
_LOWER_BOUND_LEFT = frozenset({"EQ", "GE", "BETWEEN", "BEGINS_WITH"})
_NO_LOWER_BOUND = frozenset({"LT", "LE"})

TableKey = tuple[DynamoType, DynamoType | None]
SortKey = tuple[DynamoType, ...]
# A key's values as plain Python values (moto's `cast_value`): moto orders DynamoTypes by comparing
# these, so tuples of them sort as moto sorts, with comparisons in C instead of moto's properties.
NativeKey = tuple[Any, ...]
# (native sort key, sort key, native table key, table key): sorted by the first, which is unique in
# a partition (a view sorts by its own range key, then the table's hash and range keys).
Entry = tuple[NativeKey, SortKey, NativeKey, TableKey]

_native_sort_key = operator.itemgetter(0)


def _native(value: DynamoType) -> Any:
    """`value.cast_value` for a key's types (S, N, B), without its chain of type checks."""
    kind = value.type
    if kind in {"S", "B"}:
        return value.value
    if kind == "N":
        return Decimal(value.value)
    return value.cast_value


def _native_table_key(key: TableKey) -> NativeKey:
    """What moto's items dict tells keys apart by (DynamoType's hash and equality: type and cast value)."""
    hash_key, range_key = key
    if range_key is None:
        return (hash_key.type, _native(hash_key), None, None)
    return (hash_key.type, _native(hash_key), range_key.type, _native(range_key))


def _window_value(entry: Entry) -> DynamoType:
    return entry[1][0]


def _native_window_value(entry: Entry) -> Any:
    return entry[0][0]


class _View:
    """One sorted view: the base table or one secondary index. Each partition (by the view's hash
    key value) is a list of entries in ascending order, the order moto sorts a Query's items in:
    `sort_attributes` are the attributes moto sorts by after the hash key. `sort_types` are their
    declared types: an item whose value has another type breaks the index (moto's own path from
    then on), so every position of a native key holds values of one type, compared as moto would."""

    def __init__(
        self,
        hash_attribute: str,
        sort_attributes: Sequence[str],
        sort_types: Sequence[str | None],
        member: Callable[[Item], bool],
    ) -> None:
        self.hash_attribute = hash_attribute
        self.sort_attributes = tuple(sort_attributes)
        self._sort_types = tuple(sort_types)
        self._member = member
        self.partitions: dict[DynamoType, list[Entry]] = {}
        self._placed: dict[NativeKey, tuple[DynamoType, NativeKey]] = {}

    def place(self, key: TableKey, item: Item | None) -> None:
        """Move `key` to where `item` (its current version, None once deleted) belongs."""
        native_key = _native_table_key(key)
        old = self._placed.pop(native_key, None)
        if old is not None:
            partition_value, native_sort = old
            entries = self.partitions[partition_value]
            index = bisect.bisect_left(entries, native_sort, key=_native_sort_key)
            if index == len(entries) or entries[index][2] != native_key:
                raise LookupError(f"the index lost {key}")
            del entries[index]
            if not entries:
                del self.partitions[partition_value]
        if item is None or not self._member(item):
            return
        partition_value = item.attrs[self.hash_attribute]
        sort_key = tuple(item.attrs[name] for name in self.sort_attributes)
        native_sort = self.native_sort_key(sort_key)
        entries = self.partitions.setdefault(partition_value, [])
        bisect.insort(entries, (native_sort, sort_key, native_key, key), key=_native_sort_key)
        self._placed[native_key] = (partition_value, native_sort)

    def native_sort_key(self, sort_key: SortKey) -> NativeKey:
        for value, declared in zip(sort_key, self._sort_types, strict=True):
            if declared is not None and value.type != declared:
                raise TypeError(f"a key value of type {value.type} where {declared} is declared")
        return tuple(_native(value) for value in sort_key)


@dataclass(frozen=True)
class _Asked:
    """What one Query asks of moto's Table.query (as moto's DynamoDBBackend passes it)."""

    index_name: str | None
    hash_key: DynamoType | None
    hash_key_conditions: list[tuple[str, DynamoType]]
    range_comparison: str | None
    range_objs: list[DynamoType]
    range_key_conditions: list[tuple[str, str, list[DynamoType]]]
    limit: int | None
    exclusive_start_key: dict[str, Any] | None
    forward: bool
    # QueryFilter/KeyConditions filters change how moto counts towards Limit: moto's own path.
    legacy_filters: bool

    def partition_value(self, view: _View) -> DynamoType | None:
        if self.index_name is None:
            return self.hash_key
        if len(self.hash_key_conditions) != 1 or self.hash_key_conditions[0][0] != view.hash_attribute:
            return None
        return self.hash_key_conditions[0][1]

    def windowable(self, view: _View) -> bool:
        """The sort-key condition is on the attribute the view sorts by first (moto's own choice)."""
        if len(self.range_key_conditions) > 1:
            return False
        return not self.range_key_conditions or self.range_key_conditions[0][0] == view.sort_attributes[0]


class IndexedTable(Table):
    """moto's Table whose Query starts from the queried partition (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index_lock = threading.RLock()
        self._views: dict[str | None, _View] | None = None
        self._views_signature: tuple[int, ...] = ()
        self._handed = threading.local()

    # --- what moto calls ---------------------------------------------------------------------------

    def all_items(self) -> list[Item]:
        handed: list[Item] | None = getattr(self._handed, "items", None)
        if handed is not None:
            return handed
        with self._index_lock:  # a write's new partition must not change the dict under this loop
            return super().all_items()

    def get_item(self, *args: Any, **kwargs: Any) -> Item | None:
        with self._index_lock:  # moto's items are a defaultdict: a miss inserts an empty partition
            return super().get_item(*args, **kwargs)

    def put_item(self, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        with self._index_lock:
            item = super().put_item(item_attrs, *args, **kwargs)
            self.reindex(item.hash_key, item.range_key)
            return item

    def delete_item(self, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        with self._index_lock:
            item = super().delete_item(hash_key, range_key)
            if item is not None:
                self.reindex(hash_key, range_key)
            return item

    def query(  # noqa: PLR0917 - moto's own signature
        self,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
        range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Item], int, dict[str, Any] | None]:
        asked = _Asked(
            index_name,
            hash_key,
            hash_key_conditions or [],
            range_comparison,
            range_objs,
            range_key_conditions or [],
            limit,
            exclusive_start_key,
            scan_index_forward is not False,
            bool(filter_kwargs),
        )
        with self._index_lock:
            candidates = self._candidates(asked)
        self._handed.items = candidates
        try:
            return super().query(
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                consistent_read,
                filter_expression,
                hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions,
                **filter_kwargs,
            )
        finally:
            self._handed.items = None

    def __deepcopy__(self, memo: dict[int, Any]) -> IndexedTable:
        """moto's transactions copy the table to roll back; the copy rebuilds its views when first used."""
        clone = object.__new__(type(self))  # not BaseModel.__new__: the copy is no new model
        memo[id(self)] = clone
        skipped = {"_index_lock", "_views", "_handed"}
        for name, value in self.__dict__.items():
            if name not in skipped:
                setattr(clone, name, copy.deepcopy(value, memo))
        clone._index_lock = threading.RLock()
        clone._views = None
        clone._handed = threading.local()
        return clone

    # --- the index ---------------------------------------------------------------------------------

    def reindex(self, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        """Bring the views up to date with the item at this key (after any write to it)."""
        with self._index_lock:
            views = self._current_views()
            if views is None:
                return
            item = self._stored(hash_key, range_key)
            try:
                for view in views.values():
                    view.place((hash_key, range_key), item)
            except Exception:
                log.exception("the partition index of %s broke; its queries read the whole table", self.name)
                self._views, self._views_signature = None, (-1,)

    def _stored(self, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        partition = self.items.get(hash_key)
        if partition is None or range_key is None:
            return partition if isinstance(partition, Item) else None
        found: Item | None = partition.get(range_key)
        return found

    def _current_views(self) -> dict[str | None, _View] | None:
        signature = tuple(id(index) for index in self.all_indexes())
        if self._views_signature == (-1,):
            return None  # broken once: moto's own path from then on
        if self._views is None or signature != self._views_signature:
            try:
                self._views = self._build_views()
            except Exception:  # an item the index cannot order (a key value of an undeclared type)
                log.exception(
                    "the partition index of %s could not be built; its queries read the whole table", self.name
                )
                self._views, self._views_signature = None, (-1,)
                return None
            self._views_signature = signature
        return self._views

    def _build_views(self) -> dict[str | None, _View]:
        declared = {definition["AttributeName"]: definition["AttributeType"] for definition in self.attr or []}

        def new_view(hash_attribute: str, sort_attributes: Sequence[str], member: Callable[[Item], bool]) -> _View:
            types = [declared.get(name) for name in sort_attributes]
            return _View(hash_attribute, sort_attributes, types, member)

        views: dict[str | None, _View] = {None: new_view(self.hash_key_attr, self.table_key_attrs[1:], lambda _: True)}
        for index in self.all_indexes():
            hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
            ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
            if len(hashes) != 1 or len(ranges) != 1:
                continue  # not indexed: moto's own path
            order = self._generate_attr_to_sort_by([hashes[0], self.hash_key_attr], [ranges[0], self.range_key_attr])
            views[index.name] = new_view(hashes[0], order[1:], _index_member(hashes[0], ranges[0]))
        for partition in list(self.items.values()):
            for item in _partition_items(partition, has_range=bool(self.range_key_attr)):
                for view in views.values():
                    view.place((item.hash_key, item.range_key), item)
        return views

    # --- a query's candidates ------------------------------------------------------------------------

    def _candidates(self, asked: _Asked) -> list[Item] | None:
        """The items moto's query would reach, in ascending order; None: moto's own path."""
        try:
            views = self._current_views()
            view = None if views is None else views.get(asked.index_name)
            partition_value = None if view is None else asked.partition_value(view)
            if view is None or partition_value is None or (asked.limit is not None and asked.limit < 1):
                return None
            entries = view.partitions.get(partition_value, [])
            if asked.legacy_filters or not asked.windowable(view):
                return self._items(entries)
            span = _span(entries, asked.range_comparison, asked.range_objs)
            start = asked.exclusive_start_key
            if span is None or (start is not None and not _in_partition(view, partition_value, start)):
                return self._items(entries)
            start_key = None if start is None else view.native_sort_key(_start_sort_key(view, start))
            chosen = self._items(_reach(entries, span, start_key, asked.limit, asked.forward))
            if sum(item.size() for item in chosen) > _SIZE_SAFE_BYTES:
                return self._items(entries)
            return chosen
        except Exception:
            log.exception("the partition index of %s could not answer; moto reads the whole table", self.name)
            return None

    def _items(self, entries: Sequence[Entry]) -> list[Item]:
        found: list[Item] = []
        for _, _, _, (hash_key, range_key) in entries:
            item = self._stored(hash_key, range_key)
            if item is None:
                raise LookupError(f"the index holds a deleted item {hash_key}, {range_key}")
            found.append(item)
        return found


def _partition_items(partition: Any, *, has_range: bool) -> list[Item]:
    return list(partition.values()) if has_range else [partition]


def _index_member(hash_attribute: str, range_attribute: str) -> Callable[[Item], bool]:
    """moto's own test for an item in a query's index partition (a sparse index skips the rest)."""

    def member(item: Item) -> bool:
        return bool(item.attrs.get(hash_attribute)) and bool(item.attrs.get(range_attribute))

    return member


def _span(entries: Sequence[Entry], comparison: str | None, bounds: list[DynamoType]) -> tuple[int, int] | None:
    """[first, end) of the entries inside the sort-key condition (a contiguous run of the sorted
    partition), found with moto's own comparison; None: not a condition this knows."""
    if comparison is None:
        return 0, len(entries)
    operator = _OPERATORS.get(comparison.upper())
    if operator in _LOWER_BOUND_LEFT:
        first = bisect.bisect_left(entries, _native(bounds[0]), key=_native_window_value)
    elif operator == "GT":
        first = bisect.bisect_right(entries, _native(bounds[0]), key=_native_window_value)
    elif operator in _NO_LOWER_BOUND:
        first = 0
    else:
        return None
    end = bisect.bisect_left(
        entries, True, lo=first, key=lambda entry: not _window_value(entry).compare(comparison, bounds)
    )
    return first, end


def _start_sort_key(view: _View, start: dict[str, Any]) -> SortKey:
    return tuple(DynamoType(start[name]) for name in view.sort_attributes)


def _in_partition(view: _View, partition_value: DynamoType, start: dict[str, Any]) -> bool:
    """An ExclusiveStartKey in this partition's terms (else moto's own path decides what it means)."""
    names = (view.hash_attribute, *view.sort_attributes)
    return all(name in start for name in names) and DynamoType(start[view.hash_attribute]) == partition_value


def _reach(
    entries: Sequence[Entry], span: tuple[int, int], start_key: NativeKey | None, limit: int | None, forward: bool
) -> Sequence[Entry]:
    """What moto's loop visits: the span's entries after the start key, up to Limit, and the next
    entry of the partition in reading order (inside the span or not) if there is one, which is how
    moto decides on a LastEvaluatedKey."""
    first, end = span
    if forward:
        if start_key is not None:
            first = max(first, bisect.bisect_right(entries, start_key, key=_native_sort_key))
        stop = max(first, end if limit is None else min(end, first + limit))
        return entries[first : stop + 1]
    if start_key is not None:
        end = min(end, bisect.bisect_left(entries, start_key, key=_native_sort_key))
    begin = min(end, first if limit is None else max(first, end - limit))
    return entries[max(0, begin - 1) : end]


def _update_item_then_reindex(
    backend: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
) -> Item:
    """moto's UpdateItem changes the stored item in place, past put_item: reindex its key after."""
    try:
        return _moto_update_item(backend, table_name, key, *args, **kwargs)
    finally:
        table = backend.tables.get(table_name)
        if isinstance(table, IndexedTable) and table.hash_key_attr in key:
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            table.reindex(DynamoType(key[table.hash_key_attr]), range_key)


_moto_update_item = DynamoDBBackend.update_item


def patches() -> list[tuple[object, str, object]]:
    """(target, attribute, value): every table moto creates is an IndexedTable, and UpdateItem
    reindexes (a no-op for a plain Table)."""
    return [(dynamodb_models, "Table", IndexedTable), (DynamoDBBackend, "update_item", _update_item_then_reindex)]


def install() -> None:
    """Index every table this process's moto creates from now on (the stack's DynamoDB child)."""
    for target, name, value in patches():
        setattr(target, name, value)

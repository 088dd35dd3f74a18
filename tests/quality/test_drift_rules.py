"""Schema drift rules (no Spark): shapes read from variant schemas, compared with the contract
and with the previous batch."""

from __future__ import annotations

import pytest

from lakehouse.contract import SESSION_DOCUMENT, TRANSACTION_COLUMNS
from lakehouse.quality.drift import (
    MAX_FIELDS,
    SESSION_REQUIRED_FIELDS,
    Drift,
    HeaderGroup,
    bounded,
    column_kind,
    contract_fields,
    csv_drift,
    document_drift,
    merge_fields,
    parent_path,
    variant_fields,
)

CONTRACT = contract_fields(SESSION_DOCUMENT)


def drift(observed, previous=None):
    return {
        (d.kind, d.field)
        for d in document_drift(CONTRACT, observed, previous, SESSION_REQUIRED_FIELDS)
    }


def test_the_contract_paths():
    assert CONTRACT["createdDateTime"] == "scalar"
    assert CONTRACT["shipping.address"] == "object"
    assert CONTRACT["shipping.address.zipCode"] == "scalar"
    assert CONTRACT["cart.items"] == "array"
    assert CONTRACT["cart.items[]"] == "object"
    assert CONTRACT["cart.items[].sku"] == "scalar"


def test_variant_schemas_become_paths_and_kinds():
    schema = (
        "OBJECT<`a``b`: BIGINT, arr: ARRAY<ARRAY<DECIMAL(21,1)>>, cart: OBJECT<items: "
        "ARRAY<OBJECT<quantity: VARIANT, sku: STRING>>>, e: OBJECT<>, n: VOID, `q b`: "
        "ARRAY<BIGINT>, t: BOOLEAN, `x.y`: OBJECT<`k, v`: DOUBLE>, `é`: BIGINT>"
    )
    assert variant_fields(schema) == {
        "`a``b`": "number",
        "arr": "array",
        "arr[]": "array",
        "arr[][]": "number",
        "cart": "object",
        "cart.items": "array",
        "cart.items[]": "object",
        "cart.items[].quantity": "mixed",
        "cart.items[].sku": "string",
        "e": "object",
        "n": "null",
        "`q b`": "array",
        "`q b`[]": "number",
        "t": "boolean",
        "`x.y`": "object",
        "`x.y`.`k, v`": "number",
        "é": "number",
    }
    assert variant_fields("VARIANT") == {"": "mixed"}
    assert variant_fields(None) == {}
    with pytest.raises(ValueError, match="variant schema"):
        variant_fields("OBJECT<a: BIGINT")


@pytest.mark.parametrize(
    ("path", "parent"),
    [("a", ""), ("a.b", "a"), ("a.b[]", "a.b"), ("a.b[].c", "a.b[]"), ("`x.y`.z", "`x.y`")],
)
def test_parent_paths(path, parent):
    assert parent_path(path) == parent


BASE = {
    "id": "string",
    "createdDateTime": "number",
    "eventType": "string",
    "shipping": "object",
    "shipping.address": "object",
    "shipping.address.zipCode": "mixed",
}


def test_a_batch_like_the_contract_has_no_drift():
    assert drift(BASE) == set()
    assert drift(BASE, previous=BASE) == set()
    assert drift({}) == set()  # a batch without a document says nothing


def test_new_fields_are_reported_topmost_and_once():
    observed = {**BASE, "loyalty": "object", "loyalty.points": "number", "shipping.gift": "boolean"}
    assert drift(observed) == {("new", "loyalty"), ("new", "shipping.gift")}
    assert drift(observed, previous=observed) == set()


def test_a_shape_that_breaks_the_contract_is_retyped():
    observed = {**BASE, "createdDateTime": "object", "createdDateTime.ms": "number"}
    found = document_drift(CONTRACT, observed, None, SESSION_REQUIRED_FIELDS)
    assert Drift("retyped", "createdDateTime", "scalar", "object") in found
    assert ("new", "createdDateTime.ms") not in drift(observed)
    assert ("retyped", "shipping") in drift({**BASE, "shipping": "string"})
    # values of mixed kinds, or only nulls, say nothing about the shape
    assert drift({**BASE, "shipping": "null", "eventType": "mixed"}) == set()


def test_a_kind_that_changed_since_the_previous_batch_is_retyped():
    now = {**BASE, "createdDateTime": "string"}
    found = document_drift(CONTRACT, now, BASE, SESSION_REQUIRED_FIELDS)
    assert found == [Drift("retyped", "createdDateTime", "number in the previous batch", "string")]
    # from or to a mix of kinds is not a change of kind
    assert drift({**BASE, "shipping.address.zipCode": "number"}, previous=BASE) == set()


def test_missing_required_fields_and_fields_gone_since_the_previous_batch():
    observed = {k: v for k, v in BASE.items() if k not in ("eventType", "shipping.address.zipCode")}
    assert drift(observed, previous=BASE) == {
        ("missing", "eventType"),
        ("missing", "shipping.address.zipCode"),
    }
    # a field whose parent object is absent too (a batch without checkouts) is not missing
    without_shipping = {k: v for k, v in BASE.items() if not k.startswith("shipping")}
    assert drift(without_shipping, previous=BASE) == set()


def test_csv_headers_and_kinds():
    columns = TRANSACTION_COLUMNS
    groups = [
        HeaderGroup(files=2, extra=("loyalty_points",), missing=()),
        HeaderGroup(files=1, extra=(), missing=("channel",)),
    ]
    kinds = {c: "text" for c in columns} | {"amount": "number"}
    found = csv_drift(columns, groups, kinds, None)
    assert found == [
        Drift("new", "loyalty_points", None, "extra"),
        Drift("missing", "channel", "a column", "absent in 1 of 3 files"),
    ]
    previous = {**kinds, "loyalty_points": "extra"}
    now = {**kinds, "amount": "text", "transaction_ts": "number"}
    assert {(d.kind, d.field) for d in csv_drift(columns, groups[:1], now, previous)} == {
        ("retyped", "amount"),
        ("retyped", "transaction_ts"),
    }
    # empty and mixed columns are no change of kind
    assert csv_drift(columns, groups[:1], {**kinds, "amount": "mixed"}, previous) == []


@pytest.mark.parametrize(
    ("values", "numbers", "kind"),
    [
        (0, 0, "empty"),
        (100, 100, "number"),
        (100, 96, "number"),
        (100, 50, "mixed"),
        (100, 1, "text"),
    ],
)
def test_column_kinds_tolerate_a_few_odd_values(values, numbers, kind):
    assert column_kind(values, numbers) == kind


def test_a_batch_record_is_bounded():
    fields = {f"skus.id{i:05d}": "number" for i in range(MAX_FIELDS + 10)} | {"skus": "object"}
    kept, drifts, truncated = bounded(fields, [Drift("new", "skus", None, "object")])
    assert [d.field for d in drifts] == ["skus"]
    assert len(kept) == MAX_FIELDS and "skus" in kept and truncated
    assert bounded({"a": "number"}, []) == ({"a": "number"}, [], False)
    assert (
        "absent in 1 of 3 files"
        in Drift("missing", "c", "a column", "absent in 1 of 3 files").describe()
    )


def test_a_field_of_the_records_is_read_as_their_document():
    hits = "OBJECT<_id: STRING, _source: OBJECT<a: BIGINT, b: OBJECT<c: STRING>>, _index: STRING>"
    assert variant_fields(hits, under="_source") == {"a": "number", "b": "object", "b.c": "string"}
    # a document that is not an object says so at its root; records without the field give none
    assert variant_fields("OBJECT<_source: VARIANT>", under="_source") == {"": "mixed"}
    assert variant_fields("OBJECT<_id: STRING>", under="_source") == {}
    assert variant_fields("OBJECT<`_source x`: BIGINT>", under="_source") == {}


def test_shapes_merge_as_one_aggregate_over_all_their_documents_would():
    hits = {
        "a": "number",
        "b": "object",
        "b.c": "string",
        "d": "null",
        "e": "array",
        "e[]": "number",
    }
    bare = {
        "a": "number",
        "b": "number",
        "d": "boolean",
        "e": "array",
        "e[]": "string",
        "f": "null",
    }
    assert merge_fields(hits, bare) == {
        "a": "number",
        "b": "mixed",  # an object here, a number there: nothing is kept under it
        "d": "boolean",  # null gives way
        "e": "array",
        "e[]": "mixed",
        "f": "null",
    }
    assert merge_fields({"": "mixed"}, bare) == {"": "mixed"}
    assert merge_fields(hits) == hits
    assert merge_fields() == {}

"""The Bronze twin reads a document as Spark's JSON reader does: malformed records, hits and
bare documents (``lakehouse.bronze.sessions_online``)."""

from __future__ import annotations

import pytest

from lakehouse import contract
from lakehouse.contract import ERROR_MALFORMED_JSON
from lakehouse.features import FeatureError
from lakehouse.features.delivery_online import checkout_features
from lakehouse.gold.delivery_online import DeliveryReference
from tests.support.delivery_twins import (
    CONTRACT_DOC,
    RULES,
    hit,
    make_reference,
    variant,
)


@pytest.fixture(scope="module")
def reference() -> DeliveryReference:
    return make_reference()


def test_a_document_without_session_fields_is_not_a_document(reference):
    with pytest.raises(FeatureError) as raised:
        checkout_features({"hello": "world"}, reference, RULES)
    assert (raised.value.field, raised.value.reason) == ("_source", "not_a_session_document")


def test_not_a_json_object_is_malformed(reference):
    for document in ([CONTRACT_DOC], "text", None):
        with pytest.raises(FeatureError) as raised:
            checkout_features(document, reference, RULES)
        assert raised.value.reason == ERROR_MALFORMED_JSON


def test_hit_wrapper_and_bare_source_give_the_same_features(reference):
    bare = checkout_features(CONTRACT_DOC, reference, RULES)
    assert checkout_features(hit(CONTRACT_DOC), reference, RULES) == bare
    # the hit's _id stands in for a missing or blank id, as in Bronze
    for doc_id in (None, "", "  "):
        source = variant("x")
        if doc_id is None:
            del source["id"]
        else:
            source["id"] = doc_id
        features = checkout_features(hit(source, es_id="from-hit"), reference, RULES)
        assert features["record_id"] == "from-hit"
        assert {k: v for k, v in features.items() if k != "record_id"} == {
            k: v for k, v in bare.items() if k != "record_id"
        }
    # errors point into the hit
    with pytest.raises(FeatureError) as raised:
        checkout_features(hit(variant("h", {"cart.items.0.quantity": "x"})), reference, RULES)
    assert raised.value.field == "_source.cart.items[0].quantity"
    # a hit without _source has no document fields
    with pytest.raises(FeatureError) as raised:
        checkout_features({"_id": "only-id"}, reference, RULES)
    assert (raised.value.field, raised.value.reason) == (
        "_source.createdDateTime",
        contract.REASON_MISSING_CREATED_TS,
    )

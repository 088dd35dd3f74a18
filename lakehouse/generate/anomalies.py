"""Anomalies seen in real Elasticsearch exports, injected into clean documents.

Each anomaly hits a document with probability ``rate``. Variants of one field (the forms of
``createdDateTime``, the forms of a zip code) exclude each other, so they split the unit
interval between them. Nested objects are copied before they are changed, because clean
documents share them (customers, cart items).

Every injected anomaly sets a bit in the document's anomaly mask, so that each exported copy
of a document can be counted exactly.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from lakehouse.generate.delivery import MS_PER_SECOND
from lakehouse.generate.sessions import CHECKOUT_COMPLETED

CREATED_VARIANTS = (
    "created_numeric_string",
    "created_iso_utc",
    "created_iso_offset",
    "created_epoch_seconds",
    "created_null",
    "created_missing",
    "created_unparseable",
)
ZIP_VARIANTS = ("zip_not_in_reference", "zip_plus4", "zip_as_number")
MISSING_FIELDS = ("missing_customer", "missing_cart", "missing_warehouse_id")
EXTRA_FIELDS = (
    "extra_field_top_level",
    "extra_field_customer",
    "extra_field_cart_item",
    "extra_field_address",
)
MISSING_ID_IN_HIT = "missing_id_in_hit"
# Anomalies carried by a document (one bit each), and those that belong to an export.
DOCUMENT_ANOMALIES = CREATED_VARIANTS + ZIP_VARIANTS + MISSING_FIELDS + EXTRA_FIELDS
RECORD_ANOMALIES = (*DOCUMENT_ANOMALIES, MISSING_ID_IN_HIT)
MALFORMED_LINE = "malformed_line"
DUPLICATE_EXPORT = "duplicate_export"
DELIVERY_REEXPORT = "delivery_reexport"
ALL_ANOMALIES = (*RECORD_ANOMALIES, MALFORMED_LINE, DUPLICATE_EXPORT, DELIVERY_REEXPORT)
ANOMALY_BIT = {name: 1 << i for i, name in enumerate(RECORD_ANOMALIES)}

# Unknown fields added at each level, with the values they take.
EXTRA_FIELD_VALUES = {
    "extra_field_top_level": ("experimentGroup", ("A", "B", "control")),
    "extra_field_customer": ("marketingOptIn", (True, False)),
    "extra_field_cart_item": ("giftWrap", (True, False)),
    "extra_field_address": ("addressType", ("RESIDENTIAL", "COMMERCIAL")),
}
UNPARSEABLE_DATES = ("not-a-date", "unknown", "2024-13-45T99:99:99Z")
ISO_OFFSET = dt.timedelta(hours=2)
ISO_OFFSET_SUFFIX = "+02:00"
ZIP_PLUS4_RANGE = (1, 10_000)
ZIP_DIGITS = 5
EPOCH = dt.datetime(1970, 1, 1)


def iso_millis(epoch_ms: int, offset: dt.timedelta = dt.timedelta(0), suffix: str = "Z") -> str:
    """ISO-8601 text of an instant with milliseconds, in local time at ``offset``."""
    local = EPOCH + dt.timedelta(milliseconds=epoch_ms) + offset
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}{suffix}"


def _created_value(variant: str, epoch_ms: int, rng: np.random.Generator):
    if variant == "created_numeric_string":
        return str(epoch_ms)
    if variant == "created_iso_utc":
        return iso_millis(epoch_ms)
    if variant == "created_iso_offset":
        return iso_millis(epoch_ms, ISO_OFFSET, ISO_OFFSET_SUFFIX)
    if variant == "created_epoch_seconds":
        return epoch_ms // MS_PER_SECOND
    if variant == "created_null":
        return None
    return UNPARSEABLE_DATES[int(rng.integers(len(UNPARSEABLE_DATES)))]


def _variant_choice(rng: np.random.Generator, size: int, variants: int, rate: float) -> np.ndarray:
    """Index of the variant per document, or -1; each variant has probability ``rate``."""
    draws = rng.random(size)  # drawn even at rate 0, so the stream does not depend on rate
    share = min(rate, 1.0 / variants)
    if share <= 0:
        return np.full(size, -1, dtype=np.int64)
    choice = (draws // share).astype(np.int64)
    return np.where(choice < variants, choice, -1)


def unknown_zip(rng: np.random.Generator, known_zips: frozenset[str]) -> str:
    """A well-formed zip code that is not in the reference table."""
    while True:
        candidate = f"{int(rng.integers(10**ZIP_DIGITS)):0{ZIP_DIGITS}d}"
        if candidate not in known_zips:
            return candidate


class _Injector:
    """Applies the anomalies chosen for one document and records their bits."""

    def __init__(self, doc: dict, rng: np.random.Generator, known_zips: frozenset[str]):
        self.doc = doc
        self.rng = rng
        self.known_zips = known_zips
        self.bits = 0

    def _mark(self, name: str) -> None:
        self.bits |= ANOMALY_BIT[name]

    def _pick(self, values: tuple):
        return values[int(self.rng.integers(len(values)))]

    def _address(self) -> dict:
        shipping = self.doc["shipping"] = dict(self.doc["shipping"])
        address = shipping["address"] = dict(shipping["address"])
        return address

    def created(self, variant: str) -> None:
        if variant == "created_missing":
            del self.doc["createdDateTime"]
        else:
            self.doc["createdDateTime"] = _created_value(
                variant, self.doc["createdDateTime"], self.rng
            )
        self._mark(variant)

    def zip_code(self, variant: str) -> None:
        zip_code = self.doc["shipping"]["address"]["zipCode"]
        if variant == "zip_as_number":
            if not zip_code.startswith("0"):
                return  # only zips with a leading zero lose something as a number
            self._address()["zipCode"] = int(zip_code)
        elif variant == "zip_plus4":
            plus4 = int(self.rng.integers(*ZIP_PLUS4_RANGE))
            self._address()["zipCode"] = f"{zip_code}-{plus4:04d}"
        else:
            self._address()["zipCode"] = unknown_zip(self.rng, self.known_zips)
        self._mark(variant)

    def missing(self, name: str) -> None:
        if name == "missing_warehouse_id":
            shipping = self.doc["shipping"] = dict(self.doc["shipping"])
            del shipping["warehouseId"]
        else:
            del self.doc[name.removeprefix("missing_")]
        self._mark(name)

    def extra(self, name: str) -> None:
        field, values = EXTRA_FIELD_VALUES[name]
        value = self._pick(values)
        doc = self.doc
        if name == "extra_field_top_level":
            doc[field] = value
        elif name == "extra_field_customer":
            if "customer" not in doc:
                return
            doc["customer"] = {**doc["customer"], field: value}
        elif name == "extra_field_cart_item":
            if "cart" not in doc or not doc["cart"]["items"]:
                return
            items = list(doc["cart"]["items"])
            k = int(self.rng.integers(len(items)))
            items[k] = {**items[k], field: value}
            doc["cart"] = {**doc["cart"], "items": items}
        else:
            self._address()[field] = value
        self._mark(name)


def inject_document_anomalies(
    docs: list[dict],
    event_type: np.ndarray,
    rng: np.random.Generator,
    rate: float,
    known_zips: frozenset[str],
) -> np.ndarray:
    """Inject anomalies in place; returns the anomaly bit mask of every document."""
    n = len(docs)
    is_checkout = event_type == CHECKOUT_COMPLETED
    created = _variant_choice(rng, n, len(CREATED_VARIANTS), rate)
    zips = np.where(is_checkout, _variant_choice(rng, n, len(ZIP_VARIANTS), rate), -1)
    missing = rng.random((n, len(MISSING_FIELDS))) < rate
    missing[:, MISSING_FIELDS.index("missing_warehouse_id")] &= is_checkout
    extra = rng.random((n, len(EXTRA_FIELDS))) < rate
    extra[:, EXTRA_FIELDS.index("extra_field_address")] &= is_checkout
    bits = np.zeros(n, dtype=np.int64)
    touched = (created >= 0) | (zips >= 0) | missing.any(axis=1) | extra.any(axis=1)
    for i in np.flatnonzero(touched).tolist():
        injector = _Injector(docs[i], rng, known_zips)
        if created[i] >= 0:
            injector.created(CREATED_VARIANTS[created[i]])
        if zips[i] >= 0:
            injector.zip_code(ZIP_VARIANTS[zips[i]])
        for k in np.flatnonzero(missing[i]).tolist():
            injector.missing(MISSING_FIELDS[k])
        for k in np.flatnonzero(extra[i]).tolist():
            injector.extra(EXTRA_FIELDS[k])
        bits[i] = injector.bits
    return bits


def count_anomalies(masks: np.ndarray) -> dict[str, int]:
    """Number of masks carrying each record anomaly."""
    masks = np.asarray(masks, dtype=np.int64)
    return {name: int(np.count_nonzero(masks & bit)) for name, bit in ANOMALY_BIT.items()}

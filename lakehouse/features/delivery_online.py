"""Online delivery features: one checkout document through the Bronze, Silver and Gold twins.

The prediction service receives one Elasticsearch checkout document (a bare ``_source`` or a
hit ``{"_id": ..., "_source": {...}}``) and must feed the model exactly the values Spark
computes in batch. The path of a document through the lake is replayed step by step, each
step by the twin beside the Spark code it mirrors:

- Bronze (``lakehouse.bronze.sessions_online``): the text Spark's JSON reader keeps for each
  value, and the malformed records;
- Silver (``lakehouse.silver.sessions_online``): the quarantine rules in Silver's order,
  raised as a ``FeatureError`` with Silver's reason code and the field path;
- Gold (``lakehouse.gold.delivery_online``): the features, with Gold's constants and
  arithmetic.

``tests/bronze``, ``tests/silver`` and ``tests/gold`` prove each step equal to Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from lakehouse.bronze.sessions_online import parse_document
from lakehouse.config import SessionsSettings, Settings
from lakehouse.features import FeatureError
from lakehouse.gold.delivery_online import (
    FEATURE_COLUMNS,
    REFERENCE_COLUMNS,
    DeliveryReference,
    DeliveryRules,
    as_rules,
    checkout_row,
    rows_frame,
)
from lakehouse.io.delta_reader import read_lake_table
from lakehouse.silver.sessions_online import silver_session
from lakehouse.tables import SILVER_HOLIDAYS, SILVER_WAREHOUSES, SILVER_ZIP_CODES


def _row(document: Any, reference: DeliveryReference, rules: DeliveryRules) -> tuple:
    """The values of ``FEATURE_COLUMNS`` for one document (see ``checkout_features``)."""
    source, record_id, prefix = parse_document(document)
    return checkout_row(silver_session(source, record_id, prefix, rules), prefix, reference, rules)


def checkout_features(
    document: Mapping[str, Any],
    reference: DeliveryReference,
    rules: DeliveryRules | Settings | SessionsSettings,
) -> dict[str, Any]:
    """The model features Gold computes for one checkout document.

    Args:
        document: A ``_source`` document as decoded from JSON, or a hit wrapping one
            (``{"_id": ..., "_source": {...}}``; ``_id`` is the record id when ``id`` is blank).
        reference: The reference data (``load_delivery_reference`` or ``from_frames``).
        rules: The ``sessions`` rules of the pipeline (or the settings holding them).

    Returns:
        ``record_id``, ``event_ts`` (aware, UTC), ``order_date`` and every column of
        ``MODEL_FEATURES``, with Gold's values: ints as int, flags as bool, null as None. An
        unknown zip code or warehouse gives a null distance and no remote flag, as Gold's left
        joins do; an unknown shipping method is kept as it is.

    Raises:
        FeatureError: For a document Bronze or Silver would quarantine (the field path and
            Silver's reason code of the first failing rule; the message lists all), for a
            valid record that is not a checkout (``not_a_checkout``).
    """
    return dict(zip(FEATURE_COLUMNS, _row(document, reference, as_rules(rules)), strict=True))


def features_frame(
    documents: Iterable[Mapping[str, Any]],
    reference: DeliveryReference,
    rules: DeliveryRules | Settings | SessionsSettings,
    *,
    errors: list[tuple[int, FeatureError]] | None = None,
) -> pd.DataFrame:
    """``checkout_features`` of many documents as one frame (``FEATURE_COLUMNS``, ``FRAME_DTYPES``).

    Args:
        documents: The documents, in request order.
        reference: The reference data.
        rules: The ``sessions`` rules of the pipeline.
        errors: When given, invalid documents are left out and ``(position, error)`` is
            appended here for each; the frame's index holds the positions of the rows kept.

    Raises:
        FeatureError: For the first invalid document when ``errors`` is None; its field is
            prefixed with the position (``[3].shipping.address.zipCode``).
    """
    rules = as_rules(rules)
    rows, positions = [], []
    for position, document in enumerate(documents):
        try:
            rows.append(_row(document, reference, rules))
        except FeatureError as exc:
            if errors is None:
                raise FeatureError(
                    f"[{position}].{exc.field}", exc.reason, f"[{position}] {exc}"
                ) from exc
            errors.append((position, exc))
            continue
        positions.append(position)
    return rows_frame(rows, positions)


def load_delivery_reference(
    settings: Settings, versions: Mapping[str, int] | None = None
) -> DeliveryReference:
    """Read the Silver reference tables without a JVM and index them.

    Args:
        settings: Where the lake is.
        versions: ``layer/name`` -> Delta version to read (e.g. the source versions recorded
            by the Gold build a model was trained on); other keys are ignored, tables not named
            are read at their latest version.

    Returns:
        The reference data, with the versions it was read at in ``table_versions``.

    Raises:
        FileNotFoundError: When a reference table does not exist yet.
    """
    versions = versions or {}
    frames, read_versions = {}, {}
    for table, columns in REFERENCE_COLUMNS.items():
        path = settings.table_path(*table)
        snapshot = read_lake_table(settings, table, columns, versions.get(table.key))
        if snapshot is None:
            raise FileNotFoundError(
                f"{table.key} does not exist at {path}: run `lakehouse silver --source reference`"
            )
        frames[table] = snapshot.frame
        read_versions[table.key] = snapshot.version
    return DeliveryReference.from_frames(
        frames[SILVER_ZIP_CODES], frames[SILVER_WAREHOUSES], frames[SILVER_HOLIDAYS], read_versions
    )

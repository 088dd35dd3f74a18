"""The manifest must equal what an independent reader finds in the files."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from landing_reader import anomalies_of, classify_reexports, is_delivered


@pytest.mark.parametrize("landing_name", ["anomalous_landing", "clean_landing"])
def test_manifest_equals_what_a_reader_finds(landing_name, request):
    landing = request.getfixturevalue(landing_name)
    manifest, records = landing.manifest, landing.ingestible

    listed = {f["path"]: f for f in manifest["files"]}
    assert sorted(listed) == sorted(f.path for f in landing.files)
    for export in landing.files:
        entry = listed[export.path]
        assert (entry["shape"], entry["gzip"], entry["in_flight"], entry["records"]) == (
            export.shape,
            export.is_gzip,
            export.in_flight,
            len(export.records),
        )
        assert entry["malformed_lines"] == sum(r.source is None for r in export.records)

    anomalies = Counter()
    for record in records:
        if record.source is not None:
            anomalies.update(anomalies_of(record, landing.zip_codes))
    reexports, newest = classify_reexports(records)
    anomalies.update(reexports)
    anomalies["malformed_line"] = sum(r.source is None for r in records)
    assert set(anomalies) <= set(manifest["anomalies"])
    assert {name: anomalies.get(name, 0) for name in manifest["anomalies"]} == manifest["anomalies"]

    checkouts = {rid for rid, r in newest.items() if r.source["eventType"] == "CHECKOUT_COMPLETED"}
    totals = manifest["totals"]
    assert totals["ingestible_records"] == len(records)
    assert totals["in_flight_records"] == sum(len(f.records) for f in landing.files if f.in_flight)
    assert totals["distinct_record_ids"] == len(newest) == manifest["parameters"]["documents"]
    assert totals["checkouts"] == len(checkouts)
    assert totals["delivered_checkouts"] == sum(is_delivered(newest[r].source) for r in checkouts)
    assert totals["malformed_lines"] == anomalies["malformed_line"]
    assert totals["events_by_type"] == dict(Counter(r.source["eventType"] for r in newest.values()))


def test_anomalies_by_record_count_distinct_records(anomalous_landing):
    per_record = defaultdict(set)
    for record in anomalous_landing.ingestible:
        if record.source is not None:
            per_record[record.record_id] |= anomalies_of(record, anomalous_landing.zip_codes)
    found = Counter(name for names in per_record.values() for name in names)
    assert anomalous_landing.manifest["anomalies_by_record"] == {
        name: found.get(name, 0) for name in anomalous_landing.manifest["anomalies_by_record"]
    }


def test_totals_add_up(anomalous_landing):
    totals, anomalies = (
        anomalous_landing.manifest["totals"],
        anomalous_landing.manifest["anomalies"],
    )
    assert totals["ingestible_records"] == (
        totals["distinct_record_ids"]
        + anomalies["duplicate_export"]
        + anomalies["delivery_reexport"]
        + anomalies["malformed_line"]
    )
    assert totals["files"] == totals["ingestible_files"] + totals["in_flight_files"]


def test_in_flight_files_are_named_and_counted_apart(anomalous_landing):
    in_flight = [f for f in anomalous_landing.files if f.in_flight]
    assert len(in_flight) == anomalous_landing.manifest["totals"]["in_flight_files"] >= 2
    assert {f.path.rsplit("/", 1)[1][0] for f in in_flight} == {"_", "."}
    ingestible_ids = {r.record_id for r in anomalous_landing.ingestible}
    in_flight_ids = [r.record_id for f in in_flight for r in f.records]
    assert all(r.source is not None for f in in_flight for r in f.records)
    assert len(set(in_flight_ids)) == len(in_flight_ids)
    assert not ingestible_ids & set(in_flight_ids)


def test_modification_times_follow_export_order(anomalous_landing):
    entries = anomalous_landing.manifest["files"]
    mtimes = [e["mtime_ms"] for e in entries]
    assert mtimes == sorted(set(mtimes)), "strictly increasing, in manifest order"
    on_disk = {f.path: f.mtime_ns for f in anomalous_landing.files}
    assert all(on_disk[e["path"]] == e["mtime_ms"] * 1_000_000 for e in entries)
    assert [e["in_flight"] for e in entries][-3:] == [True, True, True]


def test_reexports_follow_their_original(anomalous_landing):
    reexports, newest = classify_reexports(anomalous_landing.ingestible)
    assert reexports["duplicate_export"] > 0 and reexports["delivery_reexport"] > 0
    roles = {e["path"]: e["role"] for e in anomalous_landing.manifest["files"]}
    first_seen = {}
    for record in anomalous_landing.ingestible:
        if record.source is not None:
            first_seen.setdefault(record.record_id, record)
    for record_id, record in newest.items():
        if record is not first_seen[record_id]:
            assert roles[record.path] == "reexport"
            assert roles[first_seen[record_id].path] == "primary"
            assert record.mtime_ns > first_seen[record_id].mtime_ns

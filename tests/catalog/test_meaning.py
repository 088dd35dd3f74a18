"""What the catalog says of each table and column, checked against the contract."""

from __future__ import annotations

import re

import pytest

from lakehouse.catalog import properties_for, qualified_name
from lakehouse.catalog.meaning import MEANINGS, PII_CLASSES, column_comment, meaning_of
from lakehouse.catalog.query import WriteRefusedError, check_read_only, first_keyword
from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.contract import DELIVERY_FEATURES_COLUMNS, payments_unified_columns
from lakehouse.tables import (
    GOLD_DELIVERY_FEATURES,
    GOLD_PAYMENTS_UNIFIED,
    NAMED_TABLES,
    SILVER_SESSIONS,
    Table,
    parse_table,
)

CONTRACT = (PROJECT_ROOT / "docs" / "CONTRACT.md").read_text()


def contract_section(title: str) -> str:
    start = CONTRACT.index(title)
    end = CONTRACT.index("\n### ", start + len(title))
    return CONTRACT[start:end]


def gold_meanings(table: str) -> dict[str, str]:
    """Column -> meaning, from the contract's table of a required Gold table (section 2.1)."""
    section = contract_section("### 2.1 Required Gold tables")
    block = section[section.index(f"**`gold/{table}`**") :]
    block = block[: block.index("\n\n", block.index("| column |"))]
    meanings = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("column", "---"):
            continue
        for column in cells[0].split(","):
            meanings[column.strip()] = cells[2]
    return meanings


def test_every_named_table_has_a_meaning():
    assert set(MEANINGS) == set(NAMED_TABLES)
    for table, meaning in MEANINGS.items():
        assert meaning.pii in PII_CLASSES, table
        assert meaning.comment.startswith("One row per "), table
        assert meaning.source and meaning.rows, table
        for column in meaning.pii_columns:
            assert re.fullmatch(r"[a-z_][a-z0-9_#]*", column), (table, column)


def gold_columns(table: Table) -> list[str]:
    if table == GOLD_DELIVERY_FEATURES:
        return DELIVERY_FEATURES_COLUMNS
    windows = load_settings("local").payments.velocity_windows_s
    return [*payments_unified_columns(windows), "row_hash"]


@pytest.mark.parametrize("table", [GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED], ids=str)
def test_gold_column_comments_are_the_contracts_words(table: Table):
    meanings = gold_meanings(table.name)
    assert len(meanings) >= 13  # the parser read the whole table
    for column, meaning in meanings.items():
        assert column in gold_columns(table), column
        if meaning:  # the contract leaves some meanings blank (an id says what it is)
            assert column_comment(table, column) == meaning, column
    # and every column Gold writes, the required and the project's own, has a comment
    assert [c for c in gold_columns(table) if not column_comment(table, c)] == []


def test_velocity_columns_are_described():
    assert column_comment(GOLD_PAYMENTS_UNIFIED, "src_txn_count_24h") == (
        "the source account's transactions in the 24h strictly before this one"
    )
    assert column_comment(GOLD_PAYMENTS_UNIFIED, "src_txn_amount_7d").endswith("before this one")
    assert column_comment(GOLD_DELIVERY_FEATURES, "src_txn_count_24h") is None


def test_other_tables_say_what_a_row_is_as_the_contract_does():
    """Section 2.2 names what one row of each table is: the table comment says the same."""
    section = contract_section("### 2.2 Other tables the project writes")
    checked = 0
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([a-z_]+/[a-z_<>]+)`", cells[0]):
            if "<" in name:
                continue
            table = parse_table(name)
            cell = cells[1].replace("`", "")
            # "(step, source, batch)" whole; "record id (newest export)" -> "record id"
            rows = cell[: cell.index(")") + 1] if cell.startswith("(") else cell.split(" (")[0]
            comment = meaning_of(table).comment.replace("`", "")
            assert comment.startswith(f"One row per {rows}"), (name, comment)
            checked += 1
    assert checked >= 15


def test_properties_name_layer_owner_and_personal_data():
    settings = load_settings("local", overrides=["catalog.owner=payments-team"])
    props = properties_for(settings, SILVER_SESSIONS, meaning_of(SILVER_SESSIONS))
    assert props["lakehouse.layer"] == "silver"
    assert props["lakehouse.owner"] == "payments-team"
    assert props["lakehouse.pii"] == "tokenized"
    assert "customer_email_token: token" in props["lakehouse.pii_columns"]
    assert props["lakehouse.upstream"] == "bronze.sessions"
    assert props["lakehouse.lake_key"] == "silver/sessions"


def test_names_carry_the_prefix():
    settings = load_settings("local", overrides=["catalog.database_prefix=dev_"])
    assert qualified_name(settings, GOLD_DELIVERY_FEATURES) == "dev_gold.delivery_features"
    props = properties_for(settings, GOLD_DELIVERY_FEATURES, meaning_of(GOLD_DELIVERY_FEATURES))
    assert props["lakehouse.upstream"].startswith("dev_silver.sessions")
    with pytest.raises(Exception, match="database prefix"):
        load_settings("local", overrides=["catalog.database_prefix=Dev-"])


def test_table_names_parse_both_ways():
    assert parse_table("gold.delivery_features") == GOLD_DELIVERY_FEATURES
    assert parse_table("gold/delivery_features") == GOLD_DELIVERY_FEATURES
    for bad in ("delivery_features", "gold.", ".x", "a.b.c"):
        with pytest.raises(ValueError, match=r"layer\.name or layer/name"):
            parse_table(bad)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM gold.delivery_features VERSION AS OF 3",
        "  -- a comment\n select 1",
        "/* c */ WITH x AS (SELECT 1) SELECT * FROM x",
        "SHOW TABLES IN gold",
        "DESCRIBE HISTORY gold.payments_unified",
        "desc gold.payments_unified",
        "(SELECT 1) UNION (SELECT 2)",
        "EXPLAIN SELECT 1",
        "SELECT 1;",
    ],
)
def test_read_only_statements_pass(query):
    check_read_only(query)


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM gold.delivery_features",
        "DROP TABLE gold.delivery_features",
        "INSERT INTO gold.fraud_scores SELECT * FROM gold.fraud_scores",
        "OPTIMIZE gold.payments_unified",
        "VACUUM gold.payments_unified RETAIN 0 HOURS",
        "ALTER TABLE gold.x SET TBLPROPERTIES ('a'='b')",
        "-- SELECT\nUPDATE gold.x SET a = 1",
        "EXPLAIN DELETE FROM gold.x",
        "SELECT 1; DROP TABLE gold.x",
        "",
    ],
)
def test_writes_are_refused(query):
    with pytest.raises(WriteRefusedError):
        check_read_only(query)


def test_first_keyword_skips_comments():
    assert first_keyword("/* DROP */ -- x\n  Select 1") == "select"

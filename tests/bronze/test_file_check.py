"""Whole-file checks (lakehouse.io.file_check): pure Python, no Spark."""

import gzip

import pytest

from lakehouse.contract import (
    FILE_CORRUPT_GZIP,
    FILE_NOT_GZIP,
    FILE_TRUNCATED_GZIP,
    FILE_UNDECODABLE_TEXT,
    FILE_UNKNOWN_CSV_DIALECT,
)
from lakehouse.io.file_check import CsvDialect, check_csv, decode_file, detect_csv_dialect

LINES = "".join(f'{{"id": "r{i}", "payload": "{i * 7919 % 104729:x}"}}\n' for i in range(3000))


def test_a_whole_gzip_file_and_a_plain_one_decode_unchanged():
    assert decode_file("a.ndjson.gz", gzip.compress(LINES.encode())).text == LINES
    assert decode_file("a.ndjson", LINES.encode()).reason is None
    # several gzip members (concatenated uploads) are one file
    two = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert decode_file("a.gz", two) == decode_file("x.txt", b"a\nb\n")
    # Spark's readers gunzip by the exact suffix only: a .GZ is text to them, and so here
    assert decode_file("a.GZ", two).reason == FILE_UNDECODABLE_TEXT


def test_a_cut_gzip_keeps_only_the_complete_lines_before_the_cut():
    data = gzip.compress(LINES.encode())
    decoded = decode_file("s.ndjson.gz", data[: len(data) // 2])
    assert decoded.reason == FILE_TRUNCATED_GZIP
    assert decoded.text and decoded.text.endswith("\n")
    assert LINES.startswith(decoded.text) and len(decoded.text) < len(LINES)


def test_corrupt_gzip_and_a_gz_that_is_not_gzip():
    # damage mid-stream: deflate may decode garbage until it breaks or runs out, so the file
    # is refused either way (its kept records carry the reason)
    for position in range(200, 4000, 97):
        data = bytearray(gzip.compress(LINES.encode()))
        data[position] ^= 0x5A
        assert decode_file("s.gz", bytes(data)).reason in {FILE_CORRUPT_GZIP, FILE_TRUNCATED_GZIP}
    # a trailer that disagrees: the member is wrong somewhere, so none of it is kept, but the
    # members before it checked out
    crc = bytearray(gzip.compress(b"b\nc\n"))
    crc[-8] ^= 0xFF
    decoded = decode_file("s.gz", gzip.compress(b"a\n") + bytes(crc))
    assert (decoded.reason, decoded.text) == (FILE_CORRUPT_GZIP, "a\n")
    # anything after the last member, zero padding too (Hadoop's reader fails on it)
    padded = decode_file("s.gz", gzip.compress(b"a\nb\n") + b"\x00" * 16)
    assert (padded.reason, padded.text) == (FILE_CORRUPT_GZIP, "a\nb\n")
    not_gzip = decode_file("s.ndjson.gz", LINES.encode())
    assert (not_gzip.reason, not_gzip.text) == (FILE_NOT_GZIP, "")
    assert decode_file("s.gz", b"").reason == FILE_NOT_GZIP


def test_bytes_that_are_not_utf8_refuse_the_file_after_the_lines_before_them():
    decoded = decode_file("x.ndjson", b'{"id": 1}\n{"id": 2}\n{"id": \xff\xfe}\n{"id": 4}\n')
    assert decoded.reason == FILE_UNDECODABLE_TEXT
    assert decoded.text == '{"id": 1}\n{"id": 2}\n'
    assert decoded.error == "byte 27 is not UTF-8 (invalid start byte)"
    garbage = bytes(range(128, 256)) * 10
    assert decode_file("x.csv", garbage) == decode_file("x.csv", garbage)
    assert decode_file("x.csv", garbage).text == ""
    # a BOM is not part of the text; UTF-8 from other scripts is fine
    assert decode_file("x.csv", "\ufeffid,città\n".encode()).text == "id,città\n"


def test_a_truncated_gzip_reason_wins_over_a_multibyte_character_cut_with_it():
    text = "".join(f"{i:05d}" + "é" * 97 + "\n" for i in range(2000))
    data = gzip.compress(text.encode(), compresslevel=1)
    for cut in range(40, len(data), max(1, len(data) // 37)):
        decoded = decode_file("a.gz", data[:cut])
        assert decoded.reason == FILE_TRUNCATED_GZIP
        assert text.startswith(decoded.text) and decoded.text.count("\n") == len(
            decoded.text.splitlines()
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id,amount,ts\n1,2.5,x\n", CsvDialect(",", '"')),
        ("id;amount;ts\n1;2,5;x\n2;3,0;y\n", CsvDialect(";", '"')),
        ("id\tamount\n1\t2\n", CsvDialect("\t", '"')),
        ("id|amount|note\n1|2|a,b;c\n", CsvDialect("|", '"')),
        ("'id','amount'\n'1','2,3'\n", CsvDialect(",", "'")),
        ('id,note\n1,"a\nb"\n2,c\n', CsvDialect(",", '"')),
        ("id,amount\r\n1,2\r\n", CsvDialect(",", '"')),
        # a header alone is judged by itself
        ("transaction_id;amount\n", CsvDialect(";", '"')),
    ],
)
def test_csv_dialects_are_told_apart(text, expected):
    assert detect_csv_dialect(text) == expected


def test_a_csv_in_no_known_dialect_is_refused_whole():
    for text in ["hello world\nsecond line\n", "a:b:c\n1:2:3\n", "just one column\n1\n2\n"]:
        checked = check_csv("x.csv", text.encode())
        assert checked.reason == FILE_UNKNOWN_CSV_DIALECT, text
        assert checked.header == [] and checked.decoded.text == ""


def test_check_csv_gives_the_header_in_its_dialect_and_empty_files_pass():
    checked = check_csv("t.csv.gz", gzip.compress(b"\xef\xbb\xbfTxn ID;Amount\n1;2\n"))
    assert checked.reason is None
    assert checked.header == ["Txn ID", "Amount"]
    assert checked.dialect == CsvDialect(";", '"')
    empty = check_csv("e.csv", b"")
    assert (empty.reason, empty.header) == (None, [])

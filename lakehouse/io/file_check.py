"""Whole-file checks for landed files, before any record is read (pure Python, no pyspark).

A file that cannot be read as a whole is refused with a reason (CONTRACT section 2.5) instead
of failing the batch: a gzip stream cut off or damaged, a ``.gz`` that is not gzip, bytes that
are not UTF-8, a CSV whose delimiter cannot be told or whose header names no known column.
The complete lines before the damage are still trustworthy and are returned, so the records
in them are kept (each marked with the file's reason).

The same functions run on Spark's executors (``lakehouse.io.landing.check_files``) and in the
tests, so the rules are tested without a JVM.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zlib
from collections import Counter
from dataclasses import dataclass

from lakehouse.contract import (
    FILE_CORRUPT_GZIP,
    FILE_NOT_GZIP,
    FILE_TRUNCATED_GZIP,
    FILE_UNDECODABLE_TEXT,
    FILE_UNKNOWN_CSV_DIALECT,
)

GZIP_MAGIC = b"\x1f\x8b"
# Hadoop's codec lookup (what Spark's readers decompress by) matches exactly this suffix: a
# ``.GZ`` or ``.gzip`` file is read as it is, so it is checked as text too.
GZIP_SUFFIX = ".gz"
GUNZIP_CHUNK = 64 * 1024
# Delimiters a CSV feed may use, in order of preference when a header fits several.
CSV_DELIMITERS = (",", ";", "\t", "|")
# How much of a CSV is read to tell its dialect: the header and the rows in the first 64 KiB.
DIALECT_SAMPLE_CHARS = 64 * 1024
DIALECT_SAMPLE_ROWS = 50
_UTF8_BOM = "\ufeff"
_ERROR_CHARS = 300


@dataclass(frozen=True)
class Decoded:
    """A file's trustworthy text and, when it is refused, why.

    Attributes:
        text: The whole text, or (when refused) the complete lines before the damage.
        reason: A file-level reason code, or None for a whole file.
        error: The first line of the error behind ``reason``.
    """

    text: str
    reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file separates and quotes its fields."""

    delimiter: str
    quote: str


def is_gzip_name(name: str) -> bool:
    """Whether Spark's readers will gunzip the file (Hadoop's codec lookup, by suffix)."""
    return name.endswith(GZIP_SUFFIX)


def sha256_hex(data: bytes) -> str:
    """The content hash recorded for a refused file."""
    return hashlib.sha256(data).hexdigest()


def first_line(error: BaseException | str) -> str:
    """The first line of an error's text, capped (an error message never carries a record)."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:_ERROR_CHARS]


def gunzip(data: bytes) -> tuple[bytes, str | None, str | None]:
    """Decompress every gzip member of ``data``, in chunks, so that the bytes before a break
    are kept.

    A member's bytes are verified only by its trailer (CRC-32 and length). When the stream
    just ends (an upload cut off) the bytes decompressed so far are kept: deflate output
    cannot be wrong before the cut. When the data breaks mid-stream, the output up to the
    chunk that broke is kept. When a member's trailer disagrees with its bytes, nothing of
    that member is kept: it is wrong somewhere, nobody knows where.

    Returns:
        ``(bytes, reason, error)``: all the bytes on success; otherwise the bytes kept, with
        ``truncated_gzip``, ``corrupt_gzip`` or ``not_gzip``.
    """
    if not data.startswith(GZIP_MAGIC):
        return b"", FILE_NOT_GZIP, "the file has a .gz name but no gzip header"
    verified = bytearray()  # output of the members whose trailer checked out
    rest = memoryview(data)
    while len(rest):
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        member = bytearray()
        for start in range(0, len(rest), GUNZIP_CHUNK):
            try:
                member += decompressor.decompress(rest[start : start + GUNZIP_CHUNK])
            except zlib.error as error:
                message = first_line(error)
                kept = verified if "check" in message else verified + member
                return bytes(kept), FILE_CORRUPT_GZIP, message
            if decompressor.eof:
                break
        if not decompressor.eof:
            member += decompressor.flush()
            return bytes(verified + member), FILE_TRUNCATED_GZIP, "the gzip stream is cut off"
        verified += member
        rest = memoryview(decompressor.unused_data)
        if len(rest) and bytes(rest[:2]) != GZIP_MAGIC:
            # Hadoop's gzip reader fails on anything after the last member, padding too
            return bytes(verified), FILE_CORRUPT_GZIP, "bytes after the last gzip member"
    return bytes(verified), None, None


def _complete_lines(data: bytes) -> bytes:
    """The bytes up to and including the last line break (a cut line is not a record)."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def decode_file(name: str, data: bytes) -> Decoded:
    """A landed file's text: gunzipped when its name says gzip, strictly UTF-8 (BOM dropped)."""
    reason = error = None
    if is_gzip_name(name):
        data, reason, error = gunzip(data)
        if reason:
            data = _complete_lines(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        text = _complete_lines(data[: decode_error.start]).decode("utf-8")
        if reason is None:
            reason = FILE_UNDECODABLE_TEXT
            error = f"byte {decode_error.start} is not UTF-8 ({decode_error.reason})"
    return Decoded(text.removeprefix(_UTF8_BOM), reason, error)


def _sample_rows(text: str, dialect: CsvDialect) -> list[list[str]]:
    sample = text[:DIALECT_SAMPLE_CHARS]
    if len(text) > DIALECT_SAMPLE_CHARS:
        # the last line of a cut sample may be partial
        sample = sample[: sample.rfind("\n") + 1] or sample
    reader = csv.reader(
        io.StringIO(sample, newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        doublequote=True,
        strict=False,
    )
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > DIALECT_SAMPLE_ROWS:
                break
    except csv.Error:
        pass
    return rows


def _quoted_fields(sample: str, delimiter: str, quote: str) -> int:
    """How many fields in ``sample`` are wrapped whole in ``quote``."""
    d, q = re.escape(delimiter), re.escape(quote)
    return len(re.findall(rf"(?:^|{d}){q}[^{q}\n]*{q}(?={d}|\r?$)", sample, flags=re.MULTILINE))


def detect_quote(text: str, delimiter: str) -> str:
    """``'`` when the header wraps its names in single quotes (more than half of them) and no
    field is wrapped in double ones, else ``"``: one ``'N/A'`` value does not make a dialect,
    and a name like ``'s-Hertogenbosch`` must not open a quote."""
    sample = text[:DIALECT_SAMPLE_CHARS]
    header = sample.split("\n", 1)[0]
    names = header.count(delimiter) + 1
    single = _quoted_fields(header, delimiter, "'")
    wrapped = single * 2 > names
    return "'" if wrapped and not _quoted_fields(sample, delimiter, '"') else '"'


def detect_csv_dialect(text: str) -> CsvDialect | None:
    """The delimiter and quote of a CSV, from its header and first rows; None when unclear.

    A delimiter fits when the header splits into at least two fields and more than half the
    rows have as many fields as the header. Of the delimiters that fit, the one giving the
    most header fields wins, ties going to the earlier one (comma first). A header-only file
    is judged by its header alone.
    """
    best: tuple[int, CsvDialect] | None = None
    for delimiter in CSV_DELIMITERS:
        dialect = CsvDialect(delimiter, detect_quote(text, delimiter))
        rows = _sample_rows(text, dialect)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        if body and Counter(len(row) for row in body)[width] * 2 <= len(body):
            continue
        if best is None or width > best[0]:
            best = (width, dialect)
    return best[1] if best else None


def read_csv_header(text: str, dialect: CsvDialect) -> list[str]:
    """The header row's column names under ``dialect`` (BOM already dropped by decode_file)."""
    rows = _sample_rows(text, dialect)
    return rows[0] if rows else []


@dataclass(frozen=True)
class CsvCheck:
    """A CSV file's check: its dialect and header, or why it is refused."""

    decoded: Decoded
    dialect: CsvDialect | None
    header: list[str]

    @property
    def reason(self) -> str | None:
        return self.decoded.reason


def check_csv(name: str, data: bytes) -> CsvCheck:
    """Decode a CSV and tell its dialect; an empty file has no header and is not refused."""
    decoded = decode_file(name, data)
    if not decoded.text.strip():
        return CsvCheck(decoded, None, [])
    dialect = detect_csv_dialect(decoded.text)
    if dialect is None:
        refused = Decoded(
            "",
            decoded.reason or FILE_UNKNOWN_CSV_DIALECT,
            decoded.error or "no delimiter among , ; tab | splits the header and rows alike",
        )
        return CsvCheck(refused, None, [])
    return CsvCheck(decoded, dialect, read_csv_header(decoded.text, dialect))

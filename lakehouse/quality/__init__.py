"""Whole-table data quality: expectation suites (Great Expectations) per table, their results
in ``audit/expectations``, and the publish gate for Gold (write, audit, publish)."""

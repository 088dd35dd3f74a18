from pyspark.sql import functions as F

from lakehouse.silver.reasons import reason_codes


def _codes(spark, values):
    df = spark.createDataFrame([(v,) for v in values], "n int")
    checks = [(F.col("n") > 1, "above_one"), (F.col("n") % 2 == 0, "even"), (F.lit(False), "never")]
    return df.select("n", reason_codes(checks).alias("reasons"))


def test_codes_of_the_checks_that_hold_in_check_order(spark):
    rows = {r["n"]: r["reasons"] for r in _codes(spark, [0, 1, 3, 4]).collect()}
    assert rows == {0: ["even"], 1: [], 3: ["above_one"], 4: ["above_one", "even"]}


def test_a_null_condition_does_not_hold(spark):
    assert _codes(spark, [None]).first()["reasons"] == []


def test_the_checks_stay_in_generated_code(spark):
    """No higher-order function (``array_compact`` is one), which would run them interpreted."""
    plan = _codes(spark, [1])._jdf.queryExecution().executedPlan().toString()
    assert "lambdafunction" not in plan.lower()
    assert "WholeStageCodegen" in plan or "*(" in plan

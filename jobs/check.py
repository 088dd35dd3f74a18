"""spark-submit entry point for `lakehouse check` (after an hourly run: conservation and the
Gold tables' expectation suites; exit code 65 when one fails).

infra/spark-submit.sh jobs/check.py --lake s3a://bucket/lake [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["check", *sys.argv[1:]])

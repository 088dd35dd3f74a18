"""spark-submit entry point for `lakehouse maintain` (OPTIMIZE + VACUUM, keeping model data).

infra/spark-submit.sh jobs/maintain.py --lake s3a://bucket/lake [--dry-run]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["maintain", *sys.argv[1:]])

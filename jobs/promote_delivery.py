"""spark-submit entry point for `lakehouse promote delivery` (the promotion gate: exit code 3
when it refuses the challenger and the champion stays).

infra/spark-submit.sh jobs/promote_delivery.py --lake s3a://bucket/lake [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["promote", "delivery", *sys.argv[1:]])

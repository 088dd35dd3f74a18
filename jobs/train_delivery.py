"""spark-submit entry point for `lakehouse train delivery`.

infra/spark-submit.sh jobs/train_delivery.py --lake s3a://bucket/lake [--version N] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["train", "delivery", *sys.argv[1:]])

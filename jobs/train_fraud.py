"""spark-submit entry point for `lakehouse train fraud`.

infra/spark-submit.sh jobs/train_fraud.py --lake s3a://bucket/lake [--version N] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["train", "fraud", *sys.argv[1:]])

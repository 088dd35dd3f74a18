"""spark-submit entry point for `lakehouse score fraud`.

infra/spark-submit.sh jobs/score_fraud.py --lake s3a://bucket/lake [--model-version N] [--version N]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["score", "fraud", *sys.argv[1:]])

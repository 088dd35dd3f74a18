"""spark-submit entry point for `lakehouse score delivery`.

infra/spark-submit.sh jobs/score_delivery.py --lake s3a://bucket/lake [--model-version N]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["score", "delivery", *sys.argv[1:]])

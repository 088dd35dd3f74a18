"""spark-submit entry point for `lakehouse retrain fraud`: the retraining policy, then the gate.

infra/spark-submit.sh jobs/retrain_fraud.py --lake s3a://bucket/lake [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["retrain", "fraud", *sys.argv[1:]])

"""spark-submit entry point for `lakehouse gold`.

infra/spark-submit.sh jobs/gold.py --lake s3a://bucket/lake [--source NAME] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["gold", *sys.argv[1:]])

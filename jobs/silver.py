"""spark-submit entry point for `lakehouse silver`.

infra/spark-submit.sh jobs/silver.py --lake s3a://bucket/lake [--source NAME] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["silver", *sys.argv[1:]])

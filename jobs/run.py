"""spark-submit entry point for `lakehouse run`.

infra/spark-submit.sh jobs/run.py --lake s3a://bucket/lake [--source NAME] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["run", *sys.argv[1:]])

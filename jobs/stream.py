"""spark-submit entry point for `lakehouse stream` (runs until SIGTERM).

infra/spark-submit.sh jobs/stream.py --lake s3a://bucket/lake [--trigger 60] [--source NAME]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["stream", *sys.argv[1:]])

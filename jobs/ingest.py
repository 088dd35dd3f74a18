"""spark-submit entry point for `lakehouse ingest`.

infra/spark-submit.sh jobs/ingest.py --lake s3a://bucket/lake [--source NAME] [--set k=v]
"""

import sys

from lakehouse.cli import main

if __name__ == "__main__":
    main(["ingest", *sys.argv[1:]])

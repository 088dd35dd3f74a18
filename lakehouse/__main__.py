"""``python -m lakehouse``."""

from lakehouse.cli import main

main()

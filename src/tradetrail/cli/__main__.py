"""`python -m tradetrail.cli` runs the CLI."""

from .main import main

main()

"""`python -m tradetrail` runs the CLI."""

from .cli import main

main(prog_name="tradetrail")

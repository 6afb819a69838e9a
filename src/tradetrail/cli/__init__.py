"""The `tradetrail` command. Exit codes: 0 ok, 1 a fault was found (or a bad input line), 2 a
usage or configuration error. User mistakes print one line, never a traceback."""

from .main import COMMANDS, main

__all__ = ["COMMANDS", "main"]

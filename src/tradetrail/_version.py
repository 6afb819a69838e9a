"""The version of tradetrail, stamped into packs and reports: a module of its own so that any
layer can read it without importing the package root (which wires every layer)."""

__version__ = "0.1.0"

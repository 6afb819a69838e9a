"""`tradetrail.logging_handler`, the import path users type, kept: the code lives in
tradetrail.integrations.logging_handler."""

from .integrations.logging_handler import *  # noqa: F403
from .integrations.logging_handler import __all__ as __all__

"""`tradetrail.structlog_processor`, the import path users type, kept: the code lives in
tradetrail.integrations.structlog_processor."""

from .integrations.structlog_processor import *  # noqa: F403
from .integrations.structlog_processor import __all__ as __all__

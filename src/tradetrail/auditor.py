"""`tradetrail.auditor`, the import path users type, kept: the code lives in
tradetrail.integrations.auditor."""

from .integrations.auditor import *  # noqa: F403
from .integrations.auditor import __all__ as __all__

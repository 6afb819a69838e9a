"""`tradetrail.testing`, the import path users type, kept: the code lives in
tradetrail.integrations.testing."""

from .integrations.testing import *  # noqa: F403
from .integrations.testing import __all__ as __all__

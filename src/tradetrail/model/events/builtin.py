"""The built-in event types, in the order they are registered, and the model `record()` uses."""

from typing import Final

from .auth import (
    AuthApiKeyCreated,
    AuthApiKeyRevoked,
    AuthLogin,
    AuthLoginFailed,
    AuthLogout,
    AuthPermissionChanged,
)
from .base import EventData
from .compliance import (
    ComplianceApprovalGranted,
    ComplianceArchivePushed,
    ComplianceAttestation,
    ComplianceExceptionNoted,
    ComplianceExportMade,
    ComplianceRecordCorrected,
    ComplianceRecordsRemoved,
    ComplianceRestoreDrill,
    ComplianceVerificationRun,
)
from .config import ConfigChanged, ConfigSnapshot
from .log import LogFallback, LogRecord
from .order import (
    OrderAccepted,
    OrderCancelled,
    OrderCancelRequested,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderReplaced,
    OrderStopUpdated,
    OrderSubmitted,
)
from .portfolio import PortfolioFeeCharged, PortfolioNavComputed, PortfolioPositionSnapshot
from .registry import EventModel
from .risk import (
    RiskKillSwitch,
    RiskLeverageSet,
    RiskLimitBreached,
    RiskMarginTypeSet,
    RiskPassed,
    RiskRejected,
    RiskSizeCalculated,
    RiskSizeCapped,
)
from .signal import SignalProcessed, SignalReceived
from .system import (
    AlertFailed,
    AlertRaised,
    AlertSent,
    SystemClockSync,
    SystemServiceStarted,
    SystemServiceStopped,
)
from .trade import InstrumentDefined, TradeExecuted, TradeExecutionFailed
from .trail import TrailKeyRotated
from .venue import (
    VenueApiError,
    VenueBalanceQueried,
    VenueConnectivityLost,
    VenueConnectivityRestored,
    VenuePositionQueried,
    VenueRateLimited,
    VenueRetry,
)

__all__ = ["BUILTIN_TYPES", "DEFAULT_MODEL"]

BUILTIN_TYPES: Final[tuple[type[EventData], ...]] = (
    SignalReceived,
    SignalProcessed,
    RiskSizeCalculated,
    RiskSizeCapped,
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderReplaced,
    OrderCancelRequested,
    OrderCancelled,
    OrderExpired,
    OrderStopUpdated,
    OrderPartiallyFilled,
    OrderFilled,
    InstrumentDefined,
    TradeExecuted,
    TradeExecutionFailed,
    RiskPassed,
    RiskRejected,
    RiskLimitBreached,
    RiskLeverageSet,
    RiskMarginTypeSet,
    RiskKillSwitch,
    VenueApiError,
    VenueRetry,
    VenueRateLimited,
    VenueConnectivityLost,
    VenueConnectivityRestored,
    VenuePositionQueried,
    VenueBalanceQueried,
    PortfolioPositionSnapshot,
    PortfolioNavComputed,
    PortfolioFeeCharged,
    ConfigChanged,
    ConfigSnapshot,
    AuthLogin,
    AuthLogout,
    AuthLoginFailed,
    AuthPermissionChanged,
    AuthApiKeyCreated,
    AuthApiKeyRevoked,
    AlertSent,
    AlertFailed,
    AlertRaised,
    SystemServiceStarted,
    SystemServiceStopped,
    SystemClockSync,
    LogRecord,
    LogFallback,
    ComplianceAttestation,
    ComplianceExceptionNoted,
    ComplianceApprovalGranted,
    ComplianceRecordCorrected,
    ComplianceExportMade,
    ComplianceRecordsRemoved,
    ComplianceArchivePushed,
    ComplianceRestoreDrill,
    ComplianceVerificationRun,
    TrailKeyRotated,
)


DEFAULT_MODEL: Final = EventModel(BUILTIN_TYPES)
"""The model `record()` uses: every built-in type; `DEFAULT_MODEL.register(...)` adds yours."""

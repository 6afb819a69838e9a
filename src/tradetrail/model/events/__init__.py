"""The typed, versioned vocabulary of trading events: what goes in `data` for each event type.

Why typed: books-and-records rules (SEC 17a-3/17a-4, FINRA 4511, MiFID II Art. 16, CFTC 1.31/1.35)
and examiners ask for specific fields, and a trail is only as good as the consistency of what it
holds. Each event type is a msgspec `Struct` that declares its dotted type name (`TYPE`) and its
revision (`VERSION`). `EventModel.validate` checks the `data` of a record against it in the caller
of `record()`, so a bad event fails where it was made, naming the field.

Rules every event type follows (built-in or user-defined through `EventModel.register`):
- money, prices, quantities and scores are `Decimal`; a binary float is refused (it is not
  exact); a `Decimal`, an `int` or a decimal string is accepted, and the journal holds a decimal
  string (durations in seconds are the only floats);
- times are timezone-aware `datetime`s; a naive datetime is refused;
- unknown fields are refused; optional fields default to `None` and are then omitted;
- identifiers that the envelope carries (order ids, symbol, account, venue, strategy, actor, ...)
  are not repeated in `data`;
- a `VERSION` only ever adds optional fields, so every older record still validates against the
  newest struct; a change that would invalidate old records takes a new type name.

A type the model does not know is still recorded, free-form (checked only as JSON); `strict=True`
refuses it instead, for tests.

One module per category of type names (`order` holds order.*, `risk` risk.*, ...; `trade` also
instrument.*, `system` also alert.*), the shared base and field types in `base`, the journal
record in `envelope`, the registry in `registry`, the built-in list and `DEFAULT_MODEL` in
`builtin`. Every name is importable from here, as when this was one module.
"""

from .auth import (
    AuthApiKeyCreated,
    AuthApiKeyRevoked,
    AuthLogin,
    AuthLoginFailed,
    AuthLogout,
    AuthPermissionChanged,
)
from .base import (
    AwareDatetime,
    BalanceEntry,
    Capacity,
    EventData,
    EventId,
    Liquidity,
    MarginType,
    PositionEntry,
    Seq,
    Severity,
    Side,
)
from .builtin import BUILTIN_TYPES, DEFAULT_MODEL
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
from .envelope import Envelope, Ident, Source, Spill
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
from .registry import EventModel, FloatCheck
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

__all__ = [
    "BUILTIN_TYPES",
    "DEFAULT_MODEL",
    "AlertFailed",
    "AlertRaised",
    "AlertSent",
    "AuthApiKeyCreated",
    "AuthApiKeyRevoked",
    "AuthLogin",
    "AuthLoginFailed",
    "AuthLogout",
    "AuthPermissionChanged",
    "AwareDatetime",
    "BalanceEntry",
    "Capacity",
    "ComplianceApprovalGranted",
    "ComplianceArchivePushed",
    "ComplianceAttestation",
    "ComplianceExceptionNoted",
    "ComplianceExportMade",
    "ComplianceRecordCorrected",
    "ComplianceRecordsRemoved",
    "ComplianceRestoreDrill",
    "ComplianceVerificationRun",
    "ConfigChanged",
    "ConfigSnapshot",
    "Envelope",
    "EventData",
    "EventId",
    "EventModel",
    "FloatCheck",
    "Ident",
    "InstrumentDefined",
    "Liquidity",
    "LogFallback",
    "LogRecord",
    "MarginType",
    "OrderAccepted",
    "OrderCancelRequested",
    "OrderCancelled",
    "OrderExpired",
    "OrderFilled",
    "OrderPartiallyFilled",
    "OrderRejected",
    "OrderReplaced",
    "OrderStopUpdated",
    "OrderSubmitted",
    "PortfolioFeeCharged",
    "PortfolioNavComputed",
    "PortfolioPositionSnapshot",
    "PositionEntry",
    "RiskKillSwitch",
    "RiskLeverageSet",
    "RiskLimitBreached",
    "RiskMarginTypeSet",
    "RiskPassed",
    "RiskRejected",
    "RiskSizeCalculated",
    "RiskSizeCapped",
    "Seq",
    "Severity",
    "Side",
    "SignalProcessed",
    "SignalReceived",
    "Source",
    "Spill",
    "SystemClockSync",
    "SystemServiceStarted",
    "SystemServiceStopped",
    "TradeExecuted",
    "TradeExecutionFailed",
    "TrailKeyRotated",
    "VenueApiError",
    "VenueBalanceQueried",
    "VenueConnectivityLost",
    "VenueConnectivityRestored",
    "VenuePositionQueried",
    "VenueRateLimited",
    "VenueRetry",
]

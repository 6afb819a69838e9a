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
"""

import difflib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import Meta, Struct
from msgspec import inspect as mi

from ..core.canonical import EVENT_ID_PATTERN, MAX_FIELD_CHARS, TYPE_PATTERN, unencodable_text

__all__ = [
    "BUILTIN_TYPES",
    "DEFAULT_MODEL",
    "AwareDatetime",
    "BalanceEntry",
    "Envelope",
    "EventData",
    "EventModel",
    "PositionEntry",
    "Severity",
    "Side",
]

AwareDatetime = Annotated[datetime, Meta(tz=True)]
"""A datetime that must carry a timezone: a naive one is ambiguous evidence, so it is refused."""

Side = Literal["buy", "sell", "sell_short", "sell_short_exempt"]
"""Order side, with the short-sale marks that Reg SHO and CAT require of equity sells."""

Severity = Literal["debug", "info", "warning", "error", "critical"]
Liquidity = Literal["maker", "taker"]
Capacity = Literal["agency", "principal", "riskless_principal"]
MarginType = Literal["cross", "isolated", "portfolio"]
EventId = Annotated[str, Meta(pattern=EVENT_ID_PATTERN.pattern)]
Seq = Annotated[int, Meta(ge=0)]

# to_builtins keeps these as objects; the canonical encoder formats them
_KEEP: Final = (Decimal, datetime, date)


class EventData(Struct, kw_only=True, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """Base of every event's `data`: strict (unknown fields refused), immutable (an event is a
    fact) and with `None` fields omitted. Subclass it as `class X(EventData, kw_only=True,
    frozen=True)` (msgspec applies kw_only per class) and set `TYPE` and `VERSION`."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


class PositionEntry(EventData, kw_only=True, frozen=True):
    """One position in a venue query or a portfolio snapshot; quantity signed (short < 0)."""

    symbol: str
    qty: Decimal
    avg_price: Decimal | None = None
    mark_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    leverage: Decimal | None = None
    margin_type: MarginType | None = None
    liquidation_price: Decimal | None = None
    currency: str | None = None


class BalanceEntry(EventData, kw_only=True, frozen=True):
    """One asset balance as the venue reported it."""

    asset: str
    total: Decimal
    available: Decimal | None = None
    locked: Decimal | None = None


# --------------------------------------------------------------------------- signals, sizing


class SignalReceived(EventData, kw_only=True, frozen=True):
    """A trading signal arrived: the start of the decision lineage (RTS 6 algo records)."""

    TYPE = "signal.received"
    VERSION = 1
    origin: str | None = None
    side: Side | None = None
    action: str | None = None
    strength: Decimal | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    timeframe: str | None = None
    payload: dict[str, Any] | None = None


class SignalProcessed(EventData, kw_only=True, frozen=True):
    """What the strategy decided about a signal, so ignored signals are evidenced too."""

    TYPE = "signal.processed"
    VERSION = 1
    outcome: Literal["accepted", "ignored", "rejected", "expired", "duplicate"]
    reason: str | None = None
    orders_created: int | None = None
    latency_us: int | None = None


class RiskSizeCalculated(EventData, kw_only=True, frozen=True):
    """How a position size was derived, with the inputs an examiner would recompute it from."""

    TYPE = "risk.size_calculated"
    VERSION = 1
    qty: Decimal
    method: str | None = None
    equity: Decimal | None = None
    risk_fraction: Decimal | None = None
    stop_distance: Decimal | None = None
    price: Decimal | None = None
    notional: Decimal | None = None
    leverage: Decimal | None = None
    inputs: dict[str, Any] | None = None


class RiskSizeCapped(EventData, kw_only=True, frozen=True):
    """A size was reduced by a limit: shows the control acted (SEC 15c3-5, RTS 6)."""

    TYPE = "risk.size_capped"
    VERSION = 1
    requested_qty: Decimal
    capped_qty: Decimal
    rule: str | None = None
    limit: Decimal | None = None
    reason: str | None = None


# --------------------------------------------------------------------------- orders and fills


class OrderSubmitted(EventData, kw_only=True, frozen=True):
    """An order left the system for a venue: the order ticket (17a-3(a)(6), Art. 16(6), CAT)."""

    TYPE = "order.submitted"
    VERSION = 2
    side: Side
    qty: Decimal
    order_type: str | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    expire_at: AwareDatetime | None = None
    reduce_only: bool | None = None
    post_only: bool | None = None
    leverage: Decimal | None = None
    notional: Decimal | None = None
    currency: str | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    algo_id: str | None = None
    capacity: Capacity | None = None
    arrival_price: Decimal | None = None
    """The market price when the order was decided (mid or last): the benchmark of
    implementation shortfall / arrival slippage in the execution report (version 2)."""


class OrderAccepted(EventData, kw_only=True, frozen=True):
    """The venue acknowledged the order (identifiers live in the envelope)."""

    TYPE = "order.accepted"
    VERSION = 1
    status: str | None = None
    price: Decimal | None = None
    remaining_qty: Decimal | None = None
    latency_us: int | None = None


class OrderRejected(EventData, kw_only=True, frozen=True):
    """An order was refused, by the venue or internally; the reason is the point of the record."""

    TYPE = "order.rejected"
    VERSION = 1
    reason: str
    code: str | int | None = None
    rejected_by: str | None = None


class OrderReplaced(EventData, kw_only=True, frozen=True):
    """An order was modified (cancel/replace): old and new terms side by side."""

    TYPE = "order.replaced"
    VERSION = 1
    new_order_id: str | None = None
    orig_client_order_id: str | None = None
    old_qty: Decimal | None = None
    new_qty: Decimal | None = None
    old_price: Decimal | None = None
    new_price: Decimal | None = None
    old_stop_price: Decimal | None = None
    new_stop_price: Decimal | None = None
    time_in_force: str | None = None
    reason: str | None = None


class OrderCancelRequested(EventData, kw_only=True, frozen=True):
    """A cancel was asked for; the venue's answer is a separate `order.cancelled`."""

    TYPE = "order.cancel_requested"
    VERSION = 1
    reason: str | None = None
    orig_client_order_id: str | None = None


class OrderCancelled(EventData, kw_only=True, frozen=True):
    """An order was cancelled, with what was left and who cancelled it."""

    TYPE = "order.cancelled"
    VERSION = 1
    reason: str | None = None
    cancelled_by: str | None = None
    remaining_qty: Decimal | None = None
    filled_qty: Decimal | None = None


class OrderExpired(EventData, kw_only=True, frozen=True):
    """An order reached the end of its time in force unfilled or partly filled."""

    TYPE = "order.expired"
    VERSION = 1
    time_in_force: str | None = None
    remaining_qty: Decimal | None = None
    filled_qty: Decimal | None = None
    reason: str | None = None


class OrderStopUpdated(EventData, kw_only=True, frozen=True):
    """A protective stop or take-profit moved: a change of terms that must be evidenced."""

    TYPE = "order.stop_updated"
    VERSION = 1
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    old_stop_loss: Decimal | None = None
    old_take_profit: Decimal | None = None
    trailing_distance: Decimal | None = None
    reason: str | None = None


class OrderPartiallyFilled(EventData, kw_only=True, frozen=True):
    """One execution that leaves quantity open (fill details for the blotter and CAT)."""

    TYPE = "order.partially_filled"
    VERSION = 2
    fill_qty: Decimal
    fill_price: Decimal
    cum_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    avg_price: Decimal | None = None
    side: Side | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    trade_id: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    """Who the other side of the execution is, as the venue reports it (a clearing house, the
    venue as principal, a broker): the blotter's counterparty column (version 2)."""


class OrderFilled(EventData, kw_only=True, frozen=True):
    """The execution that completes the order, with the totals when known."""

    TYPE = "order.filled"
    VERSION = 2
    fill_qty: Decimal
    fill_price: Decimal
    cum_qty: Decimal | None = None
    remaining_qty: Decimal | None = None
    avg_price: Decimal | None = None
    side: Side | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    trade_id: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    """Who the other side of the execution is, as the venue reports it (a clearing house, the
    venue as principal, a broker): the blotter's counterparty column (version 2)."""


class InstrumentDefined(EventData, kw_only=True, frozen=True):
    """Reference data of the instrument named in the envelope's `symbol`, as the firm trades it:
    recorded at the start of a session (or when it changes), so that the blotter can name the
    currency and derive the settlement date of each execution from facts on the trail."""

    TYPE = "instrument.defined"
    VERSION = 1
    currency: str
    settlement_days: Annotated[int, Meta(ge=0, le=30)] | None = None
    """The settlement cycle: trades settle this many settlement days after the trade date
    (T+1 is 1; 0 settles on the trade date)."""
    settlement_calendar: Literal["weekdays", "every_day"] | None = None
    """Which days count as settlement days: Monday to Friday (the default), or every day (24/7
    markets); either less `holidays`."""
    holidays: list[date] | None = None
    """Days that are not settlement days (market holidays of the settlement calendar)."""
    asset_class: str | None = None
    description: str | None = None
    isin: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None


class TradeExecuted(EventData, kw_only=True, frozen=True):
    """A trade as booked: the blotter line (17a-3(a)(1), CFTC 1.35, trade and settlement dates)."""

    TYPE = "trade.executed"
    VERSION = 1
    side: Side
    qty: Decimal
    price: Decimal
    trade_id: str | None = None
    notional: Decimal | None = None
    currency: str | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    liquidity: Liquidity | None = None
    counterparty: str | None = None
    trade_date: date | None = None
    settlement_date: date | None = None


class TradeExecutionFailed(EventData, kw_only=True, frozen=True):
    """An attempted execution failed: as important to evidence as one that succeeded."""

    TYPE = "trade.execution_failed"
    VERSION = 1
    reason: str
    code: str | int | None = None
    side: Side | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    retryable: bool | None = None


# --------------------------------------------------------------------------- risk controls


class RiskPassed(EventData, kw_only=True, frozen=True):
    """Pre-trade checks passed: proves the controls ran before the order (SEC 15c3-5)."""

    TYPE = "risk.passed"
    VERSION = 1
    checks: list[str] | None = None
    notional: Decimal | None = None
    exposure_after: Decimal | None = None
    latency_us: int | None = None


class RiskRejected(EventData, kw_only=True, frozen=True):
    """A control blocked an action: which rule, its limit and what was observed."""

    TYPE = "risk.rejected"
    VERSION = 1
    rule: str
    limit: Decimal | None = None
    observed: Decimal | None = None
    unit: str | None = None
    reason: str | None = None


class RiskLimitBreached(EventData, kw_only=True, frozen=True):
    """A limit was exceeded (post-trade or by market moves), and what was done about it."""

    TYPE = "risk.limit_breached"
    VERSION = 1
    rule: str
    limit: Decimal
    observed: Decimal
    unit: str | None = None
    action: str | None = None


class RiskLeverageSet(EventData, kw_only=True, frozen=True):
    """Leverage on an account or symbol changed."""

    TYPE = "risk.leverage_set"
    VERSION = 1
    leverage: Decimal
    old_leverage: Decimal | None = None
    reason: str | None = None


class RiskMarginTypeSet(EventData, kw_only=True, frozen=True):
    """The margin mode changed (cross/isolated): it changes how losses propagate."""

    TYPE = "risk.margin_type_set"
    VERSION = 1
    margin_type: MarginType
    old_margin_type: MarginType | None = None
    reason: str | None = None


class RiskKillSwitch(EventData, kw_only=True, frozen=True):
    """The kill switch was engaged or released (MiFID II RTS 6 Art. 12, SEC 15c3-5)."""

    TYPE = "risk.kill_switch"
    VERSION = 1
    engaged: bool
    reason: str
    scope: str | None = None
    trigger: str | None = None
    orders_cancelled: int | None = None
    positions_flattened: bool | None = None


# --------------------------------------------------------------------------- venue and API


class VenueApiError(EventData, kw_only=True, frozen=True):
    """A venue or broker API call failed."""

    TYPE = "venue.api_error"
    VERSION = 1
    error: str
    operation: str | None = None
    endpoint: str | None = None
    method: str | None = None
    status: int | None = None
    code: str | int | None = None
    retryable: bool | None = None


class VenueRetry(EventData, kw_only=True, frozen=True):
    """A call is being retried: explains duplicates and delays in the order lineage."""

    TYPE = "venue.retry"
    VERSION = 1
    attempt: int
    max_attempts: int | None = None
    delay: float | None = None  # seconds before the next attempt
    operation: str | None = None
    error: str | None = None


class VenueRateLimited(EventData, kw_only=True, frozen=True):
    """The venue throttled us; order delays and rejections are then explained."""

    TYPE = "venue.rate_limited"
    VERSION = 1
    operation: str | None = None
    limit: str | None = None  # as the venue states it, e.g. "1200 weight/min"
    used: int | None = None
    retry_after: float | None = None  # seconds
    scope: str | None = None


class VenueConnectivityLost(EventData, kw_only=True, frozen=True):
    """The link to a venue dropped (RTS 6 business continuity, incident review)."""

    TYPE = "venue.connectivity_lost"
    VERSION = 1
    channel: str | None = None
    endpoint: str | None = None
    reason: str | None = None
    last_message_at: AwareDatetime | None = None


class VenueConnectivityRestored(EventData, kw_only=True, frozen=True):
    """The link came back, with how long it was down and whether state was resynchronised."""

    TYPE = "venue.connectivity_restored"
    VERSION = 1
    channel: str | None = None
    endpoint: str | None = None
    downtime_ms: int | None = None
    resynced: bool | None = None


class VenuePositionQueried(EventData, kw_only=True, frozen=True):
    """Positions as the venue reports them: the other side of a reconciliation."""

    TYPE = "venue.position_queried"
    VERSION = 1
    positions: list[PositionEntry]
    as_of: AwareDatetime | None = None


class VenueBalanceQueried(EventData, kw_only=True, frozen=True):
    """Balances as the venue reports them: the other side of a cash reconciliation."""

    TYPE = "venue.balance_queried"
    VERSION = 1
    balances: list[BalanceEntry]
    as_of: AwareDatetime | None = None


# --------------------------------------------------------------------------- portfolio


class PortfolioPositionSnapshot(EventData, kw_only=True, frozen=True):
    """Our own book of positions at a point in time (17a-3(a)(5) position records)."""

    TYPE = "portfolio.position_snapshot"
    VERSION = 1
    positions: list[PositionEntry]
    as_of: AwareDatetime | None = None
    currency: str | None = None


class PortfolioNavComputed(EventData, kw_only=True, frozen=True):
    """Net asset value with its components, so the NAV report can be re-derived."""

    TYPE = "portfolio.nav_computed"
    VERSION = 1
    cash: Decimal
    positions_at_mark: Decimal
    fees: Decimal
    accruals: Decimal
    nav: Decimal
    currency: str
    as_of: AwareDatetime | None = None
    shares_outstanding: Decimal | None = None
    nav_per_share: Decimal | None = None
    pricing_source: str | None = None


class PortfolioFeeCharged(EventData, kw_only=True, frozen=True):
    """A fee, commission, funding or financing charge (commission records, fee disclosure)."""

    TYPE = "portfolio.fee_charged"
    VERSION = 1
    amount: Decimal
    currency: str
    fee_type: str
    rate: Decimal | None = None
    trade_id: str | None = None
    description: str | None = None


# --------------------------------------------------------------------------- configuration


class ConfigChanged(EventData, kw_only=True, frozen=True):
    """A configuration change: who (envelope actor), what, and the hashes before and after."""

    TYPE = "config.changed"
    VERSION = 1
    path: str
    new_hash: str
    old_hash: str | None = None
    keys: list[str] | None = None
    old_value: Any = None
    new_value: Any = None
    reason: str | None = None
    approved_by: str | None = None
    ticket: str | None = None


class ConfigSnapshot(EventData, kw_only=True, frozen=True):
    """The full effective configuration, so any later change has a baseline."""

    TYPE = "config.snapshot"
    VERSION = 1
    hash: str
    path: str | None = None
    version: str | None = None
    content: dict[str, Any] | None = None


# --------------------------------------------------------------------------- access


class AuthLogin(EventData, kw_only=True, frozen=True):
    """A user or service logged in (who is the envelope actor); access review evidence."""

    TYPE = "auth.login"
    VERSION = 1
    method: str | None = None
    session_id: str | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    mfa: bool | None = None


class AuthLogout(EventData, kw_only=True, frozen=True):
    """A session ended, and why (user, timeout, forced)."""

    TYPE = "auth.logout"
    VERSION = 1
    session_id: str | None = None
    reason: str | None = None


class AuthLoginFailed(EventData, kw_only=True, frozen=True):
    """A failed login: the attempted user may not exist, so it is data, not the actor."""

    TYPE = "auth.login_failed"
    VERSION = 1
    reason: str
    username: str | None = None
    method: str | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    attempts: int | None = None


class AuthPermissionChanged(EventData, kw_only=True, frozen=True):
    """Entitlements of `subject` changed; the actor is who changed them."""

    TYPE = "auth.permission_changed"
    VERSION = 1
    subject: str
    granted: list[str] | None = None
    revoked: list[str] | None = None
    role: str | None = None
    old_role: str | None = None
    reason: str | None = None
    approved_by: str | None = None


class AuthApiKeyCreated(EventData, kw_only=True, frozen=True):
    """An API key was created: its id and scope, never the secret."""

    TYPE = "auth.api_key_created"
    VERSION = 1
    key_id: str
    subject: str | None = None
    permissions: list[str] | None = None
    ip_allowlist: list[str] | None = None
    expires_at: AwareDatetime | None = None


class AuthApiKeyRevoked(EventData, kw_only=True, frozen=True):
    """An API key was revoked."""

    TYPE = "auth.api_key_revoked"
    VERSION = 1
    key_id: str
    subject: str | None = None
    reason: str | None = None


# --------------------------------------------------------------------------- alerts and system


class AlertSent(EventData, kw_only=True, frozen=True):
    """An alert went out: proves supervisors were told (FINRA 3110 supervision)."""

    TYPE = "alert.sent"
    VERSION = 1
    channel: str
    rule: str
    severity: Severity
    message: str | None = None
    alert_id: str | None = None
    recipients: list[str] | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None


class SystemServiceStarted(EventData, kw_only=True, frozen=True):
    """A service started, with the version and configuration it runs (RTS 6 change records)."""

    TYPE = "system.service_started"
    VERSION = 1
    version: str | None = None
    config_hash: str | None = None
    mode: str | None = None


class SystemServiceStopped(EventData, kw_only=True, frozen=True):
    """A service stopped; an unclean stop explains a gap in activity."""

    TYPE = "system.service_stopped"
    VERSION = 1
    reason: str | None = None
    exit_code: int | None = None
    uptime_ms: int | None = None
    clean: bool | None = None


class SystemClockSync(EventData, kw_only=True, frozen=True):
    """Clock synchronisation status: offset from the reference (MiFID II RTS 25, CAT clock rule)."""

    TYPE = "system.clock_sync"
    VERSION = 1
    offset_us: Decimal
    source: str
    max_divergence_us: Decimal | None = None
    within_tolerance: bool | None = None
    stratum: int | None = None


# --------------------------------------------------------------------------- log


class LogRecord(EventData, kw_only=True, frozen=True):
    """A log line kept as evidence: what the logging integrations record for a line marked
    for the audit that names no event type (or, with `loggers_all`, every line)."""

    TYPE = "log.record"
    VERSION = 1
    message: str
    logger: str | None = None
    level: str | None = None
    exc: str | None = None
    stack: str | None = None


class LogFallback(EventData, kw_only=True, frozen=True):
    """An audit event a logging integration could not record as asked (bad data, a value the
    encoder refuses): kept, with the reason; the event as given is in the record's `context`."""

    TYPE = "log.fallback"
    VERSION = 1
    intended_type: str
    reason: str


# --------------------------------------------------------------------------- compliance


class ComplianceAttestation(EventData, kw_only=True, frozen=True):
    """A person attests to something (a daily pack, a review) on the record."""

    TYPE = "compliance.attestation"
    VERSION = 2
    statement: str
    subject: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    digest: str | None = None
    signer_key: str | None = None
    """The attester's verifier key (C2SP note format) when the attestation is a signature:
    the journal then holds what is needed to check it (version 2)."""


class ComplianceExceptionNoted(EventData, kw_only=True, frozen=True):
    """A compliance exception was identified, with its remediation."""

    TYPE = "compliance.exception_noted"
    VERSION = 1
    description: str
    exception_id: str | None = None
    rule: str | None = None
    severity: Severity | None = None
    remediation: str | None = None
    due: date | None = None
    related_event_ids: list[EventId] | None = None


class ComplianceApprovalGranted(EventData, kw_only=True, frozen=True):
    """An approval (of a change, a limit, an exception) was granted by the actor."""

    TYPE = "compliance.approval_granted"
    VERSION = 1
    subject: str
    scope: str | None = None
    conditions: str | None = None
    ticket: str | None = None
    request_event_id: EventId | None = None
    expires_at: AwareDatetime | None = None


class ComplianceRecordCorrected(EventData, kw_only=True, frozen=True):
    """A correction of an earlier record. Nothing is edited: this new event references the
    corrected one (by event id and/or seq) and says why (17a-4(f) non-rewriteable records)."""

    TYPE = "compliance.record_corrected"
    VERSION = 1
    reason: str
    corrects_event_id: EventId | None = None
    corrects_seq: Seq | None = None
    corrections: dict[str, Any] | None = None
    approved_by: str | None = None

    def __post_init__(self) -> None:
        if self.corrects_event_id is None and self.corrects_seq is None:
            raise ValueError(
                "corrects_event_id or corrects_seq is required (the record being corrected)"
            )


class ComplianceExportMade(EventData, kw_only=True, frozen=True):
    """tradetrail made an export for examiners (a daily pack, an exam package): what, for
    which period, and the SHA-256 of its manifest, so the package can be tied to the trail."""

    TYPE = "compliance.export_made"
    VERSION = 1
    kind: Literal["daily_pack", "exam_package"]
    period_start: date
    period_end: date
    digest: str
    records: Annotated[int, Meta(ge=0)] | None = None
    query: str | None = None
    path: str | None = None


class ComplianceRecordsRemoved(EventData, kw_only=True, frozen=True):
    """Sealed days were removed from the journal under the retention policy. Their Merkle
    hashes stay in tiles/, so the tree and every checkpoint still commit to them."""

    TYPE = "compliance.records_removed"
    VERSION = 1
    reason: str
    days: list[date]
    first_seq: Seq
    last_seq: Seq
    policy_digest: str | None = None
    pack_digests: dict[str, str] | None = None
    range_root: str | None = None
    pruned_spans: list[list[Seq]] | None = None
    """Every record pruned so far, this removal included, as [first_seq, last_seq] spans."""
    pruned_root: str | None = None
    """RFC 6962 root over the leaf hashes of `pruned_spans`, in seq order."""
    seal: str | None = None
    previous_removal: EventId | None = None
    """The event id of the removal record before this one (each seals its predecessor, so a
    replayed copy of an older record is out of the chain)."""
    batch_id: str | None = None
    """The `retention apply` batch this record belongs to (see pruned.json)."""
    """The trail key's signed note over the log, `pruned_spans` and `pruned_root`: only the
    holder of the key (`retention apply`) can make a removal count (see verify)."""


# --------------------------------------------------------------------------- the trail itself


class TrailKeyRotated(EventData, kw_only=True, frozen=True):
    """The trail's signing key was replaced (`tradetrail keygen --rotate`, Trail.rotate_key):
    from tree size `from_size` on, checkpoints are signed by `new_vkey`. `note` is the
    statement signed by both keys (docs/FORMATS.md), so neither alone can forge a rotation;
    the record itself is the last one under the old key alone."""

    TYPE = "trail.key_rotated"
    VERSION = 1
    old_vkey: str
    new_vkey: str
    from_size: Annotated[int, Meta(ge=1)]
    note: str
    reason: str | None = None


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
    TrailKeyRotated,
)


# --------------------------------------------------------------------------- the envelope

Ident = Annotated[str, Meta(min_length=1, max_length=MAX_FIELD_CHARS)]


class Source(Struct, kw_only=True, omit_defaults=True):
    """The process that emitted the event; open, so deployments may add keys."""

    service: str | None = None
    host: str | None = None
    pid: int | None = None
    version: str | None = None


class Spill(Struct, kw_only=True, forbid_unknown_fields=True):
    """Set by the writer when the event waited in the spill file."""

    at: str
    reason: str


class Envelope(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One journal record (docs/FORMATS.md): the writer's `seq`, `ts`, `prev`, the caller's
    envelope and `data`. Used for the JSON Schema; absent optional fields are omitted."""

    seq: Seq
    ts: Annotated[
        str,
        Meta(
            pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6,9}Z$",
            extra_json_schema={"format": "date-time"},
        ),
    ]
    prev: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    event_id: EventId
    type: Annotated[str, Meta(pattern=TYPE_PATTERN.pattern)]
    event_ts: (
        Annotated[
            str,
            Meta(
                pattern=(
                    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
                ),
                extra_json_schema={"format": "date-time"},
            ),
        ]
        | None
    ) = None
    source: Source | None = None
    actor: Ident | None = None
    priority: Literal["debug", "low", "normal", "high", "critical"] | None = None
    correlation_id: Ident | None = None
    order_id: Ident | None = None
    client_order_id: Ident | None = None
    exchange_order_id: Ident | None = None
    parent_order_id: Ident | None = None
    signal_id: Ident | None = None
    strategy: Ident | None = None
    account: Ident | None = None
    venue: Ident | None = None
    symbol: Ident | None = None
    trace_id: Ident | None = None
    span_id: Ident | None = None
    data: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    """Free-form context of the event that its type's schema does not govern (from 0.2)."""
    spill: Spill | None = None
    redacted: list[str] | None = None
    """Paths of the values the redactor replaced (`data.venue.api_key`, `actor`)."""
    schema_error: str | None = None
    """Why `data` did not match its known type; the event was recorded as given."""


# --------------------------------------------------------------------------- the registry

FloatCheck = Callable[[Any, str], None]


_EXPECTED_GOT: Final = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`")
_JSON_KINDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "decimal": "a number with a fraction or exponent",
    "bool": "true or false",
    "null": "null",
    "object": "an object",
    "array": "an array",
    "datetime": "an RFC 3339 time",
    "date": "a date",
    "uuid": "a UUID",
}


def _json_kind(name: str) -> str:
    """msgspec names Python types (`decimal`); people who sent JSON read JSON words."""
    return _JSON_KINDS.get(name, name)


def _float_error(path: str) -> TypeError:
    return TypeError(
        f"{path}: expected a decimal, got float (binary floats are not exact: "
        "pass Decimal('1.5') or the string '1.5')"
    )


def _check_decimal(value: Any, path: str) -> None:
    if isinstance(value, float):
        raise _float_error(path)


def _float_check(t: mi.Type, seen: set[type]) -> FloatCheck | None:
    """A function that refuses binary floats wherever `t` expects a Decimal (None if `t` holds
    none): msgspec would accept them, but a float is inexact before it arrives (0.1 + 0.2)."""
    if isinstance(t, mi.DecimalType):
        return _check_decimal
    if isinstance(t, mi.UnionType):
        checks = [c for c in (_float_check(m, seen) for m in t.types) if c is not None]
        if not checks:
            return None

        def union(value: Any, path: str) -> None:
            for check in checks:
                check(value, path)

        return union
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        item = _float_check(t.item_type, seen)
        if item is None:
            return None

        def items(value: Any, path: str) -> None:
            if isinstance(value, list | tuple):
                for i, v in enumerate(value):
                    item(v, f"{path}[{i}]")

        return items
    if isinstance(t, mi.DictType):
        val = _float_check(t.value_type, seen)
        if val is None:
            return None

        def values(value: Any, path: str) -> None:
            if isinstance(value, Mapping):
                for k, v in value.items():
                    val(v, f"{path}.{k}")

        return values
    if isinstance(t, mi.StructType):
        if t.cls in seen:  # recursive types: floats in deeper levels are left to msgspec
            return None
        fields = _field_checks(t, seen | {t.cls})
        if not fields:
            return None

        def struct(value: Any, path: str) -> None:
            if isinstance(value, Mapping):
                for name, check in fields:
                    v = value.get(name)
                    if v is not None:
                        check(v, f"{path}.{name}")

        return struct
    return None


def _field_checks(t: mi.StructType, seen: set[type]) -> list[tuple[str, FloatCheck]]:
    found = []
    for f in t.fields:
        check = _float_check(f.type, seen)
        if check is not None:
            found.append((f.encode_name, check))
    return found


def _refuse_types(t: mi.Type, where: str) -> None:
    """Refuse field types whose values the journal cannot hold exactly or unambiguously."""
    if isinstance(t, mi.DateTimeType) and t.tz is not True:
        raise TypeError(f"{where}: datetime fields must be AwareDatetime (naive times are refused)")
    if isinstance(t, mi.TimeType):
        raise TypeError(f"{where}: a bare time of day is ambiguous; use AwareDatetime")
    if isinstance(t, mi.BytesType | mi.ByteArrayType | mi.MemoryViewType | mi.ExtType | mi.RawType):
        raise TypeError(f"{where}: binary values cannot be journaled; encode them as str")
    if isinstance(t, mi.SetType | mi.FrozenSetType):
        raise TypeError(f"{where}: sets have no canonical order; use list")
    if isinstance(t, mi.CustomType):
        raise TypeError(f"{where}: {t.cls.__name__} is not a JSON type msgspec can validate")
    if isinstance(t, mi.DictType):
        key = t.key_type
        if not isinstance(key, mi.StrType | mi.AnyType) and not (
            isinstance(key, mi.LiteralType) and all(isinstance(v, str) for v in key.values)
        ):
            raise TypeError(f"{where}: dict keys must be str")
    if isinstance(t, mi.UnionType):
        kinds = {type(m) for m in t.types}
        if mi.DecimalType in kinds and mi.FloatType in kinds:
            raise TypeError(f"{where}: a field cannot be both Decimal and float")
        for m in t.types:
            _refuse_types(m, where)
    elif isinstance(t, mi.ListType | mi.VarTupleType):
        _refuse_types(t.item_type, f"{where}[]")
    elif isinstance(t, mi.TupleType):
        for m in t.item_types:
            _refuse_types(m, f"{where}[]")
    elif isinstance(t, mi.DictType):
        _refuse_types(t.value_type, f"{where}.*")
    elif isinstance(t, mi.StructType):
        _check_struct(t, where)


def _check_struct(t: mi.StructType, where: str) -> None:
    config = t.cls.__struct_config__
    if not config.forbid_unknown_fields:
        raise TypeError(f"{where}: needs forbid_unknown_fields=True (subclass EventData)")
    if not config.omit_defaults:
        raise TypeError(f"{where}: needs omit_defaults=True (subclass EventData)")
    if t.array_like or t.tag_field is not None:
        raise TypeError(f"{where}: array_like and tagged structs are not event data")
    for f in t.fields:
        if not f.required and (f.default is not None or f.default_factory is not msgspec.NODEFAULT):
            raise TypeError(
                f"{where}.{f.encode_name}: optional fields must default to None "
                "(an omitted field then means 'not given')"
            )
        _refuse_types(f.type, f"{where}.{f.encode_name}")


_Entry = tuple[
    type[Struct],
    Callable[[str], type | None] | None,
    tuple[str, ...],
    tuple[tuple[str, FloatCheck], ...],
]

_convert: Final = msgspec.convert
_to_builtins: Final = msgspec.to_builtins
_KINDS: Final[dict[type, type]] = {
    mi.StrType: str,
    mi.IntType: int,
    mi.BoolType: bool,
    mi.DecimalType: Decimal,
    mi.DateTimeType: datetime,
    mi.DateType: date,
    mi.FloatType: float,
}


def _scalar_kind(t: mi.Type) -> type | None:
    """The exact Python type a validated scalar field holds, or None when the field is not a
    scalar of a single type (then the struct is validated by the general path)."""
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            return None
        t = members[0]
    if isinstance(t, mi.LiteralType):
        kinds = {type(v) for v in t.values}
        return kinds.pop() if len(kinds) == 1 else None
    return _KINDS.get(type(t))


_ERROR_AT = re.compile(
    r"^(?P<msg>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL
)
_FIELD_IN = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]*)`$")


class EventModel:
    """A registry of event types: validates `data` by type name in the caller of `record()`."""

    def __init__(self, types: Iterable[type[Struct]] = ()) -> None:
        self._lock = threading.Lock()
        # type name -> (struct, {field: exact type} when the struct is flat else None,
        #               top-level Decimal field names, deeper float checks)
        self._entries: dict[str, _Entry] = {}
        self._names: dict[type[Struct], str] = {}
        for struct_type in types:
            self.register(struct_type)

    def register(self, struct_type: type[Struct]) -> None:
        """Add an event type; it gets the same checks as the built-in ones (exact decimals, aware
        datetimes, no unknown fields), so these are enforced on the struct's field types here."""
        if not (isinstance(struct_type, type) and issubclass(struct_type, Struct)):
            raise TypeError(f"{struct_type!r} is not a msgspec Struct class")
        label = struct_type.__qualname__
        name = getattr(struct_type, "TYPE", None)
        if not isinstance(name, str) or not TYPE_PATTERN.match(name):
            raise ValueError(
                f"{label}.TYPE: {name!r} is not a dotted lower-case event type "
                "such as 'order.accepted'"
            )
        version = getattr(struct_type, "VERSION", None)
        if type(version) is not int or version < 1:
            raise ValueError(f"{label}.VERSION: {version!r} must be an int >= 1")
        info = _struct_info(struct_type)
        _check_struct(info, label)
        decimals = []
        deeper = []
        for f in info.fields:
            check = _float_check(f.type, {struct_type})
            if check is not None:
                if _scalar_kind(f.type) is Decimal:
                    decimals.append(f.encode_name)
                else:
                    deeper.append((f.encode_name, check))
        found = {f.encode_name: _scalar_kind(f.type) for f in info.fields}
        # For flat structs: field -> the exact type its validated value has (fast path check).
        flat = None not in found.values() and all(f.name == f.encode_name for f in info.fields)
        kind_of = found.get if flat else None
        try:
            msgspec.json.schema(struct_type)
        except TypeError as exc:
            raise TypeError(f"{label}: no JSON Schema: {exc}") from None
        with self._lock:
            if name in self._entries:
                raise ValueError(
                    f"{label}: event type {name!r} is already registered "
                    f"by {self._entries[name][0].__qualname__}"
                )
            if struct_type in self._names:
                raise ValueError(f"{label}: already registered as {self._names[struct_type]!r}")
            self._entries[name] = (struct_type, kind_of, tuple(decimals), tuple(deeper))
            self._names[struct_type] = name

    def get(self, event_type: str) -> type[Struct] | None:
        """The struct of a type name, or None for a type the model does not know."""
        entry = self._entries.get(event_type)
        return entry[0] if entry is not None else None

    def fields_of(self, event_type: str) -> frozenset[str] | None:
        """The `data` field names of a known type (None for a type the model does not know):
        the logging integrations put what is not one of them in the record's `context`."""
        entry = self._entries.get(event_type)
        return None if entry is None else frozenset(entry[0].__struct_encode_fields__)

    def types(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._entries)

    def type_of(self, struct: Struct | type[Struct]) -> str:
        """The type name of a registered struct (instance or class)."""
        cls = struct if isinstance(struct, type) else type(struct)
        name = self._names.get(cls)
        if name is None:
            raise ValueError(f"{cls.__qualname__} is not a registered event type (register it)")
        return name

    def version_of(self, event_type: str) -> int | None:
        """The current VERSION of a type, or None if unknown."""
        entry = self._entries.get(event_type)
        return int(getattr(entry[0], "VERSION", 1)) if entry is not None else None

    def validate(
        self,
        event_type: str,
        data: Mapping[str, Any] | Struct | None,
        *,
        strict: bool = False,
    ) -> dict[str, Any] | None:
        """Check `data` against the struct of `event_type` and return it as plain builtins for
        the canonical encoder (Decimal kept, aware datetimes and dates kept, None fields omitted).
        When `data` is a dict that already has exactly those types it is returned itself.

        A Struct instance is accepted; its class must be the one registered for `event_type`.
        Errors name the field (`data.qty: expected a decimal, got float`): TypeError for a wrong
        type, ValueError otherwise. NaN/Infinity decimals pass here and are refused, with their
        path, by the encoder's value check in `record()` (one check, not two, on the hot path).
        An unknown type returns `data` unchanged (free-form) unless `strict`, which raises
        ValueError. `data=None` gives None when the type requires no field."""
        entry = self._entries.get(event_type)
        if entry is None:
            if type(data) is dict and not strict:
                return data
            return self._free_form(event_type, data, strict)
        cls, kind_of, decimals, deeper = entry
        if isinstance(data, Struct):
            if type(data) is not cls:
                raise TypeError(
                    f"data: {type(data).__qualname__} is not the data of {event_type!r} "
                    f"(expected {cls.__qualname__})"
                )
            # a Struct's constructor does not check types: validate what it holds
            data = _to_builtins(data, builtin_types=_KEEP)
        if type(data) is dict and kind_of is not None:
            # Flat structs (the common case): one pass refuses floats for Decimal fields and
            # notes the fields whose input is not already of the exact type validation gives
            # (Decimal, aware datetime, no None); usually none, and nothing is converted.
            changed: list[str] | None = None
            for name, value in data.items():
                kind = kind_of(name)
                if type(value) is not kind:
                    if kind is Decimal and isinstance(value, float):
                        raise _float_error(f"data.{name}")
                    if changed is None:
                        changed = [name]
                    else:
                        changed.append(name)
            try:
                obj = _convert(data, cls)
            except msgspec.ValidationError as exc:
                raise self._error(exc, event_type, cls) from None
            except UnicodeEncodeError:  # msgspec encodes keys as UTF-8
                raise ValueError(f"{unencodable_text(data, 'data')}: not valid Unicode") from None
            if changed is None:
                return data
            out = data.copy()  # what to_builtins(obj) gives, cheaper for a few changed fields
            for name in changed:
                value = getattr(obj, name)
                if value is None:
                    del out[name]
                else:
                    out[name] = value
            return out
        if type(data) is dict:
            raw: dict[str, Any] = data
        elif data is None:
            raw = {}
        elif isinstance(data, Mapping):
            raw = dict(data)
        else:
            raise TypeError(
                f"data: expected a mapping (dict) or {cls.__qualname__}, got {type(data).__name__}"
            )
        for name in decimals:
            value = raw.get(name)
            if value is not None and isinstance(value, float):
                raise _float_error(f"data.{name}")
        for name, check in deeper:
            value = raw.get(name)
            if value is not None:
                check(value, f"data.{name}")
        try:
            obj = _convert(raw, cls)
        except msgspec.ValidationError as exc:
            raise self._error(exc, event_type, cls) from None
        except UnicodeEncodeError:
            raise ValueError(f"{unencodable_text(raw, 'data')}: not valid Unicode") from None
        if data is None:
            return None
        return _to_builtins(obj, builtin_types=_KEEP)  # type: ignore[no-any-return]

    def conform(
        self, event_type: str, data: Mapping[str, Any] | Struct | None, *, strict: bool = False
    ) -> tuple[Any, str | None]:
        """What `record()` keeps of `data`: the validated data and None, or, when data does not
        match its known type and not `strict`, the data as given (a Struct as builtins) and the
        error, so the event is still recorded and flagged. `strict` raises instead."""
        try:
            return self.validate(event_type, data, strict=strict), None
        except (TypeError, ValueError) as exc:
            if strict or event_type not in self._entries:
                raise
            if isinstance(data, Struct):
                data = msgspec.to_builtins(data, builtin_types=_KEEP)
            return data, str(exc)

    def _free_form(
        self, event_type: str, data: Mapping[str, Any] | Struct | None, strict: bool
    ) -> dict[str, Any] | None:
        """An unknown type: recorded as it is (the trail never refuses the unexpected)."""
        if strict:
            raise ValueError(self._unknown(event_type))
        if isinstance(data, Struct):
            if type(data) in self._names:
                raise TypeError(
                    f"data: {type(data).__qualname__} is the data of "
                    f"{self._names[type(data)]!r}, not of {event_type!r}"
                )
            return msgspec.to_builtins(data, builtin_types=_KEEP)  # type: ignore[no-any-return]
        if data is None or type(data) is dict:
            return data
        if isinstance(data, Mapping):
            return dict(data)
        raise TypeError(f"data: expected a mapping (dict), got {type(data).__name__}")

    def _unknown(self, event_type: str) -> str:
        near = difflib.get_close_matches(str(event_type), self._entries, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"type: unknown event type {event_type!r}{hint}; register it or use strict=False"

    @staticmethod
    def _error(exc: msgspec.ValidationError, event_type: str, cls: type[Struct]) -> Exception:
        """Turn msgspec's message (`Expected `str`, got `int` - at `$.x``) into ours."""
        m = _ERROR_AT.match(str(exc))
        msg, at = (m.group("msg"), m.group("path") or "") if m else (str(exc), "")
        path = "data" + at
        if m and m.group("key"):
            return TypeError(f"{path}: keys must be str ({msg.replace('`', '')} for a key)")
        field = _FIELD_IN.match(msg)
        if field is not None:
            path = f"{path}.{field.group('name')}"
            fields = ", ".join(cls.__struct_encode_fields__) if not at else ""
            if msg.startswith("Object missing"):
                text = f"required by {event_type} but missing" if not at else "required but missing"
            else:
                text = f"not a field of {event_type}" + (f" (fields: {fields})" if fields else "")
            return ValueError(f"{path}: {text}")
        if "with a timezone component" in msg:
            return ValueError(f"{path}: naive datetime refused (attach a timezone, e.g. UTC)")
        text = msg.replace("`", "")
        text = text[:1].lower() + text[1:]
        if msg.startswith("Invalid enum value") and at.count(".") == 1 and "[" not in at:
            allowed = _literal_values(cls, at[1:])
            if allowed:
                text = f"{text} (expected one of: {', '.join(map(str, allowed))})"
        expected = _EXPECTED_GOT.match(msg)
        if expected is None:
            return ValueError(f"{path}: {text}")
        want = " or ".join(_json_kind(k.strip()) for k in expected.group("want").split("|"))
        return TypeError(f"{path}: expected {want}, got {_json_kind(expected.group('got'))}")

    def json_schema(self) -> dict[str, Any]:
        """One JSON Schema (2020-12) for journal records: the envelope, and per registered type
        its `data` (under `events`, keyed by type name, and applied by `if`/`then`)."""
        names = self.types()
        structs = [self._entries[n][0] for n in names]
        refs, defs = msgspec.json.schema_components(
            [Envelope, *structs], ref_template="#/$defs/{name}"
        )
        for component in defs.values():
            _omitted_not_null(component)
        events: dict[str, Any] = {}
        rules: list[dict[str, Any]] = []
        for name, struct, ref in zip(names, structs, refs[1:], strict=True):
            required = [f.encode_name for f in _struct_info(struct).fields if f.required]
            events[name] = {
                "category": name.split(".", 1)[0],
                "version": getattr(struct, "VERSION", 1),
                "description": (struct.__doc__ or "").strip(),
                "data": ref,
            }
            then: dict[str, Any] = {"properties": {"data": ref}}
            if required:
                then["required"] = ["data"]
            rules.append(
                {
                    "if": {
                        "properties": {"type": {"const": name}},
                        "required": ["type"],
                        "not": {"required": ["schema_error"]},  # kept as given, flagged
                    },
                    "then": then,
                }
            )
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "tradetrail journal record",
            "description": (
                "One line of journal/audit-YYYYMMDD.jsonl. Records of a type listed under "
                "`events` have `data` of that type's schema, unless flagged with "
                "`schema_error`; other types are free-form."
            ),
            "$ref": refs[0]["$ref"],
            "allOf": rules,
            "events": events,
            "$defs": defs,
        }


def _struct_info(cls: type[Struct]) -> mi.StructType:
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):  # pragma: no cover - a Struct class always is
        raise TypeError(f"{cls.__qualname__}: not a struct type")
    return info


def _literal_values(cls: type[Struct], name: str) -> tuple[Any, ...]:
    for f in _struct_info(cls).fields:
        if f.encode_name == name:
            members = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
            for m in members:
                if isinstance(m, mi.LiteralType):
                    return tuple(m.values)
    return ()


def _omitted_not_null(component: dict[str, Any]) -> None:
    """Optional fields default to None and are then omitted, never written as null: say so."""
    for prop in component.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
            options = prop.get("anyOf")
            if options is not None:
                options = [o for o in options if o != {"type": "null"}]
                if len(options) == 1:
                    del prop["anyOf"]
                    prop.update(options[0])
                else:
                    prop["anyOf"] = options


DEFAULT_MODEL: Final = EventModel(BUILTIN_TYPES)
"""The model `record()` uses: every built-in type; `DEFAULT_MODEL.register(...)` adds yours."""

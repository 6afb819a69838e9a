"""alert.* and system.*: what supervisors were told and the state of the running service."""

from decimal import Decimal

from .base import EventData, Severity

__all__ = [
    "AlertSent",
    "SystemClockSync",
    "SystemServiceStarted",
    "SystemServiceStopped",
]


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

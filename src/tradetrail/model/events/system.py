"""alert.* and system.*: what supervisors were told and the state of the running service."""

from datetime import date
from decimal import Decimal
from typing import Literal

from .base import EventData, Seq, Severity

__all__ = [
    "AlertFailed",
    "AlertRaised",
    "AlertSent",
    "SystemClockSync",
    "SystemServiceStarted",
    "SystemServiceStopped",
]


class AlertSent(EventData, kw_only=True, frozen=True):
    """An alert went out: proves supervisors were told (FINRA 3110 supervision)."""

    TYPE = "alert.sent"
    VERSION = 2
    channel: str
    rule: str
    severity: Severity
    message: str | None = None
    alert_id: str | None = None
    recipients: list[str] | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None
    seqs: list[Seq] | None = None
    """The records that made the rule fire, so the trail proves why the alert went out
    (version 2)."""
    action: Literal["trigger", "resolve"] | None = None
    """`resolve` when the alert tells that its condition ended (version 2)."""
    attempts: int | None = None
    """How many tries the channel took (version 2)."""
    fallback_for: str | None = None
    """The channel that kept failing, when this one took its place (version 2)."""


class AlertFailed(EventData, kw_only=True, frozen=True):
    """An alert could not be delivered on a channel after its retries: a supervisor was not
    told there, and the trail says so rather than staying silent."""

    TYPE = "alert.failed"
    VERSION = 1
    channel: str
    rule: str
    severity: Severity
    error: str
    message: str | None = None
    alert_id: str | None = None
    seqs: list[Seq] | None = None
    action: Literal["trigger", "resolve"] | None = None
    attempts: int | None = None


class AlertRaised(EventData, kw_only=True, frozen=True):
    """tradetrail raised an alert about itself (a scheduled job failed, a sealed day is still
    unattested): on the record even when no channel is configured; alert rules that match
    `alert.raised` send it on (docs/JOBS.md)."""

    TYPE = "alert.raised"
    VERSION = 1
    rule: str
    severity: Severity
    message: str
    alert_id: str | None = None
    """Stable for one condition (`tradetrail.job_failed/daily-pack`), to deduplicate on."""
    job: str | None = None
    """The scheduled job that raised it."""
    days: list[date] | None = None
    """The days the alert is about (unattested days, days a pack could not be made for)."""


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

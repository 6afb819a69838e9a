"""venue.*: the venue or broker API as seen from our side (errors, throttling, links, and
what the venue reports for reconciliation)."""

from .base import AwareDatetime, BalanceEntry, EventData, PositionEntry

__all__ = [
    "VenueApiError",
    "VenueBalanceQueried",
    "VenueConnectivityLost",
    "VenueConnectivityRestored",
    "VenuePositionQueried",
    "VenueRateLimited",
    "VenueRetry",
]


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

"""The journal record around `data` (docs/FORMATS.md), for the JSON Schema."""

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from ...core.canonical import MAX_FIELD_CHARS, TYPE_PATTERN
from .base import EventId, Seq

__all__ = ["Envelope", "Ident", "Source", "Spill"]

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

"""compliance.*: attestations, exceptions, approvals, corrections, exports, the archive and
removals under the retention policy."""

from datetime import date
from typing import Annotated, Any, Literal

from msgspec import Meta

from .base import AwareDatetime, EventData, EventId, Seq, Severity

_Count = Annotated[int, Meta(ge=0)]

__all__ = [
    "ComplianceApprovalGranted",
    "ComplianceArchivePushed",
    "ComplianceAttestation",
    "ComplianceExceptionNoted",
    "ComplianceExportMade",
    "ComplianceRecordCorrected",
    "ComplianceRecordsRemoved",
    "ComplianceRestoreDrill",
    "ComplianceVerificationRun",
]


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


class ComplianceArchivePushed(EventData, kw_only=True, frozen=True):
    """Sealed days (and what proves them) went to the archive in object storage under Object
    Lock: where, which days, how many objects, and the lock, so the WORM copy is on the record."""

    TYPE = "compliance.archive_pushed"
    VERSION = 1
    location: str
    """`s3://bucket/prefix` (never credentials)."""
    days: list[date]
    objects: Annotated[int, Meta(ge=0)]
    bytes: Annotated[int, Meta(ge=0)]
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE", "none"]
    retain_until: date | None = None
    """The latest retain-until date given to a day in this push."""
    legal_holds: list[date] | None = None
    """Days put under S3 legal hold (a legal hold of the policy touches them)."""
    endpoint: str | None = None


class ComplianceRestoreDrill(EventData, kw_only=True, frozen=True):
    """A sample of archived days was restored into a scratch directory and proven: evidence
    that the archive (the firm's backup of its books and records) can be brought back."""

    TYPE = "compliance.restore_drill"
    VERSION = 1
    location: str
    days: list[date]
    passed: Annotated[int, Meta(ge=0)]
    failed: Annotated[int, Meta(ge=0)]
    faults: list[str] | None = None
    duration_ms: Annotated[int, Meta(ge=0)] | None = None


class ComplianceVerificationRun(EventData, kw_only=True, frozen=True):
    """A verification sweep ran (the `verify-sweep` job, docs/JOBS.md): the trail was verified
    up to `size`, the records added since the last sweep in detail, and the daily packs of a
    sample of older days; `ok` when nothing was at fault. The trail holds its own checks."""

    TYPE = "compliance.verification_run"
    VERSION = 1
    ok: bool
    size: _Count
    """The tree size verified (records 0 .. size-1, every one hashed)."""
    faults: _Count
    """Faults found: in the new records, elsewhere in the trail, and in the sampled packs."""
    first_seq: Seq | None = None
    """The first record added since the last sweep (the range verified in detail)..."""
    last_seq: Seq | None = None
    """...and the last."""
    warnings: _Count | None = None
    sampled_days: list[date] | None = None
    """Older days whose daily packs were verified (verify-pack) in this sweep."""
    messages: list[str] | None = None
    """The first faults, as verify reports them."""
    duration_ms: _Count | None = None

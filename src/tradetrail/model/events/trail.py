"""trail.*: events about the trail itself."""

from typing import Annotated

from msgspec import Meta

from .base import EventData

__all__ = [
    "TrailKeyRotated",
]


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

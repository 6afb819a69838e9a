"""Start-up checks of where the trail lives: audit data must not sit somewhere that vanishes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

EPHEMERAL_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "overlay", "aufs", "devtmpfs", "squashfs"})


def filesystem_type(path: Path) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the mount holding `path`, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best: tuple[str, str] | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fstype = right.split()[0] if right.split() else "?"
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= len(best[0])):
            best = (mount_point, fstype)
    return best


def check_storage(home: Path, min_free_bytes: int) -> list[str]:
    """Problems worth a warning; raises OSError when the directory is not writable at all."""
    warnings: list[str] = []
    probe = home / f".write-probe-{uuid.uuid4().hex}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"probe")
    finally:
        os.close(fd)
        probe.unlink()
    stat = os.statvfs(home)
    free = stat.f_bavail * stat.f_frsize
    if free < min_free_bytes:
        warnings.append(
            f"only {free // (1024 * 1024)} MiB free under {home} "
            f"(warning threshold {min_free_bytes // (1024 * 1024)} MiB): "
            "records will spill when it fills"
        )
    mount = filesystem_type(home)
    if mount is not None and mount[1] in EPHEMERAL_FILESYSTEMS:
        warnings.append(
            f"{home} is on {mount[1]} (mounted at {mount[0]}): audit records there are lost with "
            "the machine or container; put TRADETRAIL_HOME on persistent storage"
        )
    return warnings

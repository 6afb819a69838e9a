"""The archive's object-storage driver: a trail's sealed files in an S3 bucket under Object Lock.

Any S3-compatible endpoint (AWS, MinIO, Ceph, SeaweedFS, Wasabi) by URL; credentials come from
boto3's standard chain (environment, profile, instance role) and are never logged or put in a
message. The bucket mirrors the trail directory under a prefix (docs/FORMATS.md, "The archive"):
journal day files compressed with zstd, everything else as its bytes, so an examiner with any S3
client, zstd and the verifier key can check it. Every object is written once: a PUT carries its
SHA-256 (the server refuses bytes that do not match) and the SHA-256 of the trail file it holds
(metadata), which is what tells an archived object from a different one under the same key.
boto3 and zstandard are the `archive` extra, imported only here and only when used.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..core import layout
from ..core.tiles import TILE_WIDTH, tile_path, tiles_for_size
from ..errors import ArchiveError, missing_extra
from .journal import journal_files
from .tilestore import write_atomic

ARCHIVE_FORMAT: Final = "tradetrail-archive/1"
RAW_SHA256_META: Final = "tradetrail-sha256"
"""User metadata (x-amz-meta-tradetrail-sha256): SHA-256 hex of the trail file's own bytes,
before compression; the object's checksum (ChecksumSHA256) is over the stored bytes."""
FORMAT_META: Final = "tradetrail-format"
ZSTD_SUFFIX: Final = ".zst"
ZSTD_LEVEL: Final = 9
KEYS_DIR: Final = "keys"
LOCK_MODES: Final = ("COMPLIANCE", "GOVERNANCE")


@dataclass(frozen=True)
class ArchiveLocation:
    """Where a trail's archive lives: a bucket and a key prefix (`s3://bucket/prefix`)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str, option: str = "--archive") -> ArchiveLocation:
        if not url.startswith("s3://"):
            raise ArchiveError(f"{option}: {url!r} is not an s3://BUCKET[/PREFIX] URL")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket or "@" in bucket or ":" in bucket:
            raise ArchiveError(
                f"{option}: {url!r} names no bucket (credentials never go in the URL: they come "
                "from the environment, a profile or the instance role)"
            )
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else "")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, rel: str) -> str:
        return self.prefix + rel


def archive_rel(trail_rel: str, raw: bytes) -> str:
    """The key (under the prefix) of a trail file: a day file gains `.zst`; the verifier key and
    the key history, which change at a rotation, are kept by content under keys/."""
    if trail_rel.startswith(f"{layout.JOURNAL_DIR}/"):
        return trail_rel + ZSTD_SUFFIX
    if trail_rel in (layout.VKEY_FILE, layout.HISTORY_FILE):
        stem, _, ext = trail_rel.partition(".")
        return f"{KEYS_DIR}/{stem}-{hashlib.sha256(raw).hexdigest()[:16]}.{ext}"
    return trail_rel


def trail_rel(archive_rel_key: str) -> str:
    """The trail path an archived object restores to (keys/ restore under their own name)."""
    if archive_rel_key.startswith(f"{layout.JOURNAL_DIR}/") and archive_rel_key.endswith(
        ZSTD_SUFFIX
    ):
        return archive_rel_key[: -len(ZSTD_SUFFIX)]
    return archive_rel_key


def day_rel(day: str) -> str:
    """The archive key of the day file of `day` (YYYY-MM-DD or YYYYMMDD)."""
    return f"{layout.JOURNAL_DIR}/audit-{day.replace('-', '')}.jsonl{ZSTD_SUFFIX}"


def encode_object(rel: str, raw: bytes) -> bytes:
    """The stored bytes of an archive key: zstd (one frame, content size in its header) for
    `.zst` keys, the bytes themselves otherwise."""
    if not rel.endswith(ZSTD_SUFFIX):
        return raw
    try:
        import zstandard
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "archive commands", "archive") from None
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, threads=-1).compress(raw)


def decode_object(rel: str, stored: bytes) -> bytes:
    """The trail file's bytes from the stored ones; ArchiveError naming the key when a `.zst`
    object is not a valid zstd frame."""
    if not rel.endswith(ZSTD_SUFFIX):
        return stored
    try:
        import zstandard
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "archive commands", "archive") from None
    try:
        return zstandard.ZstdDecompressor().decompress(stored)
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"{rel}: not a valid zstd object: {exc}") from None


@dataclass(frozen=True)
class LocalFile:
    """A trail file the archive holds a copy of."""

    trail_rel: str
    path: Path
    kind: str  # day, tile, checkpoint, key, pack


def sealed_day_files(home: Path) -> list[Path]:
    """Every day file but the newest: the writer appends to the newest, the others are sealed."""
    return journal_files(home)[:-1]


def key_and_pack_files(home: Path) -> Iterator[LocalFile]:
    """The verifier key, the key history and every daily pack file (attestations included)."""
    for name in (layout.VKEY_FILE, layout.HISTORY_FILE):
        if (home / name).is_file():
            yield LocalFile(name, home / name, "key")
    top = layout.daily_packs(home)
    if top.is_dir():
        for path in sorted(p for p in top.rglob("*") if p.is_file()):
            if not path.name.startswith("."):  # a write_atomic temporary
                yield LocalFile(path.relative_to(home).as_posix(), path, "pack")


def covering_size(home: Path, size: int) -> int | None:
    """The smallest tree size >= `size` with a signed checkpoint in checkpoints/."""
    directory = home / layout.CHECKPOINTS_DIR
    if not directory.is_dir():
        return None
    sizes = [int(p.name) for p in directory.iterdir() if p.name.isdigit() and int(p.name) >= size]
    return min(sizes) if sizes else None


def proof_files(home: Path, size: int) -> list[LocalFile]:
    """What proves every record below `size`: the checkpoint of that size and the tiles of its
    tree (a full tile where the writer has one, else the partial tile of that width). These
    never change once written, so the archive's copy of them is final."""
    found = [
        LocalFile(
            f"{layout.CHECKPOINTS_DIR}/{size}",
            home / layout.CHECKPOINTS_DIR / str(size),
            "checkpoint",
        )
    ]
    for level, index, width in tiles_for_size(size):
        full = f"{layout.TILES_DIR}/{tile_path(level, index)}"
        rel = full
        if width < TILE_WIDTH and not (home / full).is_file():
            rel = f"{layout.TILES_DIR}/{tile_path(level, index, width)}"
        found.append(LocalFile(rel, home / rel, "tile"))
    return found


def write_restored(dest: Path, rel: str, data: bytes) -> Path:
    """Write a restored file under `dest` (never into a trail's own journal: a restore goes to a
    directory of its own); the path is checked to stay inside `dest`."""
    target = (dest / rel).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise ArchiveError(f"{rel}: archive key leaves the restore directory {dest}")
    write_atomic(target, data, sync=True)
    return target


@dataclass(frozen=True)
class Archived:
    """What the server says about one archived object (HEAD or GET)."""

    rel: str
    size: int
    raw_sha256: str | None
    checksum_sha256: str | None
    version_id: str | None
    lock_mode: str | None
    retain_until: datetime | None
    legal_hold: bool


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


class ObjectStore:
    """One bucket and prefix through boto3. Every failure is an ArchiveError naming the bucket
    and key and the server's error code (never the credentials)."""

    def __init__(
        self, location: ArchiveLocation, *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        self.location = location
        self.endpoint_url = endpoint_url
        self._client = client
        self._prepared = False

    @property
    def client(self) -> Any:
        """The boto3 S3 client (made on first use; tests pass their own to watch requests)."""
        if self._client is None:
            self._client = make_client(self.endpoint_url)
        if not self._prepared:
            self._client.meta.events.register("before-send.s3.PutObject", _no_expect_when_empty)
            self._prepared = True
        return self._client

    def _fail(self, exc: Exception, what: str, rel: str | None = None) -> ArchiveError:
        where = self.location.url + (rel or "")
        code = _error_code(exc)
        if code in ("NoSuchBucket",):
            return ArchiveError(f"{where}: no such bucket ({what})")
        return ArchiveError(f"{where}: {what} failed: {code or type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ the bucket

    def lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock on (it can only be turned on, never off)."""
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.location.bucket)
        except Exception as exc:
            if _error_code(exc) == "ObjectLockConfigurationNotFoundError":
                return False
            raise self._fail(exc, "reading the Object Lock configuration") from None
        enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        return bool(enabled == "Enabled")

    def listing(self, sub: str = "") -> dict[str, int]:
        """archive key (under the prefix) -> size, of every current object under `sub`."""
        found: dict[str, int] = {}
        prefix = self.location.key(sub)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][len(self.location.prefix) :]] = item["Size"]
        except Exception as exc:
            raise self._fail(exc, "listing", sub) from None
        return found

    def version_counts(self) -> dict[str, tuple[int, int, int]]:
        """archive key -> (versions, distinct ETags, delete markers): a key written once has
        (1, 1, 0); a PUT retried after a lost response leaves identical versions (n, 1, 0)."""
        counts: dict[str, tuple[int, int]] = {}
        etags: dict[str, set[str]] = {}
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.location.bucket, Prefix=self.location.prefix
            )
            for page in pages:
                for item in page.get("Versions", []):
                    rel = item["Key"][len(self.location.prefix) :]
                    v, d = counts.get(rel, (0, 0))
                    counts[rel] = (v + 1, d)
                    etags.setdefault(rel, set()).add(str(item.get("ETag")))
                for item in page.get("DeleteMarkers", []):
                    rel = item["Key"][len(self.location.prefix) :]
                    v, d = counts.get(rel, (0, 0))
                    counts[rel] = (v, d + 1)
        except Exception as exc:
            raise self._fail(exc, "listing versions") from None
        return {rel: (v, len(etags.get(rel, ())), d) for rel, (v, d) in counts.items()}

    # ------------------------------------------------------------------ objects

    def head(self, rel: str) -> Archived | None:
        try:
            resp = self.client.head_object(
                Bucket=self.location.bucket, Key=self.location.key(rel), ChecksumMode="ENABLED"
            )
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(exc, "HEAD", rel) from None
        return _archived(rel, resp, resp["ContentLength"])

    def get(self, rel: str) -> tuple[bytes, Archived]:
        try:
            resp = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key(rel), ChecksumMode="ENABLED"
            )
            body = resp["Body"].read()
        except Exception as exc:
            raise self._fail(exc, "GET", rel) from None
        return body, _archived(rel, resp, len(body))

    def put(
        self,
        rel: str,
        stored: bytes,
        raw_sha256: str,
        *,
        lock_mode: str | None,
        retain_until: datetime | None,
        legal_hold: bool = False,
        storage_class: str | None = None,
    ) -> str | None:
        """PUT one object with its SHA-256 checksum and its lock; the version id."""
        args: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Key": self.location.key(rel),
            "Body": stored,
            "ChecksumSHA256": _b64_sha256(stored),
            "Metadata": {RAW_SHA256_META: raw_sha256, FORMAT_META: ARCHIVE_FORMAT},
            "ContentType": "application/zstd"
            if rel.endswith(ZSTD_SUFFIX)
            else "application/octet-stream",
        }
        if lock_mode is not None and retain_until is not None:
            args["ObjectLockMode"] = lock_mode
            args["ObjectLockRetainUntilDate"] = retain_until
        if legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        if storage_class:
            args["StorageClass"] = storage_class
        try:
            resp = self.client.put_object(**args)
        except Exception as exc:
            raise self._fail(exc, "PUT", rel) from None
        version: str | None = resp.get("VersionId")
        return version

    def set_legal_hold(self, rel: str, on: bool) -> None:
        try:
            self.client.put_object_legal_hold(
                Bucket=self.location.bucket,
                Key=self.location.key(rel),
                LegalHold={"Status": "ON" if on else "OFF"},
            )
        except Exception as exc:
            raise self._fail(exc, "setting the legal hold", rel) from None

    # ------------------------------------------------------------------ lifecycle

    def put_lifecycle(self, rules: list[dict[str, Any]]) -> None:
        try:
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.location.bucket,
                LifecycleConfiguration={"Rules": rules},
            )
        except Exception as exc:
            raise self._fail(exc, "writing the lifecycle rules") from None

    def get_lifecycle(self) -> list[dict[str, Any]]:
        try:
            resp = self.client.get_bucket_lifecycle_configuration(Bucket=self.location.bucket)
        except Exception as exc:
            if _error_code(exc) == "NoSuchLifecycleConfiguration":
                return []
            raise self._fail(exc, "reading the lifecycle rules") from None
        return [dict(rule) for rule in resp.get("Rules", [])]


def _no_expect_when_empty(request: Any, **_: Any) -> None:
    """No `Expect: 100-continue` on an empty PUT: there is no body to hold back, and some
    servers (SeaweedFS 4) then leave the connection in a state where the next request hangs."""
    if request.headers.get("Content-Length") in ("0", b"0") and "Expect" in request.headers:
        del request.headers["Expect"]


def make_client(endpoint_url: str | None) -> Any:
    """An S3 client from boto3's standard credential chain; path-style addressing when an
    endpoint is given (MinIO, Ceph, SeaweedFS on a host name or an IP address)."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError as exc:
        raise missing_extra(exc, "archive commands", "archive") from None
    config = Config(
        s3={"addressing_style": "path"} if endpoint_url else {},
        retries={"max_attempts": 5, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "NoCredentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a role)"
    return None


def _archived(rel: str, resp: Any, size: int) -> Archived:
    meta = resp.get("Metadata") or {}
    return Archived(
        rel=rel,
        size=size,
        raw_sha256=meta.get(RAW_SHA256_META),
        checksum_sha256=resp.get("ChecksumSHA256"),
        version_id=resp.get("VersionId"),
        lock_mode=resp.get("ObjectLockMode"),
        retain_until=resp.get("ObjectLockRetainUntilDate"),
        legal_hold=resp.get("ObjectLockLegalHoldStatus") == "ON",
    )


def stored_checksum(stored: bytes) -> str:
    """The base64 SHA-256 S3 reports for these stored bytes (ChecksumSHA256)."""
    return _b64_sha256(stored)

"""The archive (`tradetrail archive push|list|verify|restore`) against a real S3 server with
Object Lock (SeaweedFS `weed mini`, tests/s3_server.py): a push and its lock, a crash mid-push
and the resume, tampering caught, deletions refused by the server, a pruned day restored byte
for byte, a bucket without Object Lock refused, and an examiner's check with only boto3, zstd
and the verifier key."""

from __future__ import annotations

import hashlib
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from botocore.exceptions import ClientError

import tradetrail
from conftest import SimClock, journal_records
from helpers import run
from s3_server import S3
from tradetrail.compliance.archive import prove_day, push, verify_archive
from tradetrail.compliance.retention import apply_retention, load_policy
from tradetrail.errors import ArchiveError
from tradetrail.export import export_daily
from tradetrail.store.keys import read_vkey
from tradetrail.store.objectstore import ArchiveLocation, ObjectStore, day_rel

ORIGIN = "archive.test/desk"
TODAY = date(2024, 3, 4)
D1, D2, D3 = "2024-03-01", "2024-03-02", "2024-03-03"
PREFIX = "desk-1"


def _make(home: Path) -> None:
    """1 March: 300 system events (90 days); 2 March: 200 order events (7 years); 3 March: 50
    debug events; 4 March: open, one event."""
    clock = SimClock("2024-03-01T09:00:00")
    with tradetrail.open(home, origin=ORIGIN, clock=clock, min_free_bytes=0) as trail:
        for i in range(300):
            trail.record("system.heartbeat", {"n": i})
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-02T09:00:00")
        for i in range(200):
            trail.record("order.heartbeat", {"n": i}, order_id=f"O-{i}", account="ACC-1")
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-03T09:00:00")
        for i in range(50):
            trail.record("debug.tick", {"n": i})
            clock.advance(1)
        trail.flush()
        clock.set("2024-03-04T09:00:00")
        trail.record("system.heartbeat", {"n": -1})
        trail.flush()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("archive") / "trail"
    _make(home)
    for day in (D1, D2, D3):
        export_daily(home, day, today=TODAY)
    return home


@pytest.fixture
def trail_home(base: Path, tmp_path: Path) -> Path:
    home = tmp_path / "trail"
    shutil.copytree(base, home)
    return home


def _day_file(home: Path, day: str) -> Path:
    return home / "journal" / f"audit-{day.replace('-', '')}.jsonl"


def _args(s3: S3, bucket: str, *more: Any) -> list[Any]:
    return [*more, "--archive", f"s3://{bucket}/{PREFIX}", "--endpoint-url", s3.endpoint]


def _store(s3: S3, bucket: str, client: Any = None) -> ObjectStore:
    location = ArchiveLocation.parse(f"s3://{bucket}/{PREFIX}")
    return ObjectStore(location, client=client or s3.client())


def _versions(s3: S3, bucket: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in s3.client().get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []):
            counts[item["Key"]] = counts.get(item["Key"], 0) + 1
    return counts


# ------------------------------------------------------------------------------ push


def test_push_archives_sealed_days_locked_for_their_retention(s3: S3, trail_home: Path) -> None:
    bucket = s3.bucket()
    result = run("archive", "push", "--home", trail_home, "--json", *_args(s3, bucket))
    assert result.exit_code == 0, result.output
    pushed = orjson.loads(result.stdout)
    assert [Path(d).name for d in pushed["days"]] == [
        "audit-20240301.jsonl",
        "audit-20240302.jsonl",
        "audit-20240303.jsonl",
    ]  # not the open 4 March file
    assert pushed["lock_mode"] == "COMPLIANCE" and pushed["conflicts"] == []
    client = s3.client()
    key = f"{PREFIX}/{day_rel(D2)}"
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    stored = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    # orders are kept 7 years from the end of their day: the lock lasts exactly that long
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == datetime(2031, 3, 3, tzinfo=UTC)
    assert head["ChecksumSHA256"] == _b64sha(stored)
    assert zstandard.ZstdDecompressor().decompress(stored) == _day_file(trail_home, D2).read_bytes()
    # 1 March (system, 90 days) is past its retention already: a short lock, never a past date
    d1 = client.head_object(Bucket=bucket, Key=f"{PREFIX}/{day_rel(D1)}")
    assert datetime.now(UTC) < d1["ObjectLockRetainUntilDate"] < datetime.now(UTC) + timedelta(2)
    # the push is on the record
    events = [r for r in journal_records(trail_home) if r["type"] == "compliance.archive_pushed"]
    assert len(events) == 1
    assert events[0]["data"]["days"] == [D1, D2, D3]
    assert events[0]["data"]["location"] == f"s3://{bucket}/{PREFIX}/"
    assert events[0]["data"]["objects"] == pushed["uploaded"]
    # the event is of today, so 4 March is sealed now: the next push takes it, then nothing
    # is left (today's day file, with the push events, stays open)
    again = run("archive", "push", "--home", trail_home, "--json", *_args(s3, bucket))
    assert again.exit_code == 0, again.output
    assert orjson.loads(again.stdout)["days"] == ["journal/audit-20240304.jsonl"]
    again = run("archive", "push", "--home", trail_home, "--json", *_args(s3, bucket))
    assert again.exit_code == 0, again.output
    assert orjson.loads(again.stdout)["uploaded"] == 0
    assert set(_versions(s3, bucket).values()) == {1}
    listed = run("archive", "list", "--json", *_args(s3, bucket))
    assert listed.exit_code == 0, listed.output
    assert [row["key"] for row in orjson.loads(listed.stdout)] == [
        f"{PREFIX}/{day_rel(d)}" for d in (D1, D2, D3, "2024-03-04")
    ]
    checked = run("archive", "verify", "--home", trail_home, *_args(s3, bucket))
    assert checked.exit_code == 0, checked.output


def _b64sha(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_legal_hold_of_the_policy_becomes_an_s3_legal_hold(s3: S3, trail_home: Path) -> None:
    (trail_home / "retention.toml").write_text(
        '[[hold]]\nname = "inquiry 7"\naccount = "ACC-1"\n', encoding="utf-8"
    )
    bucket = s3.bucket()
    result = push(trail_home, _store(s3, bucket), load_policy(trail_home))
    assert result.legal_holds == [D2]
    client = s3.client()
    held = client.get_object_legal_hold(Bucket=bucket, Key=f"{PREFIX}/{day_rel(D2)}")
    assert held["LegalHold"]["Status"] == "ON"
    free = client.head_object(Bucket=bucket, Key=f"{PREFIX}/{day_rel(D1)}")
    assert free.get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
    # a hold added after the push: the next push puts the archived day under legal hold
    with (trail_home / "retention.toml").open("a", encoding="utf-8") as policy:
        policy.write('[[hold]]\nname = "audit 9"\nfrom = 2024-03-01\nto = 2024-03-01\n')
    again = push(trail_home, _store(s3, bucket), load_policy(trail_home))
    assert again.legal_holds == [D1] and again.uploaded == []
    held = client.get_object_legal_hold(Bucket=bucket, Key=f"{PREFIX}/{day_rel(D1)}")
    assert held["LegalHold"]["Status"] == "ON"


class Crash(BaseException):
    """The process dies (not an error the push could catch)."""


def test_a_push_cut_short_resumes_without_uploading_anything_twice(
    s3: S3, trail_home: Path
) -> None:
    bucket = s3.bucket()
    policy = load_policy(trail_home)
    client = s3.client()
    puts: list[str] = []
    lock = threading.Lock()

    def die_after_five(params: dict[str, Any], **_: Any) -> None:
        with lock:  # uploads run in parallel: exactly five get through
            if len(puts) == 5:
                raise Crash
            puts.append(params["Key"])

    client.meta.events.register("before-parameter-build.s3.PutObject", die_after_five)
    with pytest.raises(Crash):
        push(trail_home, _store(s3, bucket, client), policy)
    assert len(_versions(s3, bucket)) == 5
    assert not any(k.endswith(".zst") for k in _versions(s3, bucket))  # days go last

    client = s3.client()
    resumed: list[str] = []
    client.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: resumed.append(params["Key"])
    )
    result = push(trail_home, _store(s3, bucket, client), policy)
    assert result.skipped == 5 and result.ok
    assert not set(resumed) & set(puts)
    versions = _versions(s3, bucket)
    assert set(versions.values()) == {1}  # every object written exactly once
    assert len(versions) == len(puts) + len(resumed)
    assert verify_archive(_store(s3, bucket), trail_home).ok


# ------------------------------------------------------------------------------ faults


def test_a_tampered_archived_object_is_caught_and_never_overwritten(
    s3: S3, trail_home: Path
) -> None:
    bucket = s3.bucket()
    assert push(trail_home, _store(s3, bucket), load_policy(trail_home)).ok
    key = f"{PREFIX}/{day_rel(D2)}"
    raw = _day_file(trail_home, D2).read_bytes()
    forged = raw.replace(b'"n":7}', b'"n":8}', 1)
    assert forged != raw
    client = s3.client()
    # someone with write access puts a new version over the day (the locked one stays)
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=zstandard.ZstdCompressor().compress(forged),
        Metadata={"tradetrail-sha256": hashlib.sha256(forged).hexdigest()},
    )
    result = run("archive", "verify", "--home", trail_home, "--json", *_args(s3, bucket))
    assert result.exit_code == 1, result.output
    faults = orjson.loads(result.stdout)["faults"]
    assert any(key in f and "2 versions" in f for f in faults), faults
    assert any(key in f and "differs from the trail" in f for f in faults), faults
    # an examiner without the trail catches it too: the records are not the signed ones
    offline = run(
        "archive", "verify", "--offline", "--vkey", trail_home / "trail.vkey", "--json",
        *_args(s3, bucket),
    )  # fmt: skip
    assert offline.exit_code == 1, offline.output
    assert any("prev is not the leaf hash" in f for f in orjson.loads(offline.stdout)["faults"])
    # a push does not overwrite it back: a fault naming the key
    again = run("archive", "push", "--home", trail_home, "--json", *_args(s3, bucket))
    assert again.exit_code == 1
    assert any(key in c for c in orjson.loads(again.stdout)["conflicts"])
    assert _versions(s3, bucket)[key] == 2


def test_the_server_refuses_to_delete_or_shorten_a_compliance_locked_day(
    s3: S3, trail_home: Path
) -> None:
    bucket = s3.bucket()
    assert push(trail_home, _store(s3, bucket), load_policy(trail_home)).ok
    client = s3.client()
    key = f"{PREFIX}/{day_rel(D2)}"
    version = client.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError) as deleted:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert deleted.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=bucket,
            Key=key,
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(1)},
        )
    with pytest.raises(ClientError):  # nor by the governance bypass
        client.delete_object(
            Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True
        )
    assert client.head_object(Bucket=bucket, Key=key, VersionId=version)["ContentLength"] > 0
    # a plain delete only hides it behind a delete marker, which verify reports
    client.delete_object(Bucket=bucket, Key=key)
    report = verify_archive(_store(s3, bucket), trail_home)
    assert any(key in f and "delete markers" in f for f in report.faults)


def test_a_bucket_without_object_lock_is_refused_unless_no_worm(s3: S3, trail_home: Path) -> None:
    bucket = s3.bucket(lock=False)
    result = run("archive", "push", "--home", trail_home, *_args(s3, bucket))
    assert result.exit_code == 2
    assert "does not have Object Lock enabled" in result.output
    assert "--no-worm" in result.output
    assert _versions(s3, bucket) == {}
    ok = run("archive", "push", "--home", trail_home, "--no-worm", "--json", *_args(s3, bucket))
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout)["lock_mode"] == "none"
    assert verify_archive(_store(s3, bucket), trail_home, worm=False).ok


def test_no_credentials_are_ever_printed(s3: S3, trail_home: Path) -> None:
    bucket = s3.bucket()
    result = run(
        "archive", "push", "--home", trail_home,
        "--archive", f"s3://{bucket}/{PREFIX}", "--endpoint-url",
        s3.endpoint.replace("http://", "http://someone:hunter2@"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    from s3_server import SECRET_KEY

    assert SECRET_KEY not in result.output
    text = "\n".join(orjson.dumps(r).decode() for r in journal_records(trail_home))
    assert "hunter2" not in text and SECRET_KEY not in text


def test_a_bad_archive_url_names_the_option() -> None:
    with pytest.raises(ArchiveError, match="--archive"):
        ArchiveLocation.parse("https://bucket/x")
    with pytest.raises(ArchiveError, match="credentials never go in the URL"):
        ArchiveLocation.parse("s3://key:secret@bucket/x")


# ------------------------------------------------------------------------------ restore


def test_a_pruned_day_is_restored_byte_for_byte_and_proven(
    s3: S3, trail_home: Path, tmp_path: Path
) -> None:
    original = _day_file(trail_home, D1).read_bytes()
    bucket = s3.bucket()
    assert push(trail_home, _store(s3, bucket), load_policy(trail_home)).ok
    removed = apply_retention(trail_home, load_policy(trail_home), as_of=date(2024, 7, 1))
    assert D1 in removed.removed
    assert not _day_file(trail_home, D1).exists()
    dest = tmp_path / "restored"
    result = run(
        "archive", "restore", "--home", trail_home, "--date", D1, "--to", dest, "--json",
        *_args(s3, bucket),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["first_seq"] == 0
    assert (dest / "journal" / "audit-20240301.jsonl").read_bytes() == original
    # the archive still verifies against the pruned trail (the day proven by its tiles)
    assert verify_archive(_store(s3, bucket), trail_home).ok


def test_an_examiner_checks_an_archived_day_with_boto3_zstd_and_the_key(
    s3: S3, trail_home: Path, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    assert push(trail_home, _store(s3, bucket), load_policy(trail_home)).ok
    vkey = tmp_path / "examiner" / "trail.vkey"
    vkey.parent.mkdir()
    shutil.copy(trail_home / "trail.vkey", vkey)
    # the examiner's side: a plain S3 client, zstd, the verifier key; no trail
    copy = tmp_path / "examiner" / "copy"
    client = s3.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for item in page["Contents"]:
            rel = item["Key"][len(PREFIX) + 1 :]
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if rel.endswith(".zst"):
                body, rel = zstandard.ZstdDecompressor().decompress(body), rel[: -len(".zst")]
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_bytes(body)
    day = (copy / "journal" / "audit-20240302.jsonl").read_bytes()
    assert prove_day(day, copy, [read_vkey(vkey)], "D2") == (300, 499)
    with pytest.raises(ArchiveError, match="seq 304: prev is not the leaf hash of seq 303"):
        prove_day(day.replace(b'"n":3}', b'"n":4}', 1), copy, [read_vkey(vkey)], "D2")
    # the last record has no successor to give it away: the signed root does
    last = day.rindex(b'"n":199}')
    forged = day[:last] + b'"n":198}' + day[last + len(b'"n":199}') :]
    with pytest.raises(ArchiveError, match="not the ones checkpoint"):
        prove_day(forged, copy, [read_vkey(vkey)], "D2")
    # and the CLI's offline check, which reads the archive itself
    result = run("archive", "verify", "--offline", "--vkey", vkey, *_args(s3, bucket))
    assert result.exit_code == 0, result.output
    assert "3 day(s) proven" in result.output


def test_a_restore_drill_proves_a_sample_and_records_the_result(s3: S3, trail_home: Path) -> None:
    bucket = s3.bucket()
    assert push(trail_home, _store(s3, bucket), load_policy(trail_home)).ok
    result = run(
        "archive", "restore-drill", "--home", trail_home, "--sample", 2, "--seed", 7, "--json",
        *_args(s3, bucket),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    drill = orjson.loads(result.stdout)
    assert drill["passed"] == 2 and drill["ok"] and drill["recorded"]
    events = [r for r in journal_records(trail_home) if r["type"] == "compliance.restore_drill"]
    assert [e["data"]["days"] for e in events] == [drill["days"]]
    # a broken archive fails the drill, and the failure is on the record too
    raw = _day_file(trail_home, D3).read_bytes()
    forged = raw.replace(b'"n":9}', b'"n":10}', 1)
    s3.client().put_object(
        Bucket=bucket,
        Key=f"{PREFIX}/{day_rel(D3)}",
        Body=zstandard.ZstdCompressor().compress(forged),
        Metadata={"tradetrail-sha256": hashlib.sha256(forged).hexdigest()},
    )
    failed = run(
        "archive", "restore-drill", "--home", trail_home, "--sample", 3, "--json",
        *_args(s3, bucket),
    )  # fmt: skip
    assert failed.exit_code == 1, failed.output
    assert orjson.loads(failed.stdout)["passed"] == 2
    events = [r for r in journal_records(trail_home) if r["type"] == "compliance.restore_drill"]
    assert events[-1]["data"]["failed"] == 1
    assert "prev is not the leaf hash" in events[-1]["data"]["faults"][0]


# ------------------------------------------------------------------------------ tiers


def test_the_archive_tiers_of_the_policy_are_checked_strictly() -> None:
    from tradetrail.compliance.retention import PolicyError, parse_policy

    tiers = parse_policy('[archive]\ncold_after = "1y6m"\ncold_class = "DEEP_ARCHIVE"\n').tiers
    assert (tiers.warm_class, tiers.cold_class, tiers.cold_after_days()) == (
        "STANDARD",
        "DEEP_ARCHIVE",
        546,
    )
    with pytest.raises(PolicyError, match=r"archive\.cold_class: 'glacier' is not an S3"):
        parse_policy('[archive]\ncold_class = "glacier"\n')
    with pytest.raises(PolicyError, match=r"archive\.hot: unknown key"):
        parse_policy('[archive]\nhot = "90d"\n')
    with pytest.raises(PolicyError, match=r"archive\.cold_after: a period"):
        parse_policy('[archive]\ncold_after = "forever"\n')


def test_lifecycle_rules_are_written_read_back_and_checked(
    monkeypatch: pytest.MonkeyPatch, trail_home: Path
) -> None:
    """Request shape against moto: SeaweedFS refuses transition rules (see the next test)."""
    from moto import mock_aws

    from tradetrail.compliance.archive import lifecycle

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    policy = load_policy(trail_home)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="records", ObjectLockEnabledForBucket=True)
        other = {"ID": "ops-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
                 "Expiration": {"Days": 30}}  # fmt: skip
        client.put_bucket_lifecycle_configuration(
            Bucket="records", LifecycleConfiguration={"Rules": [other]}
        )
        store = ObjectStore(ArchiveLocation.parse(f"s3://records/{PREFIX}"), client=client)
        assert not lifecycle(store, policy.tiers, write=False).ok
        written = lifecycle(store, policy.tiers)
        assert written.ok
        rules = {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket="records")[
            "Rules"]}  # fmt: skip
        assert set(rules) == {"ops-logs", f"tradetrail-tiers:{PREFIX}/"}  # the other rule kept
        ours = rules[f"tradetrail-tiers:{PREFIX}/"]
        assert ours["Transitions"] == [{"Days": 730, "StorageClass": "GLACIER"}]
        assert ours["Filter"] == {"Prefix": f"{PREFIX}/"}
        assert lifecycle(store, policy.tiers, write=False).ok
        colder = load_policy(trail_home, _policy_file(trail_home, 'cold_class = "DEEP_ARCHIVE"'))
        assert not lifecycle(store, colder.tiers, write=False).ok  # a change is seen


def _policy_file(home: Path, archive: str) -> Path:
    path = home.parent / "policy.toml"
    path.write_text(f"[archive]\n{archive}\n", encoding="utf-8")
    return path


def test_a_server_without_transitions_is_named(s3: S3, trail_home: Path) -> None:
    bucket = s3.bucket()
    result = run("archive", "lifecycle", "--home", trail_home, *_args(s3, bucket))
    assert result.exit_code == 2
    assert "writing the lifecycle rules failed: NotImplemented" in result.output


def test_retention_removes_a_day_only_once_the_archive_holds_it_locked(
    s3: S3, trail_home: Path
) -> None:
    bucket = s3.bucket()
    args = ["retention", "apply", "--home", trail_home, "--as-of", "2024-07-01", "--yes",
            "--json", *_args(s3, bucket)]  # fmt: skip
    before = run(*args)
    assert before.exit_code == 0, before.output
    assert orjson.loads(before.stdout)["removed"] == []
    days = {d["day"]: d for d in orjson.loads(before.stdout)["plan"]["days"]}
    assert any("not in the archive yet" in r for r in days[D1]["reasons"])
    assert _day_file(trail_home, D1).exists()
    # an archived copy that is not the file's bytes does not count
    forged = _day_file(trail_home, D1).read_bytes().replace(b'"n":5}', b'"n":6}', 1)
    s3.client().put_object(
        Bucket=bucket,
        Key=f"{PREFIX}/{day_rel(D1)}",
        Body=zstandard.ZstdCompressor().compress(forged),
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1),
    )
    forged_plan = orjson.loads(run(*args).stdout)["plan"]["days"]
    assert any("differs from this file" in r for r in forged_plan[0]["reasons"])
    assert _day_file(trail_home, D1).exists()
    # pushed (to a clean bucket), read back and locked: now it may go
    clean = s3.bucket()
    assert push(trail_home, _store(s3, clean), load_policy(trail_home)).ok
    args[-3] = f"s3://{clean}/{PREFIX}"
    after = run(*args)
    assert after.exit_code == 0, after.output
    assert D1 in orjson.loads(after.stdout)["removed"]
    assert not _day_file(trail_home, D1).exists()


def test_a_legal_hold_blocks_deletion_even_where_governance_could_be_bypassed(
    s3: S3, trail_home: Path
) -> None:
    (trail_home / "retention.toml").write_text(
        '[[hold]]\nname = "inquiry 7"\naccount = "ACC-1"\n', encoding="utf-8"
    )
    bucket = s3.bucket()
    pushed = push(trail_home, _store(s3, bucket), load_policy(trail_home), lock_mode="GOVERNANCE")
    assert pushed.ok and pushed.legal_holds == [D2]
    client = s3.client()
    free, held = (f"{PREFIX}/{day_rel(d)}" for d in (D3, D2))
    # GOVERNANCE can be bypassed by who may: the unheld day goes ...
    version = client.head_object(Bucket=bucket, Key=free)["VersionId"]
    client.delete_object(Bucket=bucket, Key=free, VersionId=version, BypassGovernanceRetention=True)
    # ... the held one does not
    version = client.head_object(Bucket=bucket, Key=held)["VersionId"]
    with pytest.raises(ClientError) as refused:
        client.delete_object(
            Bucket=bucket, Key=held, VersionId=version, BypassGovernanceRetention=True
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert client.head_object(Bucket=bucket, Key=held, VersionId=version)["ContentLength"] > 0


@pytest.mark.slow
def test_the_archive_push_job_archives_sealed_days_off_the_recording_path(
    s3: S3, trail_home: Path, tmp_path: Path
) -> None:
    """`jobs run archive-push` (what `serve --jobs` runs after each seal): the sealed days go
    to the bucket, the push is journaled, and a second run has nothing to do."""
    import os
    import subprocess
    import sys

    bucket = s3.bucket()
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[jobs.archive-push]\nurl = "s3://{bucket}/{PREFIX}"\nendpoint_url = "{s3.endpoint}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")

    cli = [sys.executable, "-m", "tradetrail", "jobs"]

    def job() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, "run", "archive-push", "--jobs", str(jobs), "--home", str(trail_home), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = job()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "object(s) uploaded" in orjson.loads(first.stdout)["summary"]
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert {f"{PREFIX}/{day_rel(d)}" for d in (D1, D2, D3)} <= keys
    [pushed] = [r for r in journal_records(trail_home) if r["type"] == "compliance.archive_pushed"]
    assert pushed["data"]["location"] == f"s3://{bucket}/{PREFIX}/"
    assert set(pushed["data"]["days"]) >= {D1, D2, D3}
    assert "secret" not in first.stdout + first.stderr.lower()
    # the push's own record (dated today) sealed 4 March, the trail's last day: the next
    # run archives it, and the one after has nothing to do
    again = job()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "audit-20240304.jsonl" in orjson.loads(again.stdout)["summary"]
    quiet = job()
    assert orjson.loads(quiet.stdout)["summary"] == "every sealed day is archived"
    bad = tmp_path / "bad.toml"
    bad.write_text("[jobs.archive-push]\nlock_mode = 'COMPLIANCE'\n")
    refused = subprocess.run(
        [*cli, "list", "--jobs", str(bad), "--home", str(trail_home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "jobs.archive-push.url" in refused.stderr


@pytest.mark.slow
def test_serve_jobs_exports_the_archive_lag_and_the_jobs_health(
    s3: S3, trail_home: Path, tmp_path: Path
) -> None:
    """`serve --jobs --metrics-listen`: after archive-push ran at start, /metrics holds the
    jobs' last runs and results and the archive's last push and lag, and passes promtool."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from helpers import promtool, sample
    from service_server import free_port

    bucket = s3.bucket()
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[jobs.archive-push]\nurl = "s3://{bucket}/{PREFIX}"\nendpoint_url = "{s3.endpoint}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRAIL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradetrail",
            "serve",
            "--home",
            str(trail_home),
            "--jobs",
            str(jobs),
            "--metrics-listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        text = ""
        while sample(text, "tradetrail_archive_pending_files") is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer:
                    text = answer.read().decode()
            except OSError:
                continue
        assert sample(text, "tradetrail_job_last_success", job="archive-push") == 1.0
        assert sample(text, "tradetrail_archive_ok") == 1.0
        assert (sample(text, "tradetrail_archive_last_push_timestamp_seconds") or 0) > 0
        # 1-3 March archived; 4 March was sealed by the push's own record, the next push's
        assert sample(text, "tradetrail_archive_pending_files") == 1.0
        checked = promtool("check", "metrics", stdin=text.encode())
        assert checked.returncode == 0 and not checked.stdout and not checked.stderr, (
            checked.stdout.decode() + checked.stderr.decode()
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)

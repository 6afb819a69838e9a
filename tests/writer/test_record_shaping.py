"""What record() does to an event before it leaves the caller: the event model (validated,
free-form, flagged or strict) and redaction, checked on the bytes of a real trail, its spill
file and the in-memory capture."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import JournalFault, journal_records, wait_until
from secret_corpus import CORPUS, corpus_ids
from tradetrail.core import canonical
from tradetrail.integrations.testing import capture
from tradetrail.model.events import DEFAULT_MODEL, OrderFilled, OrderSubmitted
from tradetrail.model.redact import DEFAULT_REDACTOR, MARKER, Redactor

FILL = {"fill_qty": Decimal("0.5"), "fill_price": Decimal("64000.10")}
ALL_SECRETS = sorted({s for _, _, secrets, _ in CORPUS for s in secrets})


def trail_bytes(home: Path) -> bytes:
    """Every file where event bytes can land: the journal, spill files and quarantine (tiles,
    checkpoints and keys hold hashes and signatures, where a short secret such as a 4-digit
    PIN can occur by chance)."""
    dirs = [home / "journal", home / "spill", home / "quarantine"]
    files = [p for d in dirs if d.is_dir() for p in sorted(d.rglob("*")) if p.is_file()]
    assert files
    return b"".join(p.read_bytes() for p in files)


_RANDOM_FIELDS = re.compile(rb'"(?:prev|event_id)":"[0-9a-f-]*"')


def assert_no_secret(blob: bytes, secrets: list[str], where: str) -> None:
    """Every secret absent from `blob`. Hashes and UUIDs are random hex in which a short secret
    (a 4-digit PIN) can occur by chance, so they are blanked first, and a short secret counts
    only as a whole word."""
    blob = _RANDOM_FIELDS.sub(b"", blob)
    for secret in secrets:
        for form in {secret.encode(), orjson.dumps(secret)[1:-1]}:
            if len(secret) >= 12:
                assert form not in blob, f"{secret!r} reached {where}"
            else:
                word = rb"(?<![0-9A-Za-z])" + re.escape(form) + rb"(?![0-9A-Za-z])"
                assert re.search(word, blob) is None, f"{secret!r} reached {where}"


# ----------------------------------------------------------------------------- event model


def test_known_type_is_validated_and_normalised(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    trail.record("order.filled", FILL, order_id="O-1").wait(timeout=10)
    trail.record("order.filled", OrderFilled(fill_qty=Decimal("1"), fill_price=Decimal("2.50")))
    trail.close()
    first, second = journal_records(home)
    assert first["data"] == {"fill_qty": "0.5", "fill_price": "64000.10"}
    assert second["data"] == {"fill_qty": "1", "fill_price": "2.50"}
    assert "schema_error" not in first and "schema_error" not in second
    assert trail.stats()["schema_errors"] == 0


def test_unknown_type_is_recorded_free_form(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    trail.record("desk.lunch_ordered", {"dish": "ramen", "qty": 2.5}).wait(timeout=10)
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {"dish": "ramen", "qty": 2.5}
    assert "schema_error" not in record


def test_mismatch_is_recorded_flagged_and_warned_once(
    open_trail: Callable[..., Any], home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trail = open_trail()
    with caplog.at_level(logging.WARNING, logger="tradetrail"):
        for n in range(3):
            trail.record("order.filled", {"fill_qty": 1.5, "n": n}, order_id=f"O-{n}")
    trail.close()
    records = journal_records(home)
    assert [r["data"]["n"] for r in records] == [0, 1, 2]  # the evidence is kept as given
    assert records[0]["schema_error"].startswith("data.fill_qty: expected a decimal, got float")
    assert all("schema_error" in r for r in records)
    assert trail.stats()["schema_errors"] == 3
    warnings = [r for r in caplog.records if "schema_error" in r.getMessage()]
    assert len(warnings) == 1
    assert "order.filled" in warnings[0].getMessage()


def test_strict_mode_raises_and_records_nothing(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETRAIL_STRICT", "1")
    trail = open_trail()
    with pytest.raises(ValueError, match=r"^data\.fill_price: required by order\.filled"):
        trail.record("order.filled", {"fill_qty": "1"})
    with pytest.raises(ValueError, match=r"unknown event type 'order.filed'.*'order.filled'"):
        trail.record("order.filed", FILL)
    trail.record("order.filled", FILL).wait(timeout=10)
    trail.close()
    assert len(journal_records(home)) == 1


def test_strict_setting_is_checked(open_trail: Callable[..., Any]) -> None:
    from tradetrail.errors import ConfigError

    with pytest.raises(ConfigError, match=r"TRADETRAIL_STRICT.*'maybe'"):
        open_trail(strict="maybe")


def test_model_none_records_any_data(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(model=None)
    trail.record("order.filled", {"anything": 1}).wait(timeout=10)
    trail.close()
    assert "schema_error" not in journal_records(home)[0]


def test_a_struct_of_another_type_is_flagged(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail()
    trail.record("order.filled", OrderSubmitted(side="buy", qty=Decimal(3))).wait(timeout=10)
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {"side": "buy", "qty": "3"}
    assert "OrderSubmitted is not the data of 'order.filled'" in record["schema_error"]


@pytest.mark.parametrize("name", ["redacted", "schema_error", "spill", "seq"])
def test_library_fields_cannot_be_set_by_the_caller(
    open_trail: Callable[..., Any], name: str
) -> None:
    trail = open_trail()
    with pytest.raises(ValueError, match=f"^{name}: set by tradetrail"):
        trail.record("order.filled", FILL, **{name: "x"})


def test_capture_raises_for_a_mismatch_and_accepts_free_form() -> None:
    with capture() as events:
        with pytest.raises(TypeError, match=r"^data\.fill_qty: expected a decimal, got float"):
            events.trail.record("order.filled", {"fill_qty": 1.5, "fill_price": "1"})
        events.trail.record("desk.note", {"text": "hello"})
    assert [e.type for e in events] == ["desk.note"]
    with capture(strict=True) as events, pytest.raises(ValueError, match="unknown event type"):
        events.trail.record("desk.note", {"text": "hello"})


# ------------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(("name", "data", "secrets", "paths"), CORPUS, ids=corpus_ids())
def test_corpus_never_reaches_the_journal(
    open_trail: Callable[..., Any],
    home: Path,
    name: str,
    data: dict[str, Any],
    secrets: list[str],
    paths: list[str],
) -> None:
    trail = open_trail()
    trail.record("desk.corpus", data, actor="desk-1").wait(timeout=10)
    trail.close()
    assert_no_secret(trail_bytes(home), secrets, "the trail directory")
    (record,) = journal_records(home)
    assert sorted(record["redacted"]) == sorted(paths)
    assert trail.stats()["redacted"] == 1


def test_whole_corpus_never_reaches_a_spill_file(
    open_trail: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = open_trail()
    fault = JournalFault(monkeypatch)
    trail.record("desk.start", {"n": 0}).wait(timeout=10)
    fault.active = True
    receipts = [trail.record("desk.corpus", data) for _, data, _, _ in CORPUS]
    assert wait_until(lambda: all(r.spilled for r in receipts), timeout=10)
    spill_files = list((home / "spill").glob("spill-*"))
    assert spill_files
    assert_no_secret(b"".join(p.read_bytes() for p in spill_files), ALL_SECRETS, "the spill")
    fault.active = False
    for r in receipts:
        r.wait(timeout=15)
    trail.close()
    records = journal_records(home)
    assert len(records) == 1 + len(CORPUS)
    assert all("spill" in r and "redacted" in r for r in records[1:])
    assert_no_secret(trail_bytes(home), ALL_SECRETS, "the trail directory")


def test_envelope_fields_and_source_are_redacted(
    open_trail: Callable[..., Any], home: Path
) -> None:
    jwt = next(s for s in ALL_SECRETS if s.startswith("eyJ"))
    trail = open_trail(service="bot?token=Zx81Lq0Pw9Tr")
    trail.record(
        "desk.login_seen",
        {"ok": True},
        actor=f"Bearer {jwt}",
        source={"service": "gateway", "api_key": "Hk29Qw83Lm47"},
    ).wait(timeout=10)
    trail.record("desk.tick", {"px": "1.0"}).wait(timeout=10)
    trail.close()
    first, second = journal_records(home)
    assert first["actor"] == f"Bearer {MARKER}"
    assert first["source"]["api_key"] == MARKER
    assert first["redacted"] == ["actor", "source.api_key"]
    assert second["source"]["service"] == f"bot?token={MARKER}"
    assert "redacted" not in second  # the default source was redacted once, at open
    assert_no_secret(trail_bytes(home), [jwt, "Hk29Qw83Lm47", "Zx81Lq0Pw9Tr"], "the trail")


def test_fingerprints_correlate_without_revealing(
    open_trail: Callable[..., Any], home: Path
) -> None:
    trail = open_trail(redactor=Redactor(fingerprint_key=b"k" * 32, extra_keys=["pin"]))
    for account in ("A-1", "A-2"):
        trail.record("desk.session", {"password": "hunter2hunter2", "pin": "4821"}, account=account)
    trail.close()
    first, second = journal_records(home)
    assert first["data"]["password"].startswith("[REDACTED:hmac:")
    assert first["data"] == second["data"]
    assert first["redacted"] == ["data.password", "data.pin"]
    assert_no_secret(trail_bytes(home), ["hunter2hunter2", "4821"], "the trail")


def test_allow_list_keeps_a_coin_named_token(open_trail: Callable[..., Any], home: Path) -> None:
    trail = open_trail(redactor=Redactor(allow_keys=["token"]))
    trail.record("desk.swap", {"token": "USDC", "password": "s3cr3t-pass"}).wait(timeout=10)
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {"token": "USDC", "password": MARKER}


def test_capture_redacts_like_a_trail() -> None:
    with capture() as events:
        events.trail.record("desk.login_seen", {"api_secret": "Qz81Lm29Xc47Vb56"})
    (event,) = events
    assert event.data == {"api_secret": MARKER}
    assert event.fields["redacted"] == ["data.api_secret"]


def test_the_callers_data_is_not_modified(open_trail: Callable[..., Any]) -> None:
    trail = open_trail()
    data = {"venue": {"api_key": "Pq73Lm19Zx58Wc40"}, "legs": [{"secret": "Rt55Yu88Io11"}]}
    before = orjson.dumps(data)
    trail.record("desk.order_sent", data).wait(timeout=10)
    assert orjson.dumps(data) == before


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_keys = st.sampled_from(["api_key", "note", "Password", "url", "qty", "x-api-key", "memo"]) | _text
_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53 - 1), 2**53 - 1)  # beyond: strings (test_canonical)
    | _text
    | st.sampled_from(
        [*ALL_SECRETS, "Bearer abcdefgh12345678", "https://u:pw12345@host/x?sig=abc123"]
    )
)
_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)


@given(data=st.dictionaries(_keys, _json, max_size=5), actor=st.none() | _leaf.filter(bool))
@settings(max_examples=300)
def test_redacted_lines_stay_canonical_and_note_every_change(data: Any, actor: Any) -> None:
    """prepare() with a redactor: the line is canonical, `redacted` is present exactly when the
    redactor changed something, and lists the paths it changed."""
    fields = {"actor": actor} if isinstance(actor, str) else {}
    prepared = canonical.prepare(
        "desk.fuzz", data, fields, None, 1 << 30, model=DEFAULT_MODEL, redactor=DEFAULT_REDACTOR
    )
    line = prepared.line(b"0" * 64, 7, b"2024-01-01T00:00:00.000000Z")
    record = orjson.loads(line)
    assert canonical.encode_record(record) == line
    expected_data, data_paths = DEFAULT_REDACTOR.redact(data, "data")
    expected_actor, actor_paths = DEFAULT_REDACTOR.redact(fields.get("actor"), "actor")
    paths = actor_paths + data_paths
    assert record.get("redacted") == (paths or None)
    assert record["data"] == orjson.loads(orjson.dumps(expected_data))
    if fields:
        assert record["actor"] == expected_actor


def test_event_ts_datetime_and_decimal_survive_redaction(
    open_trail: Callable[..., Any], home: Path
) -> None:
    trail = open_trail()
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    trail.record(
        "desk.fill_seen", {"px": Decimal("1.10"), "at": at, "token": "Mn47Bv82Cx19"}, event_ts=at
    ).wait(timeout=10)
    trail.close()
    (record,) = journal_records(home)
    assert record["data"] == {"px": "1.10", "at": "2024-05-01T12:00:00Z", "token": MARKER}
    assert record["event_ts"].startswith("2024-05-01T12:00:00")


def test_a_string_seen_clean_is_still_redacted_under_a_secret_key(
    open_trail: Callable[..., Any], home: Path
) -> None:
    """The cache of clean strings never bypasses the key rule, at the top or deeper."""
    trail = open_trail()
    value = "Zq81Lm29Xc47Vb"
    trail.record("desk.note", {"note": value}, account=value)
    trail.record("desk.login_seen", {"password": value})
    trail.record("desk.login_seen", {"venue": {"api_key": value}, "legs": [{"secret": value}]})
    trail.close()
    first, second, third = journal_records(home)
    assert first["data"]["note"] == value
    assert second["data"]["password"] == MARKER
    assert third["data"] == {"venue": {"api_key": MARKER}, "legs": [{"secret": MARKER}]}


def test_a_secret_pattern_is_caught_whatever_the_cache_holds() -> None:
    """Strings seen clean are skipped; a new string with a secret pattern never is."""
    redactor = Redactor()
    for n in range(200):
        prepared = canonical.prepare(
            "desk.tick",
            {"px": f"{n}.5", "note": "quiet"},
            {"symbol": "BTC-USD"},
            None,
            1 << 20,
            redactor=redactor,
        )
        assert prepared.redacted is None
    aws = next(s for s in ALL_SECRETS if s.startswith("AKIA"))
    prepared = canonical.prepare(
        "desk.tick",
        {"px": "1.5", "note": f"key {aws}"},
        {"symbol": "BTC-USD"},
        None,
        1 << 20,
        redactor=redactor,
    )
    assert prepared.redacted == ["data.note"]
    assert aws.encode() not in prepared.line(b"0" * 64, 1, b"2024-01-01T00:00:00.000000Z")

"""Validation and canonical encoding of events (tradetrail.canonical): what record() refuses in
the caller, exact decimals, and that the writer's line is exactly orjson's sorted encoding."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradetrail import canonical

SORT = orjson.OPT_SORT_KEYS
PREV = "ab" * 32
TS = "2024-03-01T12:00:00.123456Z"


def line_of(event_type: str, data: Any = None, **fields: Any) -> bytes:
    """The record line the writer would write for this event at seq 7."""
    prepared = canonical.prepare(event_type, data, fields, None, canonical.DEFAULT_MAX_EVENT_BYTES)
    return bytes(prepared.line(PREV.encode(), 7, TS.encode()))


# --------------------------------------------------------------------------- refused values


@pytest.mark.parametrize(
    ("value", "exc", "path"),
    [
        (float("nan"), ValueError, "data.v"),
        (float("inf"), ValueError, "data.v"),
        (-float("inf"), ValueError, "data.v"),
        ([1.0, float("nan")], ValueError, "data.v[1]"),
        (Decimal("NaN"), ValueError, "data.v"),
        (Decimal("-sNaN"), ValueError, "data.v"),
        (Decimal("Infinity"), ValueError, "data.v"),
        ({"a": {"b": {2: "x"}}}, TypeError, "data.v.a.b"),
        ([{"ok": 1}, {None: 1}], TypeError, "data.v[1]"),
        (datetime(2024, 1, 1, 12, 0), ValueError, "data.v"),
        (b"bytes", TypeError, "data.v"),
        (bytearray(b"x"), TypeError, "data.v"),
        ({"a", "b"}, TypeError, "data.v"),
        (frozenset({1}), TypeError, "data.v"),
        (dtime(12, 0), TypeError, "data.v"),
        (object(), TypeError, "data.v"),
        (1 + 2j, TypeError, "data.v"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_refused_values_name_their_path(value: Any, exc: type[Exception], path: str) -> None:
    with pytest.raises(exc) as info:
        canonical.check_value({"v": value}, "data")
    assert path in str(info.value)
    with pytest.raises(exc):
        canonical.build_envelope("order.accepted", {"v": value}, {})


class NanFloat(float):
    pass


def test_float_subclass_nan_is_refused() -> None:
    with pytest.raises(ValueError, match=r"data\.v"):
        canonical.check_value({"v": NanFloat("nan")}, "data")


def test_nesting_limit() -> None:
    deep: Any = "leaf"
    for _ in range(canonical.MAX_DEPTH + 5):
        deep = {"k": deep}
    with pytest.raises(ValueError, match="nested deeper"):
        canonical.build_envelope("order.accepted", deep, {})
    shallow: Any = "leaf"
    for _ in range(10):
        shallow = [shallow]
    canonical.build_envelope("order.accepted", {"k": shallow}, {})


@pytest.mark.parametrize(
    "event_type",
    [
        "Order",
        "order",
        "ORDER.ACCEPTED",
        "order.Accepted",
        "order..accepted",
        ".order",
        "order.",
        "order-accepted.x",
        "1order.x",
        "order.accepted ",
        "",
        "ordér.accepted",
    ],
)
def test_bad_event_types(event_type: str) -> None:
    with pytest.raises(ValueError, match="type"):
        canonical.build_envelope(event_type, None, {})


@pytest.mark.parametrize(
    "event_type", ["order.accepted", "risk.rejected", "compliance.attestation", "a.b.c_d", "x1.y2"]
)
def test_good_event_types(event_type: str) -> None:
    assert canonical.build_envelope(event_type, None, {})["type"] == event_type


@pytest.mark.parametrize(
    ("fields", "exc", "name"),
    [
        ({"seq": 1}, ValueError, "seq"),
        ({"ts": TS}, ValueError, "ts"),
        ({"prev": PREV}, ValueError, "prev"),
        ({"spill": {}}, ValueError, "spill"),
        ({"type": "order.other"}, TypeError, "type"),
        ({"data": {}}, TypeError, "data"),
        ({"qty": "1"}, TypeError, "qty"),
        ({"Symbol": "X"}, TypeError, "Symbol"),
        ({"symbol": True}, TypeError, "symbol"),
        ({"symbol": 1.5}, TypeError, "symbol"),
        ({"symbol": ""}, ValueError, "symbol"),
        ({"symbol": "x" * 513}, ValueError, "symbol"),
        ({"priority": "HIGH"}, ValueError, "priority"),
        ({"event_id": "0189-not-uuid"}, ValueError, "event_id"),
        ({"event_id": "01890A5D-AC96-774B-BCCE-B302099A8057"}, ValueError, "event_id"),
        ({"event_ts": "2024-01-01 noon"}, ValueError, "event_ts"),
        ({"event_ts": -5}, ValueError, "event_ts"),
        ({"event_ts": 1.5}, TypeError, "event_ts"),
        ({"event_ts": datetime(2024, 1, 1)}, ValueError, "event_ts"),
        ({"source": ["svc"]}, TypeError, "source"),
        ({"source": {"pid": float("nan")}}, ValueError, "source.pid"),
    ],
)
def test_bad_envelope_fields(fields: dict[str, Any], exc: type[Exception], name: str) -> None:
    with pytest.raises(exc) as info:
        canonical.build_envelope("order.accepted", None, fields)
    assert name in str(info.value)


def test_size_limit() -> None:
    with pytest.raises(ValueError, match="1000"):
        canonical.build_envelope("order.accepted", {"blob": "x" * 2000}, {}, None, 1000)
    canonical.build_envelope("order.accepted", {"blob": "x" * 500}, {}, None, 1000)


# --------------------------------------------------------------------------- accepted values


class Side(enum.Enum):
    BUY = "buy"


class Level(enum.IntEnum):
    HIGH = 3


def test_rich_values_are_encoded_as_json_strings_and_numbers() -> None:
    data = {
        "qty": Decimal("0.10"),
        "side": Side.BUY,
        "level": Level.HIGH,
        "id": uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"),
        "day": date(2024, 3, 1),
        "at": datetime(2024, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        "at_utc": datetime(2024, 3, 1, 12, 0, 0, 5, tzinfo=UTC),
        "legs": ({"px": Decimal("1E+2")}, [True, None, 1.25]),
    }
    env = canonical.build_envelope("order.accepted", data, {})
    assert env["data"] == {
        "qty": "0.10",
        "side": "buy",
        "level": 3,
        "id": "01890a5d-ac96-774b-bcce-b302099a8057",
        "day": "2024-03-01",
        "at": "2024-03-01T13:00:00+01:00",
        "at_utc": "2024-03-01T12:00:00.000005Z",
        "legs": [{"px": "100"}, [True, None, 1.25]],
    }


def test_nested_mapping_values_are_encoded_as_objects() -> None:
    env = canonical.build_envelope("order.accepted", {"view": MappingProxyType({"k": "v"})}, {})
    assert env["data"] == {"view": {"k": "v"}}


@given(st.decimals(allow_nan=False, allow_infinity=False))
@settings(max_examples=300)
def test_decimals_are_exact_plain_strings(value: Decimal) -> None:
    env = canonical.build_envelope("fill.executed", {"px": value}, {})
    text = env["data"]["px"]
    assert isinstance(text, str)
    assert "e" not in text.lower()
    assert Decimal(text) == value
    if value.as_tuple().exponent <= 0:  # trailing zeros are kept: "0.10" stays "0.10"
        assert Decimal(text).as_tuple() == value.as_tuple()


def test_envelope_defaults_and_coercions() -> None:
    env = canonical.build_envelope(
        "order.accepted",
        None,
        {"order_id": 42, "account": uuid.UUID(int=1), "symbol": None, "event_ts": 1_500_000_123},
    )
    assert "data" not in env and "symbol" not in env
    assert env["order_id"] == "42"
    assert env["account"] == "00000000-0000-0000-0000-000000000001"
    assert env["event_ts"] == "1970-01-01T00:00:01.500000123Z"
    assert uuid.UUID(env["event_id"]).version == 7
    assert env["event_id"] == env["event_id"].lower()


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [canonical.build_envelope("a.b", None, {})["event_id"] for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # the ms timestamp prefix


def test_caller_mutation_does_not_reach_the_record() -> None:
    data: dict[str, Any] = {"legs": [{"px": "1"}]}
    prepared = canonical.prepare("order.accepted", data, {}, None, 10_000)
    data["legs"][0]["px"] = "2"
    data["new"] = 1
    assert orjson.loads(prepared.line(PREV.encode(), 0, TS.encode()))["data"] == {
        "legs": [{"px": "1"}]
    }


# --------------------------------------------------------------------------- canonical lines

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)
_name = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6}){1,2}", fullmatch=True)
_field_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16)
_envelope = st.fixed_dictionaries(
    {},
    optional={
        **{name: _field_text for name in canonical.STRING_FIELDS},
        "priority": st.sampled_from(sorted(canonical.PRIORITIES)),
        "event_id": st.uuids().map(str),
        "event_ts": st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ),
        "source": st.dictionaries(_text, _json, max_size=3),
    },
)


@given(
    event_type=_name,
    data=st.none() | st.dictionaries(_text, _json, max_size=5),
    fields=_envelope,
    seq=st.integers(min_value=0, max_value=2**63),
    prev=st.binary(min_size=32, max_size=32).map(bytes.hex),
    ts=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ),
    with_source=st.booleans(),
)
@settings(max_examples=400)
def test_writer_line_is_orjson_sorted_encoding(
    event_type: str,
    data: dict[str, Any] | None,
    fields: dict[str, Any],
    seq: int,
    prev: str,
    ts: str,
    with_source: bool,
) -> None:
    """The writer splices seq/ts/prev into pre-encoded parts; the result must be byte for byte
    the canonical encoding (sorted keys, no spaces) of the record it parses to."""
    default_source = orjson.Fragment(b'{"host":"h","pid":1,"service":"s"}') if with_source else None
    prepared = canonical.prepare(event_type, data, fields, default_source, 1 << 30)
    line = bytes(prepared.line(prev.encode(), seq, ts.encode()))
    record = orjson.loads(line)
    assert orjson.dumps(record, option=SORT) == line
    assert canonical.is_canonical(line, record)
    assert (record["seq"], record["ts"], record["prev"]) == (seq, ts, prev)
    assert record["type"] == event_type
    assert record.get("data") == (None if data is None else orjson.loads(orjson.dumps(data)))
    expected_keys = {"seq", "ts", "prev", "type", "event_id"} | set(fields)
    if data is not None:
        expected_keys.add("data")
    if with_source:
        expected_keys.add("source")
    assert set(record) == expected_keys
    # the spill file keeps the same fields; re-encoding them gives the same line
    kept = prepared.fields()
    assert orjson.dumps({**kept, "seq": seq, "ts": ts, "prev": prev}, option=SORT) == line


def test_line_has_no_whitespace_between_tokens() -> None:
    line = line_of("order.accepted", {"b": [1, 2], "a": {"d": None, "c": "x y"}}, symbol="S")
    assert line == (
        b'{"data":{"a":{"c":"x y","d":null},"b":[1,2]},"event_id":'
        + orjson.dumps(orjson.loads(line)["event_id"])
        + b',"prev":"'
        + PREV.encode()
        + b'","seq":7,"symbol":"S","ts":"'
        + TS.encode()
        + b'","type":"order.accepted"}'
    )


def test_context_is_a_free_form_envelope_object_sorted_and_redacted() -> None:
    """`context` (0.2): free-form event context the type's schema does not govern."""
    from tradetrail.events import DEFAULT_MODEL
    from tradetrail.redact import DEFAULT_REDACTOR

    prepared = canonical.prepare(
        "order.accepted",
        {"price": "1"},
        {"context": {"run_id": "r-1", "password": "hunter2hunter2"}, "order_id": "O-1"},
        None,
        1 << 20,
        model=DEFAULT_MODEL,
        redactor=DEFAULT_REDACTOR,
        strict=True,
    )
    line = prepared.line(b"0" * 64, 7, b"2024-03-01T00:00:00.000000Z")
    record = orjson.loads(line)
    assert orjson.dumps(record, option=orjson.OPT_SORT_KEYS) == line  # canonical: sorted
    assert record["context"]["run_id"] == "r-1"
    assert record["context"]["password"].startswith("[REDACTED")
    assert record["redacted"] == ["context.password"]
    assert "schema_error" not in record
    with pytest.raises(TypeError, match=r"^context: expected a mapping, got str"):
        canonical.prepare("a.b", None, {"context": "text"}, None, 1 << 20)
    with pytest.raises(ValueError, match=r"^context.x: nan is not a finite number"):
        canonical.prepare("a.b", None, {"context": {"x": float("nan")}}, None, 1 << 20)

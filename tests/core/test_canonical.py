"""Validation and canonical encoding of events (tradetrail.core.canonical): what record() refuses in
the caller, exact decimals, and that the writer's line is exactly its RFC 8785 (JCS) encoding,
checked against the RFC's examples and an independent implementation (the `jcs` package)."""

from __future__ import annotations

import enum
import struct
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import jcs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradetrail.core import canonical

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
    seq=st.integers(min_value=0, max_value=2**53 - 1),
    prev=st.binary(min_size=32, max_size=32).map(bytes.hex),
    ts=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ),
    with_source=st.booleans(),
)
@settings(max_examples=400)
def test_writer_line_is_the_rfc8785_encoding(
    event_type: str,
    data: dict[str, Any] | None,
    fields: dict[str, Any],
    seq: int,
    prev: str,
    ts: str,
    with_source: bool,
) -> None:
    """The writer splices seq/ts/prev into pre-encoded parts; the result must be byte for byte
    the RFC 8785 encoding of the record it parses to, as an independent implementation (the
    `jcs` package) prints it; integers beyond ±(2^53-1) in data are written as strings."""
    default_source = orjson.Fragment(b'{"host":"h","pid":1,"service":"s"}') if with_source else None
    prepared = canonical.prepare(event_type, data, fields, default_source, 1 << 30)
    line = bytes(prepared.line(prev.encode(), seq, ts.encode()))
    record = orjson.loads(line)
    assert jcs.canonicalize(record) == line
    assert canonical.is_canonical(line, record)
    assert (record["seq"], record["ts"], record["prev"]) == (seq, ts, prev)
    assert record["type"] == event_type
    assert _doubles(record.get("data")) == (None if data is None else _doubles(_i_json(data)))
    if "source" in fields:
        assert _doubles(record["source"]) == _doubles(_i_json(fields["source"]))
    expected_keys = {"seq", "ts", "prev", "type", "event_id"} | set(fields)
    if data is not None:
        expected_keys.add("data")
    if with_source:
        expected_keys.add("source")
    assert set(record) == expected_keys
    # the spill file keeps the same fields; re-encoding them gives the same line
    kept = prepared.fields()
    assert canonical.encode_record({**kept, "seq": seq, "ts": ts, "prev": prev}) == line


def _i_json(value: Any) -> Any:
    """What the journal holds of plain JSON data: integers beyond ±(2^53-1) as strings."""
    if isinstance(value, dict):
        return {k: _i_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_i_json(v) for v in value]
    if type(value) is int and abs(value) > 2**53 - 1:
        return str(value)
    return value


def _doubles(value: Any) -> Any:
    """Numbers as a JSON reader using doubles sees them: JCS writes the float 5e16 as
    50000000000000000, which Python reads back as an int of that (double) value."""
    if isinstance(value, dict):
        return {k: _doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    if type(value) is int or type(value) is float:
        return float(value)
    return value


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
    from tradetrail.model.events import DEFAULT_MODEL
    from tradetrail.model.redact import DEFAULT_REDACTOR

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


# --------------------------------------------------------------------------- RFC 8785 (JCS)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their JCS text (the NaN and Infinity rows are
# left out: they are refused)
_APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), _APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, text: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    line = line_of("fill.executed", {"v": value})
    assert b'"data":{"v":' + text.encode() + b"}," in line
    assert canonical.is_canonical(line, orjson.loads(line))


def test_rfc8785_sorting_example() -> None:
    """§3.2.3: keys sort by UTF-16 code units, so U+1F600 (a surrogate pair) sorts before
    U+FB33, unlike code point order."""
    data = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    line = line_of("order.accepted", {"nested": [data]})
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert b'"data":{"nested":[' + expected.encode() + b"]}," in line
    record = orjson.loads(line)
    assert record["data"] == {"nested": [data]}
    assert canonical.is_canonical(line, record)
    old = orjson.dumps(record, option=SORT)  # code point order, as written before 0.2
    assert old != line
    assert canonical.is_canonical(old, record)  # trails written before stay valid


def test_rfc8785_string_escapes() -> None:
    """§3.2.2.2: the example string, and every control character: short escapes where JSON
    has them, else lowercase \\u00xx; '/', U+007F and non-ASCII are written as they are."""
    example = '\u20ac$\u000f\nA\'B"\\\\"/'
    line = line_of("order.accepted", {"s": example})
    assert b'"s":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"' in line
    controls = "".join(map(chr, range(0x20))) + "\u007f/\u00e9"
    text = orjson.loads(line_of("order.accepted", {"c": controls}))
    assert text["data"]["c"] == controls
    assert b'"c":' + jcs.canonicalize(controls) + b"}" in line_of("order.accepted", {"c": controls})
    assert jcs.canonicalize(controls) == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019"
        b'\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f/\xc3\xa9"'
    )


def test_orjson_escapes_every_character_as_rfc8785() -> None:
    """Strings outside data/source (ids, actor, redacted paths) stay on the orjson fast path:
    this holds only while orjson escapes every code point as JCS does."""
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert orjson.dumps(char) == jcs.canonicalize(char), hex(code)


def test_common_event_takes_the_fast_path() -> None:
    """No float, no integer beyond ±(2^53-1): check_value asks for no exact path."""
    data = {"qty": Decimal("1.5"), "n": 2**53 - 1, "tags": ["a", -(2**53 - 1)], "ok": True}
    assert canonical.check_value(data, "data") is False
    assert canonical.check_value({"px": 1.5}, "data") is True
    assert canonical.check_value({"n": [2**53]}, "data") is True


def test_big_integers_are_written_as_exact_strings() -> None:
    data = {"n": 2**53, "m": -(2**53), "big": 10**30, "ok": 2**53 - 1, "e": Level.HIGH}
    record = orjson.loads(line_of("order.accepted", data))
    assert record["data"] == {
        "n": "9007199254740992",
        "m": "-9007199254740992",
        "big": "1" + "0" * 30,
        "ok": 2**53 - 1,
        "e": 3,
    }


def test_float_subclass_enum_and_mapping_values_take_the_exact_path() -> None:
    class Rate(enum.Enum):
        HALF = 0.5e-7

    class MyFloat(float):
        pass

    data = {"r": Rate.HALF, "f": MyFloat(1e21), "m": MappingProxyType({"x": 1e16, "y": 2})}
    line = line_of("order.accepted", data)
    assert b'"data":{"f":1e+21,"m":{"x":10000000000000000,"y":2},"r":5e-8}' in line


_json_floats = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), children, max_size=4
        )
    ),
    max_leaves=25,
)


@given(data=st.dictionaries(_text, _json_floats, max_size=6))
@settings(max_examples=500)
def test_data_encodes_as_the_independent_jcs_implementation(data: dict[str, Any]) -> None:
    line = line_of("order.accepted", data, source={"s": data})
    record = orjson.loads(line)
    assert _doubles(record["data"]) == _doubles(data)
    assert _doubles(record["source"]) == {"s": _doubles(data)}
    assert jcs.canonicalize(record) == line
    assert canonical.encode_record(record) == line
    assert canonical.is_canonical(line, record)


# --------------------------------------------------------------------------- input contract


@pytest.mark.parametrize(
    ("event_ts", "message"),
    [
        (10**30, "event_ts: "),
        (253_402_300_800 * 10**9, "event_ts: "),
        (-1, "event_ts: "),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "event_ts: "),
        (datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "event_ts: "),
    ],
)
def test_event_ts_outside_years_1_to_9999_is_refused_naming_it(event_ts: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        line_of("order.accepted", event_ts=event_ts)


def test_event_ts_at_the_ends_of_rfc3339_years() -> None:
    first = orjson.loads(line_of("order.accepted", event_ts=datetime(1, 1, 1, tzinfo=UTC)))
    assert first["event_ts"] == "0001-01-01T00:00:00.000000Z"
    last = orjson.loads(line_of("order.accepted", event_ts=253_402_300_800 * 10**9 - 1))
    assert last["event_ts"] == "9999-12-31T23:59:59.999999999Z"


def test_huge_decimal_exponent_is_refused_before_formatting() -> None:
    """Formatting Decimal("1E+999999999") would take seconds and gigabytes: the exponent alone
    decides, so even a limit of a few bytes refuses it at once."""
    for value in (Decimal("1E+999999999"), Decimal("-1E-999999999")):
        started = time.perf_counter()
        with pytest.raises(ValueError, match=r"^data\.px: .*max_event_bytes"):
            canonical.prepare("fill.executed", {"px": value}, {}, None, 1 << 20)
        with pytest.raises(ValueError, match=r"^data\.legs\[0\]: "):
            canonical.prepare("fill.executed", {"legs": [value]}, {}, None, 1 << 20)
        assert time.perf_counter() - started < 0.5
    line = line_of("fill.executed", {"px": Decimal("1E+5")})
    assert b'"px":"100000"' in line


def test_huge_integers_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^order_id: "):
        line_of("order.accepted", order_id=10**5000)
    with pytest.raises(ValueError, match=r"^data\.n: "):
        line_of("order.accepted", {"n": 10**5000})
    with pytest.raises(ValueError, match=r"^data\.n\[1\]: "):
        canonical.prepare("order.accepted", {"n": [1, 1 << 30_000]}, {}, None, 1000)


def test_surrogate_keys_and_strings_are_refused_naming_them() -> None:
    with pytest.raises(TypeError, match=r"^data\.a: key 'b\\ud800'"):
        line_of("order.accepted", {"a": {"b\ud800": 1}})
    with pytest.raises(TypeError, match=r"^data\.a\[0\]: "):
        line_of("order.accepted", {"a": ["\udc00"]})


def test_context_takes_the_exact_path_like_data() -> None:
    import jcs

    prepared = canonical.prepare(
        "a.b",
        {"x": 1e16},
        {"context": {"f": 1e21, "g": 0.1, "\ue000": 1, "\U0001f600": 2}},
        None,
        1 << 20,
    )
    line = prepared.line(b"0" * 64, 1, b"2026-01-01T00:00:00.000000Z")
    assert b'"context":{"f":1e+21,"g":0.1,"\xf0\x9f\x98\x80":2,"\xee\x80\x80":1}' in line
    assert jcs.canonicalize(orjson.loads(line)) == line


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"event_ts": "2024-13-45T99:99:99Z"}, "event_ts: '2024-13-45T99:99:99Z' is not a valid"),
        ({"event_ts": "2024-02-30T00:00:00Z"}, "day is out of range"),
        ({"event_ts": "2024-02-01T24:00:00Z"}, "time of day out of range"),
        ({"event_ts": "2024-02-01T23:00:00+25:00"}, "offset out of range"),
        ({"event_ts": 10**5000}, "event_ts: an integer of 16610 bits"),
        ({"event_id": 10**5000}, "event_id: an integer of 16610 bits"),
        ({"priority": 10**5000}, "priority: an integer of 16610 bits"),
    ],
)
def test_bad_envelope_values_are_named_never_printed_whole(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError) as caught:
        canonical.prepare("a.b", None, fields, None, 1 << 20)
    assert str(caught.value).startswith(next(iter(fields)) + ": ")
    assert words in str(caught.value)


def test_a_leap_second_is_a_valid_event_ts() -> None:
    prepared = canonical.prepare("a.b", None, {"event_ts": "2016-12-31T23:59:60Z"}, None, 1 << 20)
    assert b'"event_ts":"2016-12-31T23:59:60Z"' in prepared.line(b"0" * 64, 0, b"t")


def test_a_type_of_a_huge_integer_is_named() -> None:
    with pytest.raises(ValueError, match=r"^type: an integer of 16610 bits is not a dotted"):
        canonical.prepare(10**5000, None, {}, None, 1 << 20)

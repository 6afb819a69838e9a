"""Secret redaction (tradetrail.model.redact): a corpus of real-looking fake secrets that must never
survive into the encoded event, events that must stay untouched, and the soundness of the byte
pre-check that lets almost every event skip the redaction walk."""

from __future__ import annotations

import enum
import re
import time
import timeit
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secret_corpus import (
    AWS_KEY_ID,
    AWS_SECRET,
    AWS_TEMP_KEY_ID,
    BINANCE_KEY,
    BINANCE_SECRET,
    CORPUS,
    GH_FINE,
    GH_PAT,
    GOOGLE_KEY,
    JWT,
    OPENAI_KEY,
    PEM,
    SLACK_BOT,
    SLACK_HOOK,
    STRIPE_LIVE,
    STRIPE_WEBHOOK,
    TELEGRAM,
    corpus_ids,
)
from tradetrail.core import canonical
from tradetrail.model.redact import DEFAULT_REDACTOR, MARKER, Redactor, normalise_key

SORT = orjson.OPT_SORT_KEYS
HMAC_MARKER = re.compile(r"\[REDACTED:hmac:[0-9a-f]{16}\]")


def encode(value: Any) -> bytes:
    """The canonical bytes the pre-check sees."""
    return orjson.dumps(value, option=SORT, default=str)


def record_line(event_type: str, data: Any = None, **fields: Any) -> bytes:
    """A complete journal line as the writer would write it (prev, seq and ts included)."""
    prepared = canonical.prepare(event_type, data, fields, None, canonical.DEFAULT_MAX_EVENT_BYTES)
    prev = b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    return bytes(prepared.line(prev, 41_733, b"2024-03-01T14:30:05.123456Z"))


# -------------------------------------------------------------------------- the corpus itself


def test_corpus_is_large_and_varied() -> None:
    secrets = [s for _, _, found, _ in CORPUS for s in found]
    assert len(set(secrets)) >= 40
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(("name", "data", "secrets", "paths"), CORPUS, ids=corpus_ids())
def test_corpus_secrets_never_reach_the_encoding(
    name: str, data: dict[str, Any], secrets: list[str], paths: list[str]
) -> None:
    event = {"type": "test.corpus", "data": data}
    before = encode(event)
    redacted, found = DEFAULT_REDACTOR.redact(data, "data")
    after = encode({"type": "test.corpus", "data": redacted})
    for secret in secrets:
        assert secret.encode() in before or orjson.dumps(secret)[1:-1] in before  # sanity
        assert secret.encode() not in after, f"{name}: {secret!r} survived in {after!r}"
        assert orjson.dumps(secret)[1:-1] not in after
    assert sorted(found) == sorted(paths)
    assert MARKER.encode() in after
    assert encode(event) == before  # the caller's value is not modified


@pytest.mark.parametrize(("name", "data", "secrets", "paths"), CORPUS, ids=corpus_ids())
def test_corpus_is_caught_by_the_precheck(
    name: str, data: dict[str, Any], secrets: list[str], paths: list[str]
) -> None:
    assert DEFAULT_REDACTOR.may_contain_secrets(encode({"type": "test.corpus", "data": data}))
    line = record_line("test.corpus", data, actor="desk-1", symbol="BTC-USD")
    assert DEFAULT_REDACTOR.may_contain_secrets(line)


@pytest.mark.parametrize(("name", "data", "secrets", "paths"), CORPUS, ids=corpus_ids())
def test_corpus_with_fingerprints(
    name: str, data: dict[str, Any], secrets: list[str], paths: list[str]
) -> None:
    redactor = Redactor(fingerprint_key=b"k" * 32)
    redacted, found = redactor.redact(data, "data")
    after = encode(redacted)
    for secret in secrets:
        assert secret.encode() not in after
    assert sorted(found) == sorted(paths)
    assert HMAC_MARKER.search(after.decode())
    assert MARKER.encode() not in after


def test_url_keeps_its_host_and_other_parameters() -> None:
    redact = DEFAULT_REDACTOR.redact_text
    assert (
        redact("https://user:pw123@host.example/a?b=1")
        == "https://user:[REDACTED]@host.example/a?b=1"
    )
    assert (
        redact("https://example.com/cb?token=abc123&x=1")
        == "https://example.com/cb?token=[REDACTED]&x=1"
    )
    assert redact("wss://stream.example/ws?listenKey=1&sig=ab12cd") == (
        "wss://stream.example/ws?listenKey=1&sig=[REDACTED]"
    )
    assert redact("Authorization: Bearer abcdefgh12345678") == "Authorization: Bearer [REDACTED]"
    assert redact(f"key material:\n{PEM}").startswith(
        "key material:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----"
    )


def test_actor_and_plain_strings() -> None:
    assert DEFAULT_REDACTOR.redact(f"svc-oms via {GH_PAT}", "actor") == (
        "svc-oms via [REDACTED]",
        ["actor"],
    )
    assert DEFAULT_REDACTOR.redact("strategy:mean-rev-7", "actor") == ("strategy:mean-rev-7", [])


def test_truncated_pem_is_redacted_to_the_end() -> None:
    text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...(truncated"
    assert DEFAULT_REDACTOR.redact_text(text) == "-----BEGIN PRIVATE KEY-----[REDACTED]"


# ----------------------------------------------------------------------------------- the key rule


@pytest.mark.parametrize(
    "key",
    [
        "api_key", "apiKey", "api-key", "API_KEY", "Api Key", "APIKEY", "X-Api-Key",
        "exchange_api_key", "secret", "client_secret", "webhookSecret", "password", "dbPassword",
        "PASSWD", "pwd", "passphrase", "token", "access_token", "csrfToken", "X-Auth-Token",
        "authorization",
        "Proxy-Authorization", "auth", "cookie", "Set-Cookie", "private_key", "privkey",
        "aws_secret_access_key", "SecretAccessKey", "signature", "otp", "mnemonic", "seed_phrase",
        "secret_key", "OK-ACCESS-SIGN", "KC-API-PASSPHRASE",
    ],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert DEFAULT_REDACTOR.is_secret_key(key)
    redacted, paths = DEFAULT_REDACTOR.redact({key: "value-1234"}, "data")
    assert redacted == {key: MARKER}
    assert paths == [f"data.{key}"]
    assert DEFAULT_REDACTOR.may_contain_secrets(encode({"data": {key: "value-1234"}}))


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens", "tokens", "token_symbol", "token_address", "secretary", "passwordless",
        "order_id", "client_order_id", "symbol", "price", "qty", "side", "prev", "signal_id",
        "api_key_id", "key", "sort_key", "signed_at", "author", "cookie_policy", "keyboard",
        "event_ts", "strategy", "authority",
    ],
)  # fmt: skip
def test_keys_that_are_not_secret(key: str) -> None:
    assert not DEFAULT_REDACTOR.is_secret_key(key)
    value = {key: "value-1234"}
    assert DEFAULT_REDACTOR.redact(value, "data") == (value, [])


def test_normal_form() -> None:
    assert normalise_key("X-Api_Key ") == "xapikey"
    assert normalise_key("apiKey") == normalise_key("API_KEY") == "apikey"
    assert normalise_key("\u212aey") == "\u212aey"  # only ASCII is folded (Kelvin sign stays)


def test_whole_value_under_a_secret_key_is_replaced() -> None:
    data = {"auth": {"user": "u", "pass": "p"}, "tokens": ["t1", "t2"], "token": ["x", {"y": 1}]}
    redacted, paths = DEFAULT_REDACTOR.redact(data, "data")
    assert redacted == {"auth": MARKER, "tokens": ["t1", "t2"], "token": MARKER}
    assert paths == ["data.auth", "data.token"]


def test_empty_values_under_secret_keys_are_kept() -> None:
    data = {"password": "", "token": None, "api_key": False, "secret": 0}
    redacted, paths = DEFAULT_REDACTOR.redact(data, "data")
    assert redacted == {"password": "", "token": None, "api_key": False, "secret": MARKER}
    assert paths == ["data.secret"]


def test_containers_are_copied_only_where_something_changed() -> None:
    untouched = {"legs": [{"px": "1"}], "meta": {"a": 1}}
    data: dict[str, Any] = {
        "keep": untouched,
        "venue": {"name": "x", "api_key": "k1k2k3k4"},
        "list": [1, "two"],
    }
    redacted, _ = DEFAULT_REDACTOR.redact(data, "data")
    assert redacted is not data
    assert redacted["keep"] is untouched
    assert redacted["list"] is data["list"]
    assert redacted["venue"] is not data["venue"]
    assert data["venue"]["api_key"] == "k1k2k3k4"  # the caller's value is left alone
    nothing = {"a": [1, {"b": "c"}]}
    assert DEFAULT_REDACTOR.redact(nothing, "data")[0] is nothing


def test_mappings_tuples_and_str_enums() -> None:
    class Mode(enum.StrEnum):
        LEAK = "token=Zx9Cv8Bn7M"

    proxy = MappingProxyType({"password": "pw-123456", "x": 1})
    redacted, paths = DEFAULT_REDACTOR.redact(
        {"p": proxy, "t": ("a", "Bearer abcdefgh1234"), "m": Mode.LEAK, "d": Decimal("1.5")}, "data"
    )
    assert redacted["p"] == {"password": MARKER, "x": 1}
    assert redacted["t"] == ("a", "Bearer [REDACTED]")
    assert redacted["m"] == "token=[REDACTED]"
    assert redacted["d"] == Decimal("1.5")
    assert sorted(paths) == ["data.m", "data.p.password", "data.t[1]"]


@pytest.mark.parametrize("redactor", [DEFAULT_REDACTOR, Redactor(fingerprint_key=b"k")])
def test_redacting_twice_changes_nothing(redactor: Redactor) -> None:
    for _, data, _, _ in CORPUS:
        once, paths = redactor.redact(data, "data")
        assert paths
        assert redactor.redact(once, "data") == (once, [])


def test_depth_limit() -> None:
    deep: Any = "x"
    for _ in range(80):
        deep = {"a": deep}
    with pytest.raises(ValueError, match="nested deeper"):
        DEFAULT_REDACTOR.redact(deep, "data")


# ------------------------------------------------------------------------------- non-secrets

ORDER_EVENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "signal.received",
        {"signal": "breakout", "strength": "0.82", "lookback": 20, "features": ["atr", "vwap"]},
        {"strategy": "momo-4", "symbol": "ETH-USD", "signal_id": "sig-20240301-0042"},
    ),
    (
        "risk.validation_passed",
        {"checks": ["max_notional", "max_position", "price_band"], "notional": "12845.50"},
        {"strategy": "momo-4", "symbol": "ETH-USD", "account": "acct-001"},
    ),
    (
        "order.submitted",
        {"side": "buy", "qty": "0.2500", "price": "64123.50", "tif": "GTC", "order_type": "limit"},
        {"client_order_id": "c-20240301-000123", "symbol": "BTC-USD", "venue": "coinbase"},
    ),
    (
        "order.accepted",
        {"status": "NEW", "exchange_ts": "2024-03-01T14:30:05.125Z", "leaves_qty": "0.2500"},
        {"exchange_order_id": "8f3c2a10-55d1-4c1e-9a3b-2b7d9e0f1a22", "symbol": "BTC-USD"},
    ),
    (
        "order.partially_filled",
        {
            "fill_qty": "0.1000",
            "fill_price": "64120.00",
            "fee": "2.5648",
            "fee_currency": "USD",
            "liquidity": "maker",
            "trade_id": "t-99812731",
            "cum_qty": "0.1000",
        },
        {"order_id": "o-5521", "client_order_id": "c-20240301-000123", "symbol": "BTC-USD"},
    ),
    (
        "order.filled",
        {
            "fill_qty": "0.1500",
            "fill_price": "64119.50",
            "avg_price": "64119.70",
            "leaves_qty": "0",
        },
        {"order_id": "o-5521", "symbol": "BTC-USD", "venue": "coinbase", "account": "acct-001"},
    ),
    (
        "trade.executed",
        {
            "side": "sell",
            "qty": "12",
            "price": "187.31",
            "venue_trade_id": "XNAS-3141592",
            "commission": "0.12",
            "settlement_date": "2024-03-05",
        },
        {"symbol": "AAPL", "venue": "XNAS", "account": "acct-eq-7"},
    ),
    (
        "order.modified",
        {"old_price": "64123.50", "new_price": "64100.00", "old_qty": "0.25", "new_qty": "0.2"},
        {"order_id": "o-5522", "parent_order_id": "o-5521", "symbol": "BTC-USD"},
    ),
    (
        "order.cancel_requested",
        {"reason": "user", "requested_by": "desk-1"},
        {"order_id": "o-5523", "symbol": "SOL-USDT", "venue": "okx"},
    ),
    (
        "order.cancelled",
        {"cancelled_qty": "3.5", "reason": "Order cancelled by user"},
        {"order_id": "o-5523", "symbol": "SOL-USDT", "venue": "okx"},
    ),
    (
        "order.rejected",
        {"reason": "Insufficient margin: required 1250.00, available 980.12", "code": -2019},
        {"client_order_id": "c-20240301-000124", "symbol": "ETH-USDT", "venue": "binance"},
    ),
    (
        "order.expired",
        {"tif": "IOC", "expired_qty": "1.0", "market": "spot", "order_type": "market"},
        {"client_order_id": "c-20240301-000125", "symbol": "BTC-EUR", "venue": "kraken"},
    ),
    (
        "order.stop_updated",
        {"stop_price": "61000.00", "take_profit": "68000.00", "trailing": False},
        {"order_id": "o-5524", "symbol": "BTC-USD", "strategy": "trend-2"},
    ),
    (
        "position.snapshot",
        {
            "positions": [
                {"symbol": "BTC-USD", "qty": "1.25", "avg_price": "63011.20", "upl": "1390.4"},
                {"symbol": "ETH-USD", "qty": "-4", "avg_price": "3401.10", "upl": "-22.8"},
            ]
        },
        {"account": "acct-001"},
    ),
    (
        "nav.computed",
        {
            "cash": "1250000.00",
            "positions_at_mark": "842311.55",
            "fees": "-311.20",
            "accruals": "12.04",
            "nav": "2092012.39",
            "as_of": "2024-03-01T21:00:00Z",
        },
        {"account": "fund-a"},
    ),
    (
        "risk.rejected",
        {"rule": "max_position", "limit": "2.0", "observed": "2.25", "leverage": 3},
        {"strategy": "momo-4", "symbol": "BTC-USD", "account": "acct-001"},
    ),
    (
        "venue.rate_limit_hit",
        {
            "endpoint": "/api/v3/order",
            "weight": 1200,
            "retry_after_ms": 850,
            "max_tokens": 1200,
            "token_symbol": "USDT",
        },
        {"venue": "binance", "correlation_id": "8b0e1f9a-3c2d-4e5f-8a7b-6c5d4e3f2a1b"},
    ),
    (
        "config.changed",
        {
            "key": "risk.max_notional",
            "old_hash": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "new_hash": "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            "changed_by": "alice",
        },
        {"actor": "alice"},
    ),
]


@pytest.mark.parametrize(
    ("event_type", "data", "fields"), ORDER_EVENTS, ids=[e[0] for e in ORDER_EVENTS]
)
def test_order_events_are_untouched_and_skip_the_walk(
    event_type: str, data: dict[str, Any], fields: dict[str, Any]
) -> None:
    assert DEFAULT_REDACTOR.redact(data, "data") == (data, [])
    line = record_line(event_type, data, **fields)
    assert not DEFAULT_REDACTOR.may_contain_secrets(line), line
    for name, value in fields.items():
        assert DEFAULT_REDACTOR.redact(value, name) == (value, [])


def test_order_ids_hashes_and_uuids_are_not_patterns() -> None:
    values = [
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # a prev hash
        "0190a8f2-7c3e-7a1b-9c4d-5e6f7a8b9c0d",  # UUIDv7 event id
        "c-20240301-000123",
        "BTC-USD",
        "64123.50",
        "2024-03-01T14:30:05.123456789Z",
        "XNAS-3141592",
        "acct:desk-1",
        "risk check: price within band",
        "basic",
        "reason: token bucket empty",  # the label is 'reason'
    ]
    for value in values:
        assert DEFAULT_REDACTOR.redact_text(value) is value


def test_token_symbol_with_allow_list_and_by_rule() -> None:
    data = {"token_symbol": "USDC", "token": "WETH", "base_token": "WBTC", "access_token": "at-123"}
    redacted, paths = DEFAULT_REDACTOR.redact(data, "data")
    assert redacted["token_symbol"] == "USDC"  # by rule: ends in 'symbol'
    assert paths == ["data.token", "data.base_token", "data.access_token"]
    allowing = Redactor(allow_keys=["token", "Base-Token"])
    redacted, paths = allowing.redact(data, "data")
    assert redacted == {**data, "access_token": MARKER}
    assert paths == ["data.access_token"]
    assert allowing.redact_text("token=WETH") == "token=WETH"


# --------------------------------------------------------------------- extra keys and patterns


def test_extra_keys() -> None:
    redactor = Redactor(extra_keys=["pin", "Broker-Session"])
    data = {"PIN": 4412, "broker_session": "bs-77", "pinned": True, "session": "s"}
    redacted, paths = redactor.redact(data, "data")
    assert redacted == {"PIN": MARKER, "broker_session": MARKER, "pinned": True, "session": "s"}
    assert paths == ["data.PIN", "data.broker_session"]
    assert redactor.may_contain_secrets(encode(data))
    assert redactor.redact_text("login pin: 4412 ok") == "login pin: [REDACTED] ok"
    assert not DEFAULT_REDACTOR.is_secret_key("pin")


def test_extra_patterns() -> None:
    redactor = Redactor(
        extra_patterns=[r"ORD-SECRET-[0-9]{6}", re.compile(r"acct=(?P<secret>[0-9]{8})")]
    )
    data = {"note": "ref ORD-SECRET-123456 for acct=12345678, desk 4"}
    redacted, paths = redactor.redact(data, "data")
    assert redacted == {"note": "ref [REDACTED] for acct=[REDACTED], desk 4"}
    assert paths == ["data.note"]
    assert redactor.may_contain_secrets(encode(data))  # through the JSON fallback
    assert not DEFAULT_REDACTOR.may_contain_secrets(encode(data))
    for event_type, order, fields in ORDER_EVENTS:
        assert not redactor.may_contain_secrets(record_line(event_type, order, **fields))


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        Redactor(extra_keys="pin")
    with pytest.raises(TypeError):
        Redactor(fingerprint_key="not-bytes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- fingerprints


def test_fingerprints_are_stable_and_differ_per_secret() -> None:
    one = Redactor(fingerprint_key=b"desk-key-1")
    again = Redactor(fingerprint_key=b"desk-key-1")
    other_key = Redactor(fingerprint_key=b"desk-key-2")
    marker = one.marker(BINANCE_SECRET)
    assert HMAC_MARKER.fullmatch(marker)
    assert marker == one.marker(BINANCE_SECRET) == again.marker(BINANCE_SECRET)
    assert marker != one.marker(BINANCE_SECRET + "x")
    assert marker != other_key.marker(BINANCE_SECRET)
    assert len({one.marker(s) for s in (BINANCE_KEY, BINANCE_SECRET, AWS_SECRET, JWT)}) == 4
    assert DEFAULT_REDACTOR.marker(BINANCE_SECRET) == MARKER


def test_fingerprint_correlates_a_secret_across_events_and_places() -> None:
    redactor = Redactor(fingerprint_key=b"k")
    first, _ = redactor.redact({"venue": {"api_secret": BINANCE_SECRET}}, "data")
    second, _ = redactor.redact({"msg": f"retry with api_secret={BINANCE_SECRET}"}, "data")
    marker = redactor.marker(BINANCE_SECRET)
    assert first["venue"]["api_secret"] == marker
    assert second["msg"] == f"retry with api_secret={marker}"
    container, _ = redactor.redact({"auth": {"b": 1, "a": 2}}, "data")
    assert container["auth"] == redactor.marker('{"a":2,"b":1}')


# ------------------------------------------------------------------ soundness of the pre-check

SECRET_FRAGMENTS = [
    JWT, AWS_KEY_ID, AWS_TEMP_KEY_ID, GH_PAT, GH_FINE, SLACK_BOT, STRIPE_LIVE, STRIPE_WEBHOOK,
    GOOGLE_KEY, OPENAI_KEY, "Bearer Qk9Xm2Lp7Rz4", "basic ZGVzazE6UGFz", PEM,
    f"6123456789:{TELEGRAM}", f"hooks.slack.com/services/{SLACK_HOOK}", "https://u:pw@h/",
    "?token=abc", "&sig=abc", "password: x1", "api_key=x2", '"apiKey": "x3"', "Set-Cookie: a=b",
]  # fmt: skip
TRICKY_FRAGMENTS = [
    "token", "TOKEN", "Token", "api", "key", "KEY", "Key", "secret", "pass", "word", "auth",
    "cookie", "sign", "sig", "hmac", "otp", "jwt", "seed", "phrase", "private", "access",
    "_", "-", " ", "  ", "\t", "\n", "\r", "\x0b", "\x01", "\\", '"', "'", ":", "=", "?", "&",
    ";", "@", "/", "://", "#", ".", ",", "Bearer", "BASIC", "PRIVATE KEY", "-----BEGIN ", "AKIA",
    "ASIA", "AIza", "eyJ", "ghp_", "github_pat_", "whsec_", "xoxb-", "hooks", "sk_live_", "sk-",
    "AA", "123456789", "0", "I", "J", "h", "H", "k", "K", "x", "X", "é", "\u212a", "\u2028",
    "abcdefghij", "ABCDEFGHIJKLMNOP", "0123456789", "max_tokens", "token_symbol", "hkxj",
]  # fmt: skip

text = st.lists(st.sampled_from(TRICKY_FRAGMENTS + SECRET_FRAGMENTS), max_size=10).map("".join)
keys = st.one_of(text, st.text(max_size=8), st.sampled_from(["order_id", "px", "qty", "ts"]))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), text, st.text(max_size=20)
)
json_values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=16,
)


def ungated() -> Redactor:
    """A redactor that searches every string with every pattern, skipping the byte pre-check
    that redact() itself uses per string: the reference the pre-check is held against."""
    reference = Redactor()
    reference._text_may_hold = lambda text: True  # type: ignore[method-assign]
    return reference


REFERENCE = ungated()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_precheck_never_misses_what_redact_would_change(value: Any) -> None:
    event = {"type": "fuzz.event", "data": value}
    if not DEFAULT_REDACTOR.may_contain_secrets(encode(event)):
        assert REFERENCE.redact(event, "event") == (event, [])
        redacted, paths = DEFAULT_REDACTOR.redact(event, "event")
        assert redacted is event
        assert paths == []


@settings(max_examples=1500, deadline=None)
@given(st.one_of(text, st.text()))
def test_string_gate_is_the_precheck(value: str) -> None:
    if not DEFAULT_REDACTOR.may_contain_secrets(encode(value)):
        assert REFERENCE.redact_text(value) is value
    assert DEFAULT_REDACTOR.redact_text(value) == REFERENCE.redact_text(value)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(CORPUS), st.integers(0, 3))
def test_injected_secrets_are_found(value: Any, case: Any, depth: int) -> None:
    _, secret_data, secrets, _ = case
    for level in range(depth):
        secret_data = {"wrap": [level, "filler", secret_data]}
    event = {"type": "fuzz.event", "data": {"noise": value, "payload": secret_data}}
    assert DEFAULT_REDACTOR.may_contain_secrets(encode(event))
    redacted, paths = DEFAULT_REDACTOR.redact(event, "event")
    assert paths
    after = encode(redacted["data"]["payload"])  # dict keys in the noise are never rewritten
    for secret in secrets:
        assert secret.encode() not in after


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TRICKY_FRAGMENTS), max_size=6).map("".join),
    st.sampled_from([s for s in SECRET_FRAGMENTS if len(s) > 20 and " " not in s]),
    st.sampled_from([" ", "\n", "\t", "(", ", ", " | ", "\u2028"]),
)
def test_secrets_embedded_in_log_lines(prefix: str, secret: str, gap: str) -> None:
    message = f"{prefix}{gap}{secret}{gap}done"
    assert DEFAULT_REDACTOR.may_contain_secrets(encode({"msg": message}))
    assert secret[-12:] not in DEFAULT_REDACTOR.redact_text(message)


@pytest.mark.parametrize(
    "value",
    [
        "_xoxb-2048-731925678012-Zq4Rt8Yp2Wm6Xn0Lk3Jh5Gf7",  # '_' may precede a Slack token
        "?a key=abc",  # 'key' is a query parameter only right after ? & ;
        "k-e-y=abc",
        "?KEY=abc&SIG=def",
        "ssh://deploy:pw@host",  # 'h' becomes the sentinel next to '://'
        "s3://ak:sk@bucket",
        "\nsk-" + "a" * 24,  # an escaped control character before a token
        "\u001fAKIAIOSFODNN7EXAMPLE",
        "Bearer\t\tabcdefgh12345678",
        "auth:\thunter2",
        "x\t:token=abc",
        "PRIVATE KEY",
        "-----BEGIN PRIVATE KEY-----",
        "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.c2ln",
    ],
)
def test_precheck_regressions(value: str) -> None:
    changed = REFERENCE.redact_text(value) is not value
    assert DEFAULT_REDACTOR.may_contain_secrets(encode({"m": value})) or not changed
    assert DEFAULT_REDACTOR.redact_text(value) == REFERENCE.redact_text(value)


def test_long_pathological_strings_stay_linear() -> None:
    n = 60_000
    shapes = ["k" * n, " " * n, ":" * n, "a:" * (n // 2), "token=" * (n // 6), "ghp_" * (n // 4)]
    shapes += [
        "eyJ." * (n // 4),
        "https://" * (n // 8),
        "1:" * (n // 2),
        "\t" * n,
        "x y: " * (n // 5),
    ]
    start = time.perf_counter()
    for shape in shapes:
        DEFAULT_REDACTOR.may_contain_secrets(encode({"m": shape}))
        DEFAULT_REDACTOR.redact({"m": shape}, "data")
    assert time.perf_counter() - start < 10  # quadratic behaviour would take minutes


# -------------------------------------------------------------------------------- performance


def test_precheck_timing_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    data = {"side": "buy", "qty": "0.25", "price": "64123.5", "type": "limit"}
    line = record_line("order.submitted", data, client_order_id="c-000123", symbol="BTC-USD")
    assert 280 <= len(line) <= 320, len(line)
    assert not DEFAULT_REDACTOR.may_contain_secrets(line)
    runs = 20_000
    check = DEFAULT_REDACTOR.may_contain_secrets
    best = min(timeit.repeat(lambda: check(line), number=runs, repeat=5)) / runs
    walk = min(timeit.repeat(lambda: DEFAULT_REDACTOR.redact(data, "data"), number=2000, repeat=3))
    with capsys.disabled():
        print(
            f"\nmay_contain_secrets on a {len(line)}-byte order event: {best * 1e9:.0f} ns; "
            f"redact() walk of its data: {walk / 2000 * 1e9:.0f} ns"
        )

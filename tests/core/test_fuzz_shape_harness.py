"""The compiled shaper's fuzz harness (fuzz/fuzz_shape.py) without atheris: its target over the
seed corpus, so the harness cannot rot between fuzz runs, and proof that it reports a wrong
answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FUZZ, fuzz_harness
from tradetrail.core import fastshape
from tradetrail.core.canonical import Prepared
from tradetrail.model.events import DEFAULT_MODEL
from tradetrail.model.redact import DEFAULT_REDACTOR

pytestmark = pytest.mark.skipif(
    fastshape.load(DEFAULT_MODEL, DEFAULT_REDACTOR, 1 << 20) is None,
    reason="the accelerator is not built (or TRADETRAIL_ACCELERATOR=off)",
)

harness, SEEDS = fuzz_harness("shape")


def seed(name: str) -> bytes:
    return (FUZZ / "corpus" / "shape" / name).read_bytes()


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_the_seed_corpus_passes(path: Path) -> None:
    harness.check(path.read_bytes())


def test_the_seeds_reach_answers_and_declines() -> None:
    """Mutation starts from both sides of the shaper's every decision: shaped events of each
    common type, and events it leaves to the reference."""
    fast = harness.installed()
    answered = {p.name for p in SEEDS if fast(p.read_bytes(), harness.SOURCE) is not None}
    types = {seed(name).split(b'"')[1] for name in answered}
    assert types >= {
        b"order.accepted",
        b"order.submitted",
        b"order.filled",
        b"risk.passed",
        b"order.rejected",
    }
    assert b"1.50E0" in seed("accepted_e0_decimal_int") and "accepted_e0_decimal_int" in answered
    assert 10 <= len(answered) <= len(SEEDS) - 10


def test_a_wrong_reference_is_a_mismatch() -> None:
    """A reference whose p0 has one byte flipped: the harness compares what it is given."""

    def flipped(raw: bytes) -> Prepared:
        got: Prepared = harness.reference(raw)
        got.p0 = got.p0[:-1] + bytes([got.p0[-1] ^ 1])
        return got

    raw = seed("accepted_text_price")
    harness.check(raw, ref=harness.reference)
    with pytest.raises(harness.Mismatch, match="!= reference"):
        harness.check(raw, ref=flipped)


def test_a_wrong_event_id_is_a_mismatch() -> None:
    def other_id(raw: bytes) -> Prepared:
        got: Prepared = harness.reference(raw)
        got.event_id = got.event_id[:-1] + ("0" if got.event_id[-1] != "0" else "1")
        return got

    with pytest.raises(harness.Mismatch, match="!= reference"):
        harness.check(seed("filled"), ref=other_id)


def test_an_answer_for_an_event_the_reference_redacts_or_refuses_is_a_mismatch() -> None:
    """An extension that answered where it must decline: for a secret (the reference redacts),
    for an unknown field (schema error), for bytes that are not a raw event (it raises)."""
    fast = harness.installed()
    answer: Prepared | None = fast(seed("accepted_text_price"), harness.SOURCE)
    assert answer is not None

    def eager(raw: bytes, source: bytes | None) -> Prepared | None:
        return answer

    harness.check(seed("accepted_bearer"))
    with pytest.raises(harness.Mismatch, match=r"reference redacted \['data.status'\]"):
        harness.check(seed("accepted_bearer"), fast=eager)
    with pytest.raises(harness.Mismatch, match=r"schema_error 'data\.bogus: not a field"):
        harness.check(seed("accepted_unknown_field"), fast=eager)
    with pytest.raises(harness.Mismatch, match="reference raised PartsError"):
        harness.check(seed("hostile_cut"), fast=eager)


def test_an_extension_that_raises_is_a_mismatch() -> None:
    def broken(raw: bytes, source: bytes | None) -> Prepared | None:
        raise MemoryError

    with pytest.raises(harness.Mismatch, match="extension raised MemoryError"):
        harness.check(seed("filled"), fast=broken)

"""The fuzz harness (fuzz/fuzz_chain.py) without atheris: its target over the seed corpus, so the
harness cannot rot between fuzz runs, and proof that it reports a wrong answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import FUZZ, fuzz_harness
from tradetrail.core.chain import splice_and_hash_py

_chain = pytest.importorskip("tradetrail.core._chain", reason="the accelerator is not built")

harness, SEEDS = fuzz_harness("chain")


@pytest.mark.parametrize("seed", SEEDS, ids=[p.name for p in SEEDS])
def test_the_seed_corpus_passes(seed: Path) -> None:
    harness.check(seed.read_bytes())


def test_the_seeds_reach_the_answers_and_the_refusals() -> None:
    refusals = {harness.contract_error(harness.read_call(p.read_bytes())) for p in SEEDS}
    kinds = {None if r is None else r[0] for r in refusals}
    assert kinds == {None, AttributeError, TypeError, ValueError, OverflowError}


def test_every_input_is_a_call() -> None:
    for data in (b"", b"\xff" * 64, bytes(range(256)), b"\x09" * 500):
        harness.check(data)


def test_a_wrong_reference_is_a_mismatch() -> None:
    def off_by_one(events: Any, prev: bytes, seq: int, stamps: Any) -> Any:
        return splice_and_hash_py(events, prev, seq + 1, stamps)

    one_event = (FUZZ / "corpus" / "chain" / "one_event").read_bytes()
    harness.check(one_event, reference=splice_and_hash_py)
    with pytest.raises(harness.Mismatch, match="!= reference"):
        harness.check(one_event, reference=off_by_one)


def test_a_wrong_refusal_is_a_mismatch() -> None:
    """An extension that stopped checking the stamp count: it stamps the missing ones empty."""

    def lenient(events: Any, prev: bytes, seq: int, stamps: Any) -> Any:
        padded = stamps + [b""] * (len(events) - len(stamps))
        return _chain.splice_and_hash(events, prev, seq, padded)

    short = (FUZZ / "corpus" / "chain" / "stamps_one_short").read_bytes()
    harness.check(short)
    with pytest.raises(harness.Mismatch, match=r"want ValueError\('stamps has 1 item"):
        harness.check(short, fast=lenient)

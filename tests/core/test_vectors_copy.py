"""The vectors under tests/vectors are a copy of the reference set in ../shared/vectors (kept in
the repository so a clean clone runs them). When the shared set is present, the copy must match
it file for file; the copy must never be empty (a missing set fails, it is not skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, VECTORS

HERE = VECTORS
SHARED = ROOT.parent / "shared" / "vectors"


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_vector_copy_is_present() -> None:
    copy = files(HERE)
    assert len([n for n in copy if n.startswith("rfc6962/inclusion/")]) > 50
    assert len([n for n in copy if n.startswith("rfc6962/consistency/")]) > 50
    assert "signed-note.json" in copy


def test_vector_copy_matches_the_shared_reference() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/vectors not present beside this checkout")
    assert files(HERE) == files(SHARED)

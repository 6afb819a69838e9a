"""Tests for tradetrail.core.merkle: reference vectors, and properties against a naive RFC 6962
model."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import VECTORS as TEST_VECTORS
from tradetrail.core.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root_from_inclusion_proof,
    root_of_leaves,
    subtree_decomposition,
    verify_consistency,
    verify_inclusion,
)
from tradetrail.errors import ProofError

VECTORS = TEST_VECTORS / "rfc6962"

# The leaf data of the RFC 6962 / Certificate Transparency test tree (8 leaves).
RFC_LEAF_DATA = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]


# --------------------------------------------------------------------------------------------
# Naive reference, straight from RFC 6962 §2.1 (recursive, over leaf hashes).
# --------------------------------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    """Largest power of two strictly less than n (n > 1), computed the slow way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return d[0]
    k = ref_k(n)
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_inclusion_ok(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Does the proof verify? Mirrors PATH's recursion: consume hashes from the top down."""

    def walk(m: int, n: int, p: Sequence[bytes]) -> bytes | None:
        if n == 1:
            return leaf if not p else None
        if not p:
            return None
        k = ref_k(n)
        if m < k:
            sub = walk(m, k, p[:-1])
            return None if sub is None else _sha(b"\x01" + sub + p[-1])
        sub = walk(m - k, n - k, p[:-1])
        return None if sub is None else _sha(b"\x01" + p[-1] + sub)

    if not 0 <= index < size or len(leaf) != 32 or any(len(p) != 32 for p in proof):
        return False
    return walk(index, size, proof) == root


def ref_consistency_ok(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Does the proof verify? Mirrors SUBPROOF's recursion, returning (old hash, new hash)."""

    def walk(m: int, n: int, b: bool, p: Sequence[bytes]) -> tuple[bytes, bytes] | None:
        if m == n:
            if b:
                return (old_root, old_root) if not p else None
            return (p[0], p[0]) if len(p) == 1 else None
        if not p:
            return None
        k = ref_k(n)
        last = p[-1]
        if m <= k:
            sub = walk(m, k, b, p[:-1])
            return None if sub is None else (sub[0], _sha(b"\x01" + sub[1] + last))
        sub = walk(m - k, n - k, False, p[:-1])
        if sub is None:
            return None
        return _sha(b"\x01" + last + sub[0]), _sha(b"\x01" + last + sub[1])

    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if any(len(x) != 32 for x in (old_root, new_root, *proof)):
        return False
    got = walk(m, n, True, proof)
    return got is not None and got == (old_root, new_root)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def make_leaves(n: int, seed: bytes = b"") -> list[bytes]:
    return [leaf_hash(seed + i.to_bytes(4, "big")) for i in range(n)]


def build(leaves: Sequence[bytes]) -> tuple[Frontier, dict[tuple[int, int], bytes]]:
    """A frontier over the leaves, and every node its appends reported."""
    f = Frontier()
    store: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for height, index, h in f.append(leaf):
            assert (height, index) not in store
            store[height, index] = h
    return f, store


def getter(store: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    def get_node(height: int, index: int) -> bytes:
        return store[height, index]

    return get_node


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def raises_proof_error(fn: Callable[[], object]) -> bool:
    try:
        fn()
    except ProofError:
        return True
    return False


# --------------------------------------------------------------------------------------------
# Reference vectors (transparency-dev/merkle testdata)
# --------------------------------------------------------------------------------------------


def _vector_params(kind: str) -> list[Any]:
    d = VECTORS / kind
    files = sorted(d.rglob("*.json")) if d.is_dir() else []
    if not files:
        reason = f"RFC 6962 {kind} test vectors not found under {d}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="missing")]
    return [pytest.param(p, id=str(p.relative_to(d))) for p in files]


def _b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    proof = [_b64(h) for h in v["proof"] or []]
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)
        assert root_from_inclusion_proof(*args[:4]) == args[4]
    assert ref_inclusion_ok(*args) is (not v["wantErr"])


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    proof = [_b64(h) for h in v["proof"] or []]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)
    assert ref_consistency_ok(*args) is (not v["wantErr"])


def _happy_vectors(kind: str) -> list[dict[str, Any]]:
    d = VECTORS / kind
    if not d.is_dir():
        return []
    return [_load(p) for p in sorted(d.rglob("happy-path.json"))]


def test_generated_proofs_match_vector_happy_paths() -> None:
    """Proofs we generate for the RFC test tree are byte-for-byte the reference's."""
    incl, cons = _happy_vectors("inclusion"), _happy_vectors("consistency")
    if not incl or not cons:
        pytest.skip(f"RFC 6962 test vectors not found under {VECTORS}")
    leaves = [leaf_hash(d) for d in RFC_LEAF_DATA]
    roots = [root_of_leaves(leaves[:n]) for n in range(len(leaves) + 1)]
    for v in incl:
        index, size = v["leafIdx"], v["treeSize"]
        _, store = build(leaves[:size])
        assert _b64(v["leafHash"]) == leaves[index]
        assert _b64(v["root"]) == roots[size]
        want = [_b64(h) for h in v["proof"] or []]
        assert inclusion_proof(index, size, getter(store)) == want
    for v in cons:
        m, n = v["size1"], v["size2"]
        _, store = build(leaves[:n])
        assert (_b64(v["root1"]), _b64(v["root2"])) == (roots[m], roots[n])
        want = [_b64(h) for h in v["proof"] or []]
        assert consistency_proof(m, n, getter(store)) == want


# --------------------------------------------------------------------------------------------
# Hashing and known answers
# --------------------------------------------------------------------------------------------


def test_hash_primitives() -> None:
    assert HASH_SIZE == 32
    assert _sha(b"") == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    a, b = _sha(b"a"), _sha(b"b")
    assert node_hash(a, b) == _sha(b"\x01" + a + b)
    assert node_hash(a, b) != node_hash(b, a)


def test_rfc_tree_known_roots() -> None:
    """Roots of the CT test tree, as published with RFC 6962's reference implementations."""
    leaves = [leaf_hash(d) for d in RFC_LEAF_DATA]
    assert root_of_leaves([]) == EMPTY_ROOT
    assert root_of_leaves(leaves[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert root_of_leaves(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    f, _ = build(leaves)
    assert f.root() == root_of_leaves(leaves)


# --------------------------------------------------------------------------------------------
# Frontier
# --------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
def test_frontier_root_matches_reference(leaves: list[bytes]) -> None:
    f = Frontier()
    assert f.root() == EMPTY_ROOT
    for leaf in leaves:
        f.append(leaf)
    assert f.size == len(leaves)
    assert f.root() == ref_mth(leaves) == root_of_leaves(leaves)
    assert len(f.nodes) == len(leaves).bit_count()


@pytest.mark.parametrize("n", [511, 512, 513, 1000, 4097, 65_537])
def test_frontier_root_large(n: int) -> None:
    leaves = make_leaves(n, b"large")
    f, _ = build(leaves)
    assert f.root() == root_of_leaves(leaves)
    if n <= 4097:
        assert f.root() == ref_mth(leaves)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.binary(max_size=8))
def test_frontier_every_prefix_root(n: int, seed: bytes) -> None:
    leaves = make_leaves(n, seed)
    f = Frontier()
    for i, leaf in enumerate(leaves):
        f.append(leaf)
        if i % 7 == 0 or i == n - 1:
            assert f.root() == root_of_leaves(leaves[: i + 1])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.binary(max_size=8))
def test_frontier_append_reports_completed_nodes(n: int, seed: bytes) -> None:
    leaves = make_leaves(n, seed)
    f = Frontier()
    store: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(leaves):
        created = f.append(leaf)
        assert created[0] == (0, i, leaf)
        assert [h for h, _, _ in created] == list(range(len(created)))
        # One new node per trailing 1 bit of the old size.
        assert len(created) == 1 + ((i ^ (i + 1)).bit_length() - 1)
        for height, index, h in created:
            lo, hi = index << height, (index + 1) << height
            assert hi == i + 1  # the node just completed ends at the new leaf
            assert h == ref_mth(leaves[lo:hi])
            store[height, index] = h
    # Every perfect subtree of [0, n) was reported exactly once.
    expected = {(h, i) for h in range(n.bit_length() + 1) for i in range(n >> h)}
    assert set(store) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.integers(0, 50), st.binary(max_size=8))
def test_frontier_restore_and_copy(n: int, extra: int, seed: bytes) -> None:
    leaves = make_leaves(n + extra, seed)
    f, _ = build(leaves[:n])
    restored = Frontier(f.size, f.nodes)
    clone = f.copy()
    assert restored.size == clone.size == n
    assert restored.nodes == clone.nodes == f.nodes
    for leaf in leaves[n:]:
        restored.append(leaf)
    # Neither the original nor its copy moved.
    assert f.size == clone.size == n
    assert f.root() == clone.root() == root_of_leaves(leaves[:n])
    assert restored.root() == root_of_leaves(leaves)
    for leaf in leaves[n:]:
        clone.append(leaf)
    assert clone.nodes == restored.nodes
    assert f.size == n


def test_frontier_nodes_is_a_copy() -> None:
    f, _ = build(make_leaves(5))
    nodes = f.nodes
    assert isinstance(nodes, tuple)
    assert len(nodes) == 2
    f.append(leaf_hash(b"x"))
    assert nodes != f.nodes


def test_frontier_constructor_validation() -> None:
    h = _sha(b"x")
    Frontier()
    Frontier(0, [])
    Frontier(1, [h])
    Frontier(5, (h, h))
    Frontier(2**40 - 1, [h] * 40)
    with pytest.raises(ValueError, match="size"):
        Frontier(-1, [])
    with pytest.raises(ValueError):
        Frontier(0, [h])
    with pytest.raises(ValueError):
        Frontier(1, [])
    with pytest.raises(ValueError):
        Frontier(3, [h])
    with pytest.raises(ValueError):
        Frontier(4, [h, h])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier(1, [b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier(3, [h, h + b"\x00"])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(b"short")


def test_frontier_restored_from_known_nodes() -> None:
    leaves = make_leaves(6)
    nodes = [root_of_leaves(leaves[:4]), root_of_leaves(leaves[4:6])]
    f = Frontier(6, nodes)
    assert f.root() == root_of_leaves(leaves)
    created = f.append(leaves[0])
    assert created == [(0, 6, leaves[0])]
    created = f.append(leaves[1])
    assert [(h, i) for h, i, _ in created] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert f.nodes == (root_of_leaves([*leaves, leaves[0], leaves[1]]),)


# --------------------------------------------------------------------------------------------
# subtree_decomposition and range_hash
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        (0, 0, []),
        (5, 5, []),
        (0, 1, [(0, 0)]),
        (6, 7, [(0, 6)]),
        (0, 2, [(1, 0)]),
        (1, 3, [(0, 1), (0, 2)]),
        (3, 5, [(0, 3), (0, 4)]),
        (0, 8, [(3, 0)]),
        (4, 8, [(2, 1)]),
        (4, 12, [(2, 1), (2, 2)]),
        (0, 7, [(2, 0), (1, 2), (0, 6)]),
        (8, 13, [(2, 2), (0, 12)]),
        (16, 31, [(3, 2), (2, 6), (1, 14), (0, 30)]),
        (0, 6, [(2, 0), (1, 2)]),
        (2**40, 2**40 + 3, [(1, 2**39), (0, 2**40 + 2)]),
    ],
)
def test_subtree_decomposition_cases(start: int, end: int, want: list[tuple[int, int]]) -> None:
    assert subtree_decomposition(start, end) == want


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 3), (1, 4), (2, 7), (1, 5), (6, 13)])
def test_subtree_decomposition_rejects(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        subtree_decomposition(start, end)


def test_subtree_decomposition_and_range_hash_exhaustive() -> None:
    n = 40
    leaves = make_leaves(n, b"ranges")
    # Every aligned perfect subtree, including ones beyond a frontier's reach.
    store = {
        (h, i): root_of_leaves(leaves[i << h : (i + 1) << h])
        for h in range(6)
        for i in range(n >> h)
    }
    for start in range(n + 1):
        for end in range(start, n + 1):
            size = end - start
            k = ref_k(size) if size > 1 else 1
            if start % k:
                with pytest.raises(ValueError):
                    subtree_decomposition(start, end)
                continue
            parts = subtree_decomposition(start, end)
            # Contiguous, covering, perfect and non-increasing in height.
            pos = start
            for height, index in parts:
                assert index << height == pos
                pos += 1 << height
            assert pos == end
            heights = [h for h, _ in parts]
            assert heights == sorted(heights, reverse=True)
            assert range_hash(start, end, getter(store)) == ref_mth(leaves[start:end])
    assert range_hash(7, 7, getter(store)) == EMPTY_ROOT


# --------------------------------------------------------------------------------------------
# Proof ranges and proofs, against the reference
# --------------------------------------------------------------------------------------------


def test_ranges_validation() -> None:
    for index, size in [(0, 0), (1, 1), (-1, 5), (5, 5)]:
        with pytest.raises(ValueError):
            inclusion_ranges(index, size)
    for m, n in [(0, 0), (0, 5), (2, 1), (-1, 3)]:
        with pytest.raises(ValueError):
            consistency_ranges(m, n)
    assert consistency_ranges(5, 5) == []
    assert inclusion_ranges(0, 1) == []
    assert inclusion_ranges(2, 5) == [(3, 4), (0, 2), (4, 5)]
    assert consistency_ranges(1, 8) == [(1, 2), (2, 4), (4, 8)]
    assert consistency_ranges(6, 8) == [(4, 6), (6, 8), (0, 4)]
    assert consistency_ranges(4, 6) == [(4, 6)]


def _check_proofs(leaves: list[bytes], index: int, old: int) -> None:
    n = len(leaves)
    _, store = build(leaves)
    get = getter(store)
    root = root_of_leaves(leaves)

    path = inclusion_proof(index, n, get)
    assert path == ref_path(index, leaves)
    assert len(path) == len(inclusion_ranges(index, n))
    for (a, b), h in zip(inclusion_ranges(index, n), path, strict=True):
        assert h == ref_mth(leaves[a:b])
    verify_inclusion(leaves[index], index, n, path, root)
    assert root_from_inclusion_proof(leaves[index], index, n, path) == root

    cons = consistency_proof(old, n, get)
    assert cons == (ref_proof(old, leaves) if old < n else [])
    for (a, b), h in zip(consistency_ranges(old, n), cons, strict=True):
        assert h == ref_mth(leaves[a:b])
    old_root = root_of_leaves(leaves[:old])
    verify_consistency(old, n, old_root, root, cons)


def test_proofs_exhaustive_small_trees() -> None:
    for n in range(1, 41):
        leaves = make_leaves(n, b"small")
        _, store = build(leaves)
        get = getter(store)
        root = root_of_leaves(leaves)
        for index in range(n):
            path = inclusion_proof(index, n, get)
            assert path == ref_path(index, leaves)
            verify_inclusion(leaves[index], index, n, path, root)
        for old in range(1, n + 1):
            cons = consistency_proof(old, n, get)
            assert cons == (ref_proof(old, leaves) if old < n else [])
            verify_consistency(old, n, root_of_leaves(leaves[:old]), root, cons)


@settings(max_examples=120, deadline=None)
@given(st.data(), st.integers(1, 300), st.binary(max_size=8))
def test_proofs_match_reference(data: st.DataObject, n: int, seed: bytes) -> None:
    leaves = make_leaves(n, seed)
    index = data.draw(st.integers(0, n - 1), label="index")
    old = data.draw(st.integers(1, n), label="old_size")
    _check_proofs(leaves, index, old)


@pytest.mark.parametrize(("n", "index", "old"), [(1025, 1024, 1023), (4096, 1234, 2048)])
def test_proofs_large_tree(n: int, index: int, old: int) -> None:
    _check_proofs(make_leaves(n, b"big"), index, old)


def test_proofs_huge_tree_via_callback() -> None:
    """get_node only touches O(log n) nodes, so proofs work on trees never held in memory."""

    def get_node(height: int, index: int) -> bytes:
        # A synthetic but consistent tree: each perfect subtree's hash is derived from its name.
        return _sha(b"node" + height.to_bytes(1, "big") + index.to_bytes(8, "big"))

    calls: list[tuple[int, int]] = []

    def counting(height: int, index: int) -> bytes:
        calls.append((height, index))
        return get_node(height, index)

    size = 2**40 + 2**20 + 3
    path = inclusion_proof(2**39 + 5, size, counting)
    assert len(path) == len(inclusion_ranges(2**39 + 5, size)) <= 2 * 41
    assert len(calls) < 100
    assert consistency_proof(2**30 + 1, size, counting)


# --------------------------------------------------------------------------------------------
# Altered proofs are rejected
# --------------------------------------------------------------------------------------------

_FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(st.data(), st.integers(1, 200), st.binary(max_size=8))
def test_altered_inclusion_proofs_rejected(data: st.DataObject, n: int, seed: bytes) -> None:
    leaves = make_leaves(n, seed)
    _, store = build(leaves)
    root = root_of_leaves(leaves)
    index = data.draw(st.integers(0, n - 1), label="index")
    leaf = leaves[index]
    proof = inclusion_proof(index, n, getter(store))
    verify_inclusion(leaf, index, n, proof, root)

    def rejected(
        leaf: bytes = leaf,
        index: int = index,
        size: int = n,
        proof: Sequence[bytes] = proof,
        root: bytes = root,
    ) -> bool:
        return raises_proof_error(lambda: verify_inclusion(leaf, index, size, proof, root))

    # Flip a bit in any hash of the proof, in the leaf, in the root.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="flip hash")
        bit = data.draw(st.integers(0, 255), label="flip bit")
        assert rejected(proof=[*proof[:i], flip(proof[i], bit), *proof[i + 1 :]])
        # Drop a hash.
        j = data.draw(st.integers(0, len(proof) - 1), label="drop")
        assert rejected(proof=[*proof[:j], *proof[j + 1 :]])
    assert rejected(leaf=flip(leaf, data.draw(st.integers(0, 255), label="leaf bit")))
    assert rejected(root=flip(root, data.draw(st.integers(0, 255), label="root bit")))
    # Add a hash anywhere (garbage, or a copy of one already there).
    pos = data.draw(st.integers(0, len(proof)), label="insert at")
    extra = data.draw(st.sampled_from([root, leaf, EMPTY_ROOT, b"", *proof]), label="extra")
    assert rejected(proof=[*proof[:pos], extra, *proof[pos:]])
    # Wrong root / leaf of the wrong length.
    assert rejected(root=EMPTY_ROOT)
    assert rejected(root=root[:31])
    assert rejected(leaf=leaf + b"\x00")
    # Wrong index: any other leaf in the tree, or one past the end.
    other = data.draw(st.integers(0, n), label="other index")
    assume(other != index)
    assert rejected(index=other)
    assert rejected(index=-1)
    # Wrong size. The root does not commit to the size, so the same proof can be valid for a
    # different size (e.g. leaf 4 of size 7 and of size 8); defer to the reference's verdict.
    for size in {n - 1, n + 1, 2 * n, n // 2, data.draw(st.integers(0, 2 * n + 2))} - {n}:
        assert rejected(size=size) is not ref_inclusion_ok(leaf, index, size, proof, root)
    assert rejected(size=index)


@_FAST
@given(st.data(), st.integers(1, 200), st.binary(max_size=8))
def test_altered_consistency_proofs_rejected(data: st.DataObject, n: int, seed: bytes) -> None:
    leaves = make_leaves(n, seed)
    _, store = build(leaves)
    m = data.draw(st.integers(1, n), label="old_size")
    old_root, new_root = root_of_leaves(leaves[:m]), root_of_leaves(leaves)
    proof = consistency_proof(m, n, getter(store))
    verify_consistency(m, n, old_root, new_root, proof)

    def rejected(
        m: int = m,
        n: int = n,
        old_root: bytes = old_root,
        new_root: bytes = new_root,
        proof: Sequence[bytes] = proof,
    ) -> bool:
        return raises_proof_error(lambda: verify_consistency(m, n, old_root, new_root, proof))

    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="flip hash")
        bit = data.draw(st.integers(0, 255), label="flip bit")
        assert rejected(proof=[*proof[:i], flip(proof[i], bit), *proof[i + 1 :]])
        j = data.draw(st.integers(0, len(proof) - 1), label="drop")
        assert rejected(proof=[*proof[:j], *proof[j + 1 :]])
        assert rejected(proof=[])
        assert rejected(old_root=new_root, new_root=old_root)
    pos = data.draw(st.integers(0, len(proof)), label="insert at")
    extra = data.draw(st.sampled_from([old_root, new_root, EMPTY_ROOT, b"", *proof]), label="extra")
    assert rejected(proof=[*proof[:pos], extra, *proof[pos:]])
    assert rejected(old_root=flip(old_root, data.draw(st.integers(0, 255), label="old bit")))
    assert rejected(new_root=flip(new_root, data.draw(st.integers(0, 255), label="new bit")))
    assert rejected(old_root=EMPTY_ROOT)
    assert rejected(new_root=EMPTY_ROOT)
    # Size 0, and time travel, are always refused.
    assert rejected(m=0)
    assert rejected(m=0, n=0, old_root=EMPTY_ROOT, new_root=EMPTY_ROOT, proof=[])
    assert rejected(m=n + 1)
    # Wrong sizes: as for inclusion, defer to the reference's verdict (and there must be one).
    sizes = {m - 1, m + 1, m ^ 2, data.draw(st.integers(0, n + 2), label="other m")}
    for m2 in sizes - {m}:
        assert rejected(m=m2) is not ref_consistency_ok(m2, n, old_root, new_root, proof)
    for n2 in {n - 1, n + 1, 2 * n, n // 2, data.draw(st.integers(0, 2 * n + 2))} - {n}:
        assert rejected(n=n2) is not ref_consistency_ok(m, n2, old_root, new_root, proof)


def test_wrong_size_can_legitimately_verify() -> None:
    """Documents why wrong sizes are judged against the reference: roots don't commit to size."""
    leaves = make_leaves(8)
    _, store = build(leaves)
    proof = inclusion_proof(4, 8, getter(store))
    root = root_of_leaves(leaves)
    verify_inclusion(leaves[4], 4, 7, proof, root)  # a 7-leaf tree whose last leaf is MTH(6, 8)
    assert ref_inclusion_ok(leaves[4], 4, 7, proof, root)


# --------------------------------------------------------------------------------------------
# Verifier edge cases and messages
# --------------------------------------------------------------------------------------------


def test_inclusion_edge_cases() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    assert root_from_inclusion_proof(leaf, 0, 1, []) == leaf
    with pytest.raises(ProofError, match="not in a tree of size 0"):
        verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not in a tree"):
        root_from_inclusion_proof(leaf, 1, 1, [])
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes"):
        root_from_inclusion_proof(b"", 0, 1, [])
    with pytest.raises(ProofError, match="root must be 32 bytes"):
        verify_inclusion(leaf, 0, 1, [], b"")
    with pytest.raises(ProofError, match="needs 1 hash"):
        root_from_inclusion_proof(leaf, 0, 2, [])
    with pytest.raises(ProofError, match="proof hash 0 must be 32 bytes"):
        root_from_inclusion_proof(leaf, 0, 2, [b"x"])
    with pytest.raises(ProofError, match="does not lead to the given root"):
        verify_inclusion(leaf, 0, 2, [leaf], EMPTY_ROOT)


def test_consistency_edge_cases() -> None:
    leaves = make_leaves(3)
    r1, r2, r3 = (root_of_leaves(leaves[:i]) for i in (1, 2, 3))
    verify_consistency(1, 1, r1, r1, [])
    verify_consistency(1, 2, r1, r2, [leaves[1]])
    verify_consistency(2, 3, r2, r3, [leaves[2]])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 3, EMPTY_ROOT, r3, [])
    with pytest.raises(ProofError, match="smaller"):
        verify_consistency(3, 2, r3, r2, [])
    with pytest.raises(ProofError, match=">= 0"):
        verify_consistency(-1, 2, r1, r2, [])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(2, 2, r1, r2, [])
    with pytest.raises(ProofError, match="want 0"):
        verify_consistency(2, 2, r2, r2, [r2])
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(1, 2, r1, r2, [])
    with pytest.raises(ProofError, match="needs 1 hash"):
        verify_consistency(1, 2, r1, r2, [leaves[1], leaves[1]])
    with pytest.raises(ProofError, match="old root must be 32 bytes"):
        verify_consistency(1, 2, b"short", r2, [leaves[1]])
    with pytest.raises(ProofError, match="hash 0 must be 32 bytes"):
        verify_consistency(1, 2, r1, r2, [b"short"])
    with pytest.raises(ProofError, match="new root"):
        verify_consistency(1, 2, r1, r1, [leaves[1]])
    # The old root is only recomputed (and so can only mismatch) when old_size is no power of 2.
    four = make_leaves(4)
    _, store = build(four)
    proof = consistency_proof(3, 4, getter(store))
    verify_consistency(3, 4, r3, root_of_leaves(four), proof)
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(3, 4, r2, root_of_leaves(four), proof)

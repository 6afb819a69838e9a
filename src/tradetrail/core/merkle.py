"""RFC 6962 / RFC 9162 §2.1 Merkle tree: hashing, a compact frontier, proofs and their checks.

Pure: no I/O. Interior hashes are fetched through a ``get_node(height, index)`` callback so the
same code serves an in-memory dict, hash tiles on disk or a database. ``(height, index)`` names
the perfect subtree covering leaves ``[index * 2**height, (index + 1) * 2**height)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from tradetrail.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_from_inclusion_proof",
    "root_of_leaves",
    "subtree_decomposition",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in a SHA-256 digest; every leaf, node, root and proof hash has this length."""

_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH({}) per RFC 6962: the hash of the empty string, the root of a tree of size 0."""

_NodeGetter = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf with the 0x00 domain prefix, so a leaf can never pass for an interior node."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children with the 0x01 domain prefix (second-preimage resistance)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2): where RFC 6962 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, straight from the RFC's recursion: the reference others must match."""

    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaf_hashes[lo]
        mid = lo + _split(hi - lo)
        return node_hash(mth(lo, mid), mth(mid, hi))

    if not leaf_hashes:
        return EMPTY_ROOT
    return mth(0, len(leaf_hashes))


def _check_hash(value: bytes, what: str) -> None:
    """Refuse anything that is not a SHA-256 digest, naming which input was wrong."""
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


class Frontier:
    """Compact range [0, size): the roots of the perfect subtrees, left (highest) to right (lowest).

    This is all a log writer must keep in memory to extend the tree and compute its root.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        """Restore a frontier; one node per set bit of ``size``, each a 32-byte hash."""
        self.restore(size, nodes)

    def restore(self, size: int, nodes: Sequence[bytes]) -> None:
        """Take the state (size, nodes highest first) computed elsewhere, e.g. by the compiled
        writer loop that extends the tree a whole batch at a time; checked as in __init__."""
        if size < 0:
            raise ValueError(f"frontier size must be >= 0, got {size}")
        want = size.bit_count()
        if len(nodes) != want:
            raise ValueError(f"a frontier of size {size} has {want} node(s), got {len(nodes)}")
        copied = [bytes(n) for n in nodes]
        for i, n in enumerate(copied):
            if len(n) != HASH_SIZE:
                raise ValueError(f"frontier node {i} must be {HASH_SIZE} bytes, got {len(n)}")
        self._size = size
        self._nodes = copied

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """The subtree roots, highest first (a copy: callers cannot corrupt the frontier)."""
        return tuple(self._nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash. Returns every node completed by this append as
        (height, index, hash): always (0, size_before, leaf) first, then each interior node
        created by carrying, in increasing height. (height h, index i) is the perfect subtree
        covering leaves [i*2**h, (i+1)*2**h).

        The caller persists these (e.g. into tiles) so proofs can be served later.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        index = self._size
        created = [(0, index, leaf)]
        nodes = self._nodes
        height = 0
        h = leaf
        # Each trailing 1 bit of the old size is a complete left sibling to merge with.
        while index & 1:
            h = _sha256(b"\x01" + nodes.pop() + h).digest()
            height += 1
            index >>= 1
            created.append((height, index, h))
        nodes.append(h)
        self._size += 1
        return created

    def root(self) -> bytes:
        """MTH of the leaves so far: the subtree roots folded right to left."""
        nodes = self._nodes
        if not nodes:
            return EMPTY_ROOT
        h = nodes[-1]
        for i in range(len(nodes) - 2, -1, -1):
            h = _sha256(b"\x01" + nodes[i] + h).digest()
        return h

    def copy(self) -> Frontier:
        """An independent frontier, e.g. to compute a root without disturbing the writer's."""
        other = Frontier.__new__(Frontier)
        other._size = self._size
        other._nodes = list(self._nodes)
        return other

    def __repr__(self) -> str:
        return f"Frontier(size={self._size})"


def subtree_decomposition(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as perfect subtrees (height, index), left to right, largest first, as RFC
    6962's MTH splits it.

    Requires start to be a multiple of the largest power of two < (end-start) (true for every
    range a proof needs); raise ValueError otherwise. An aligned power-of-two range is one subtree.
    """
    if start < 0 or end < start:
        raise ValueError(f"bad range [{start}, {end})")
    n = end - start
    if n == 0:
        return []
    if n & (n - 1) == 0 and start % n == 0:
        height = n.bit_length() - 1
        return [(height, start >> height)]
    k = _split(n)
    if start % k:
        raise ValueError(
            f"range [{start}, {end}) is not a Merkle subrange: start must be a multiple of {k}"
        )
    height = k.bit_length() - 1
    out = [(height, start >> height)]
    # The rest, [start + k, end), is at most k long and aligned to k: its binary expansion.
    pos = start + k
    rest = n - k
    while rest:
        height = rest.bit_length() - 1
        out.append((height, pos >> height))
        pos += 1 << height
        rest -= 1 << height
    return out


def range_hash(start: int, end: int, get_node: _NodeGetter) -> bytes:
    """MTH(D[start:end]) from perfect-subtree hashes fetched by get_node(height, index).

    MTH of such a range is the right fold of its decomposition: one fetch per subtree.
    """
    parts = subtree_decomposition(start, end)
    if not parts:
        return EMPTY_ROOT
    h = get_node(*parts[-1])
    for i in range(len(parts) - 2, -1, -1):
        h = node_hash(get_node(*parts[i]), h)
    return h


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [a, b) whose MTH make up the RFC 9162 inclusion proof PATH(index,
    D[0:size]), in proof order (bottom up). ValueError if not 0 <= index < size.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Same for the RFC 9162 consistency proof PROOF(old_size, D[0:new_size]) in proof order.
    0 < old_size <= new_size; old_size == new_size gives []. ValueError otherwise.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    whole = True  # SUBPROOF's flag: is [lo, hi) still the left edge holding the whole old tree?
    while old_size != hi:
        mid = lo + _split(hi - lo)
        if old_size <= mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def inclusion_proof(index: int, size: int, get_node: _NodeGetter) -> list[bytes]:
    """PATH(index, D[0:size]) as hashes, bottom up."""
    return [range_hash(a, b, get_node) for a, b in inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, get_node: _NodeGetter) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) as hashes, in RFC 9162 order."""
    return [range_hash(a, b, get_node) for a, b in consistency_ranges(old_size, new_size)]


def _inclusion_length(index: int, size: int) -> int:
    """Exact length of a valid inclusion proof (inner path below the split, then the border)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4); ProofError on a bad
    shape: index outside the tree, a hash that is not 32 bytes, or the wrong number of hashes.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} needs {want} hash(es), got {len(proof)}"
        )
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash {i}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is entry ``index`` of the tree (``size``, ``root``); else ProofError."""
    _check_hash(root, "root")
    calculated = root_from_inclusion_proof(leaf, index, size, proof)
    if calculated != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of tree size {size} does not lead to the given root"
            f" (calculated {calculated.hex()}, expected {root.hex()})"
        )


def _consistency_length(old_size: int, new_size: int) -> int:
    """Exact length of a valid consistency proof for 0 < old_size < new_size."""
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1
    seed = 0 if old_size == 1 << shift else 1
    return seed + inner - shift + border


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` extends the one of ``old_size`` (RFC 9162 §2.1.4.2);
    ProofError otherwise.

    As in transparency-dev/merkle: a proof from size 0 is refused (it proves nothing), and equal
    sizes need an empty proof and identical roots.
    """
    if old_size < 0 or new_size < 0:
        raise ProofError(f"tree sizes must be >= 0, got {old_size} and {new_size}")
    if new_size < old_size:
        raise ProofError(f"new size {new_size} is smaller than old size {old_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if old_size == new_size:
        if proof:
            raise ProofError(
                f"sizes are equal ({old_size}) but the proof has {len(proof)} hash(es), want 0"
            )
        if old_root != new_root:
            raise ProofError(f"sizes are equal ({old_size}) but the roots differ")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    want = _consistency_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} needs {want} hash(es),"
            f" got {len(proof)}"
        )
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof hash {i}")

    path: Sequence[bytes] = proof
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is the seed
        path = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} does not match the old root"
            f" (calculated {fr.hex()}, expected {old_root.hex()})"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} does not match the new root"
            f" (calculated {sr.hex()}, expected {new_root.hex()})"
        )

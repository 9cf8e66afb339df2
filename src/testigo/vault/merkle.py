"""The ledger's Merkle tree, exactly as RFC 9162 (Certificate Transparency v2) §2.1 defines it.

Hashing::

    MTH({})    = SHA-256()
    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)

Storage model. The caller keeps the hash of every *complete, aligned* subtree: node
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the
leaf hashes. Nodes are written once, when the subtree they cover becomes complete (see
:meth:`Frontier.append`), and never change. Any tree head or proof for a size the store has
reached is assembled from those nodes: a subtree on the right edge of a tree that is not yet
complete is the right-to-left fold of the complete aligned subtrees that tile it.

Reads go through a :data:`NodeReader`, a batched getter, so that a database can answer every
node a proof needs in one query. Each function here makes a single call to it.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. They never raise on malformed
input: anything that is not a valid proof yields ``False``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from testigo.errors import IntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "MemoryNodeStore",
    "NodeKey",
    "NodeReader",
    "StoredNode",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "range_root",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH({}): the root of the tree with no leaves."""

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete aligned subtree."""

StoredNode = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete aligned subtree, as the caller must store it."""

NodeReader = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]
"""Batched getter: given ``(level, index)`` keys, return their hashes in the same order."""

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash of ``entry``: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``), RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeKey]:
    """Return the complete aligned subtrees that tile leaves ``[start, end)``, left to right.

    The range must be one whose MTH the stored nodes determine: non-empty, with ``start`` a
    multiple of the largest power of two not above ``end - start``. Every subtree that appears
    in an RFC 9162 tree head or proof has this shape. Folding the hashes of the returned nodes
    right to left (``h = node_hash(left, h)``) gives MTH(D[start:end]).
    """
    if start < 0 or end <= start:
        raise ValueError(f"invalid leaf range [{start}, {end}): it must be non-empty")
    width = end - start
    top = width.bit_length() - 1
    if start & ((1 << top) - 1):
        raise ValueError(
            f"leaf range [{start}, {end}) is not a subtree of an RFC 9162 tree: its start "
            f"must be a multiple of {1 << top}"
        )
    keys: list[NodeKey] = []
    pos = start
    for level in range(top, -1, -1):
        if width >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


def _fetch(get_nodes: NodeReader, keys: Sequence[NodeKey]) -> Sequence[bytes]:
    """Read ``keys`` in one batch and check that the answer has the right shape."""
    if not keys:
        return []
    hashes = get_nodes(keys)
    if len(hashes) != len(keys):
        raise IntegrityError(
            f"the ledger store returned {len(hashes)} node hashes for {len(keys)} requested nodes"
        )
    for key, value in zip(keys, hashes, strict=True):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise IntegrityError(
                f"the ledger store holds a malformed hash for node (level {key[0]}, "
                f"index {key[1]}): expected {HASH_SIZE} bytes"
            )
    return hashes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold the tiles of a range right to left into the range's MTH."""
    acc = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        acc = node_hash(hashes[i], acc)
    return acc


def _ranges_roots(ranges: Sequence[tuple[int, int]], get_nodes: NodeReader) -> list[bytes]:
    """MTH of each range, reading every tile of every range in a single batch."""
    plans = [range_nodes(start, end) for start, end in ranges]
    flat = [key for plan in plans for key in plan]
    hashes = _fetch(get_nodes, flat)
    out: list[bytes] = []
    pos = 0
    for plan in plans:
        count = len(plan)
        out.append(_fold(hashes[pos : pos + count]) if count > 1 else hashes[pos])
        pos += count
    return out


def range_root(start: int, end: int, get_nodes: NodeReader) -> bytes:
    """MTH(D[start:end]) from stored nodes, with one call of ``get_nodes``.

    The range must have the shape described in :func:`range_nodes` (every subtree of an RFC 9162
    tree does); its right edge may be incomplete.
    """
    return _ranges_roots([(start, end)], get_nodes)[0]


def tree_root(size: int, get_nodes: NodeReader) -> bytes:
    """The root hash MTH(D[0:size]) of the tree with ``size`` leaves."""
    if size < 0:
        raise ValueError(f"tree size must be non-negative, got {size}")
    if size == 0:
        return EMPTY_ROOT
    return range_root(0, size, get_nodes)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]), in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, get_nodes: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, from the leaf's sibling up to the root.

    One call of ``get_nodes``. The store must hold at least ``size`` leaves.
    """
    if size < 0 or not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _ranges_roots(_inclusion_ranges(index, size), get_nodes)


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(old_size, D[0:new_size]), in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    complete_so_far = True  # SUBPROOF's flag b: are we still on the old tree's own root?
    while old_size != hi:
        mid = lo + _split(hi - lo)
        if old_size <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            complete_so_far = False
    if not complete_so_far:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(old_size: int, new_size: int, get_nodes: NodeReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1.

    Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing needs proving). One call of
    ``get_nodes``. The store must hold at least ``new_size`` leaves.
    """
    if old_size < 0 or new_size < old_size:
        raise ValueError(
            f"no consistency proof from size {old_size} to size {new_size}: "
            "sizes must satisfy 0 <= old size <= new size"
        )
    if old_size == 0 or old_size == new_size:
        return []
    return _ranges_roots(_consistency_ranges(old_size, new_size), get_nodes)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof as RFC 9162 §2.1.3.2 prescribes. Never raises."""
    try:
        if not (_is_size(index) and _is_size(size) and _is_hash(leaf_hash) and _is_hash(root)):
            return False
        if isinstance(proof, (str, bytes)):
            return False
        path = list(proof)
        if not all(_is_hash(p) for p in path):
            return False
        # Step 1.
        if index >= size:
            return False
        # Steps 2 and 3.
        fn, sn = index, size - 1
        r = leaf_hash
        # Step 4.
        for p in path:
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
            else:
                r = node_hash(r, p)
            fn >>= 1
            sn >>= 1
        # Step 5.
        return sn == 0 and r == root
    except Exception:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof as RFC 9162 §2.1.4.2 prescribes. Never raises.

    Besides the RFC's algorithm for ``0 < old_size < new_size``:

    - ``old_size == new_size``: the proof must be empty and the two roots equal;
    - ``old_size == 0``: the proof must be empty and ``old_root`` the empty tree's root (every
      tree extends the empty one).
    """
    try:
        if not (_is_size(old_size) and _is_size(new_size)):
            return False
        if not (_is_hash(old_root) and _is_hash(new_root)):
            return False
        if isinstance(proof, (str, bytes)):
            return False
        path = list(proof)
        if not all(_is_hash(p) for p in path):
            return False
        if new_size < old_size:
            return False
        if old_size == new_size:
            return not path and old_root == new_root
        if old_size == 0:
            return not path and old_root == EMPTY_ROOT
        # Step 1.
        if not path:
            return False
        # Step 2.
        if old_size & (old_size - 1) == 0:
            path.insert(0, old_root)
        # Step 3.
        fn, sn = old_size - 1, new_size - 1
        # Step 4.
        while fn & 1:
            fn >>= 1
            sn >>= 1
        # Step 5.
        fr = sr = path[0]
        # Step 6.
        for c in path[1:]:
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                fr = node_hash(c, fr)
                sr = node_hash(c, sr)
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
            else:
                sr = node_hash(sr, c)
            fn >>= 1
            sn >>= 1
        # Step 7.
        return fr == old_root and sr == new_root and sn == 0
    except Exception:
        return False


class Frontier:
    """The compact range of a tree's right edge: the roots of the complete aligned subtrees that
    tile ``[0, size)``, one per set bit of ``size``, largest first.

    It is all a writer needs to append leaves and compute tree heads without reading the store:
    appending ``N`` leaves costs at most ``2N`` hash operations in total.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_size(cls, size: int, get_nodes: NodeReader) -> Frontier:
        """Restore the frontier of a stored tree of ``size`` leaves (one ``get_nodes`` call)."""
        if size < 0:
            raise ValueError(f"tree size must be non-negative, got {size}")
        frontier = cls()
        if size:
            frontier._hashes = list(_fetch(get_nodes, range_nodes(0, size)))
        frontier._size = size
        return frontier

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def nodes(self) -> list[StoredNode]:
        """The frontier's subtrees as ``(level, index, hash)``, largest first."""
        if not self._size:
            return []
        keys = range_nodes(0, self._size)
        return [(lvl, idx, h) for (lvl, idx), h in zip(keys, self._hashes, strict=True)]

    def append(self, leaf_hash: bytes) -> list[StoredNode]:
        """Append one leaf hash; return the nodes completed by it, which the caller must store.

        The list starts with the leaf itself at level 0, followed by every higher subtree the
        leaf completes, bottom up.
        """
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        index = self._size
        completed: list[StoredNode] = [(0, index, leaf_hash)]
        h = leaf_hash
        level = 0
        while index & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            index >>= 1
            completed.append((level, index, h))
        self._hashes.append(h)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[StoredNode]:
        """Append several leaf hashes; return every node they complete, in append order."""
        out: list[StoredNode] = []
        for h in leaf_hashes:
            out.extend(self.append(h))
        return out

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        return _fold(self._hashes)

    def copy(self) -> Frontier:
        """An independent frontier at the same size."""
        other = Frontier()
        other._size = self._size
        other._hashes = list(self._hashes)
        return other

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"


class MemoryNodeStore:
    """Node hashes in a dict keyed by ``(level, index)``: for tests, benchmarks and verifiers that
    recompute a whole tree in memory. Nodes are write-once, as in the ledger."""

    __slots__ = ("_frontier", "_nodes")

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._frontier = Frontier()

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MemoryNodeStore:
        """Build the store of a whole tree from its leaf hashes, in order."""
        store = cls()
        for h in leaf_hashes:
            store.append(h)
        return store

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> MemoryNodeStore:
        """Build the store of a whole tree from its raw entries, in order."""
        return cls.from_leaf_hashes(leaf_hash(e) for e in entries)

    @property
    def size(self) -> int:
        """Number of leaves appended through :meth:`append`."""
        return self._frontier.size

    def root(self) -> bytes:
        """Root of the tree of every leaf appended through :meth:`append`."""
        return self._frontier.root()

    def append(self, leaf_hash: bytes) -> list[StoredNode]:
        """Append a leaf hash and store the nodes it completes; return them."""
        completed = self._frontier.append(leaf_hash)
        self.put(completed)
        return completed

    def put(self, nodes: Iterable[StoredNode]) -> None:
        """Store nodes; storing a node again with a different hash is an integrity error."""
        store = self._nodes
        for level, index, value in nodes:
            key = (level, index)
            old = store.setdefault(key, value)
            if old != value:
                raise IntegrityError(
                    f"node (level {level}, index {index}) is already stored with another hash"
                )

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """The :data:`NodeReader` of this store."""
        store = self._nodes
        try:
            return [store[key] for key in keys]
        except KeyError as exc:
            level, index = exc.args[0]
            raise IntegrityError(
                f"node (level {level}, index {index}) is missing from the ledger store"
            ) from None

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[NodeKey]:
        return iter(self._nodes)

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

"""The RFC 9162 Merkle tree against recursive reference definitions and the CT test vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache, lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testigo.errors import IntegrityError
from testigo.vault import merkle
from testigo.vault.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    range_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# --- Reference definitions, transcribed from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 ----------


def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over raw entries."""
    n = len(d)
    if n == 0:
        return ref_hash(b"")
    if n == 1:
        return ref_hash(b"\x00" + d[0])
    k = ref_k(n)
    return ref_hash(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n."""
    return ref_subproof(m, d, True)


# --- Shared trees -----------------------------------------------------------------------------

MAX_SIZE = 300
ENTRIES: list[bytes] = [f"entry {i}".encode() * (i % 3 + 1) for i in range(MAX_SIZE)]


@lru_cache(maxsize=1)
def big_store() -> MemoryNodeStore:
    return MemoryNodeStore.from_entries(ENTRIES)


@cache
def ref_root(size: int) -> bytes:
    return ref_mth(ENTRIES[:size])


class CountingReader:
    """Wraps a store's reader and counts batched calls."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.calls = 0

    def __call__(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls += 1
        return self.store.get_nodes(keys)


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


# --- The RFC 6962 / RFC 9162 reference test vectors (certificate-transparency merkle tests) ----

CT_ENTRIES = [
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
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def ct_store() -> MemoryNodeStore:
    return MemoryNodeStore.from_entries(CT_ENTRIES)


def test_ct_roots(ct_store: MemoryNodeStore) -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for size in range(len(CT_ENTRIES) + 1):
        assert tree_root(size, ct_store.get_nodes).hex() == CT_ROOTS[size]
        assert ref_mth(CT_ENTRIES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion(ct_store: MemoryNodeStore, index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, size, ct_store.get_nodes)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(index, size, leaf_hash(CT_ENTRIES[index]), proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_ct_consistency(ct_store: MemoryNodeStore, old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, new, ct_store.get_nodes)
    assert [p.hex() for p in proof] == path
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


# --- Hash primitives ----------------------------------------------------------------------------


def test_hash_primitives() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)


# --- Roots and proofs against the recursive definitions ---------------------------------------


def test_every_root_up_to_max_size() -> None:
    store = big_store()
    frontier = Frontier()
    for size in range(MAX_SIZE + 1):
        expected = ref_root(size)
        assert tree_root(size, store.get_nodes) == expected
        assert frontier.root() == expected
        assert frontier.size == size
        if size < MAX_SIZE:
            frontier.append(leaf_hash(ENTRIES[size]))


@settings(max_examples=300, deadline=None)
@given(size_and_index())
def test_inclusion_proof_matches_path(case: tuple[int, int]) -> None:
    size, index = case
    reader = CountingReader(big_store())
    proof = inclusion_proof(index, size, reader)
    assert proof == ref_path(index, ENTRIES[:size])
    assert reader.calls <= 1
    assert verify_inclusion(index, size, leaf_hash(ENTRIES[index]), proof, ref_root(size))


@settings(max_examples=300, deadline=None)
@given(two_sizes())
def test_consistency_proof_matches_proof(case: tuple[int, int]) -> None:
    old, new = case
    reader = CountingReader(big_store())
    proof = consistency_proof(old, new, reader)
    assert proof == ref_proof(old, ENTRIES[:new])
    assert reader.calls <= 1
    assert verify_consistency(old, new, ref_root(old), ref_root(new), proof)


def test_all_small_proofs_exhaustively() -> None:
    store = big_store()
    for size in range(1, 40):
        root = ref_root(size)
        for index in range(size):
            proof = inclusion_proof(index, size, store.get_nodes)
            assert proof == ref_path(index, ENTRIES[:size])
            assert verify_inclusion(index, size, leaf_hash(ENTRIES[index]), proof, root)
        for old in range(size + 1):
            proof = consistency_proof(old, size, store.get_nodes)
            if old > 0:
                assert proof == ref_proof(old, ENTRIES[:size])
            assert verify_consistency(old, size, ref_root(old), root, proof)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_SIZE - 1), st.data())
def test_range_root_matches_mth_of_the_range(start_seed: int, data: st.DataObject) -> None:
    width = data.draw(st.integers(min_value=1, max_value=MAX_SIZE))
    align = 1 << (width.bit_length() - 1)
    start = start_seed - start_seed % align
    if start + width > MAX_SIZE:
        start = 0
        width = min(width, MAX_SIZE)
    reader = CountingReader(big_store())
    assert range_root(start, start + width, reader) == ref_mth(ENTRIES[start : start + width])
    assert reader.calls == 1


def test_range_nodes_decomposition() -> None:
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert range_nodes(8, 11) == [(1, 4), (0, 10)]
    assert range_nodes(16, 32) == [(4, 1)]
    with pytest.raises(ValueError, match="multiple of 4"):
        range_nodes(2, 7)
    with pytest.raises(ValueError, match="non-empty"):
        range_nodes(3, 3)


def test_proof_argument_errors() -> None:
    store = big_store()
    for index, size in [(5, 5), (-1, 5), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, store.get_nodes)
    for old, new in [(6, 5), (-1, 3)]:
        with pytest.raises(ValueError):
            consistency_proof(old, new, store.get_nodes)
    with pytest.raises(ValueError):
        tree_root(-1, store.get_nodes)
    assert consistency_proof(0, 17, store.get_nodes) == []
    assert consistency_proof(17, 17, store.get_nodes) == []
    assert tree_root(0, store.get_nodes) == EMPTY_ROOT


def test_missing_and_malformed_nodes_are_integrity_errors() -> None:
    store = MemoryNodeStore.from_entries(ENTRIES[:10])
    with pytest.raises(IntegrityError, match="missing"):
        tree_root(11, store.get_nodes)
    with pytest.raises(IntegrityError, match="returned 0 node hashes"):
        tree_root(10, lambda keys: [])
    with pytest.raises(IntegrityError, match="malformed hash"):
        tree_root(10, lambda keys: [b"short"] * len(keys))


def test_store_is_write_once() -> None:
    store = MemoryNodeStore()
    store.put([(0, 0, b"a" * 32)])
    store.put([(0, 0, b"a" * 32)])
    with pytest.raises(IntegrityError, match="another hash"):
        store.put([(0, 0, b"b" * 32)])


# --- Verifiers reject everything that is not the exact proof -----------------------------------


def _flip(proof: list[bytes], i: int, byte: int) -> list[bytes]:
    out = list(proof)
    item = bytearray(out[i])
    item[byte] ^= 0x01
    out[i] = bytes(item)
    return out


@settings(max_examples=200, deadline=None)
@given(size_and_index(), st.data())
def test_inclusion_verifier_rejects_tampering(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    store = big_store()
    proof = inclusion_proof(index, size, store.get_nodes)
    leaf = leaf_hash(ENTRIES[index])
    root = ref_root(size)
    assert verify_inclusion(index, size, leaf, proof, root)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        assert not verify_inclusion(index, size, leaf, _flip(proof, i, byte), root)
        assert not verify_inclusion(index, size, leaf, proof[:-1], root)
        assert not verify_inclusion(index, size, leaf, proof[1:], root)
    assert not verify_inclusion(index, size, leaf, [*proof, b"\x00" * 32], root)
    assert not verify_inclusion(index, size, leaf, [*proof, root], root)
    assert not verify_inclusion(index, size, _flip([leaf], 0, 0)[0], proof, root)
    assert not verify_inclusion(index, size, leaf, proof, _flip([root], 0, 31)[0])
    assert not verify_inclusion(size, size, leaf, proof, root)
    # Another leaf of the same tree: this proof proves nothing about it.
    other = data.draw(st.integers(min_value=0, max_value=size - 1))
    if other != index:
        other_leaf = leaf_hash(ENTRIES[other])
        assert not verify_inclusion(other, size, other_leaf, proof, root)
        assert not verify_inclusion(other, size, leaf, proof, root)
    # The same leaf in a tree of another size: accepted only where the two paths are identical.
    other_size = data.draw(st.integers(min_value=index + 1, max_value=MAX_SIZE))
    if other_size != size:
        same = proof == ref_path(index, ENTRIES[:other_size])
        assert verify_inclusion(index, other_size, leaf, proof, ref_root(other_size)) is same
        if len(ref_path(index, ENTRIES[:other_size])) != len(proof):
            assert not verify_inclusion(index, other_size, leaf, proof, root)


@settings(max_examples=200, deadline=None)
@given(two_sizes(), st.data())
def test_consistency_verifier_rejects_tampering(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    store = big_store()
    proof = consistency_proof(old, new, store.get_nodes)
    old_root, new_root = ref_root(old), ref_root(new)
    assert verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        assert not verify_consistency(old, new, old_root, new_root, _flip(proof, i, byte))
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not verify_consistency(old, new, old_root, new_root, proof[1:])
    assert not verify_consistency(old, new, old_root, new_root, [*proof, b"\x07" * 32])
    assert not verify_consistency(old, new, _flip([old_root], 0, 3)[0], new_root, proof)
    assert not verify_consistency(old, new, old_root, _flip([new_root], 0, 3)[0], proof)
    # Other sizes: accepted only where the reference proof for those sizes is the same one.
    other_old = data.draw(st.integers(min_value=1, max_value=new))
    other_new = data.draw(st.integers(min_value=other_old, max_value=MAX_SIZE))
    if (other_old, other_new) != (old, new):
        expected = ref_proof(other_old, ENTRIES[:other_new])
        accepted = verify_consistency(
            other_old, other_new, ref_root(other_old), ref_root(other_new), proof
        )
        assert accepted is (proof == expected)
        if len(expected) != len(proof):
            assert not verify_consistency(other_old, other_new, old_root, new_root, proof)


def test_consistency_edge_rules() -> None:
    r5, r9 = ref_root(5), ref_root(9)
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, r9, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 9, EMPTY_ROOT, r9, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 9, r5, r9, [])
    assert not verify_consistency(0, 9, EMPTY_ROOT, r9, [r9])
    assert not verify_consistency(9, 5, r9, r5, [])
    assert not verify_consistency(5, 9, r5, r9, [])


MALFORMED: list[object] = [
    None,
    "not a proof",
    b"\x00" * 32,
    [b"short"],
    [None],
    [b"\x00" * 33],
    [bytearray(32)],
    42,
]


@pytest.mark.parametrize("proof", MALFORMED)
def test_verifiers_never_raise_on_malformed_proofs(proof: object) -> None:
    leaf = leaf_hash(ENTRIES[0])
    root = ref_root(4)
    assert verify_inclusion(0, 4, leaf, proof, root) is False  # type: ignore[arg-type]
    assert verify_consistency(2, 4, ref_root(2), root, proof) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args",
    [
        (-1, 4),
        (0, -4),
        (True, 4),
        ("0", 4),
        (0, 2**70),
        (0.0, 4),
    ],
)
def test_verifiers_never_raise_on_bad_numbers(args: tuple[object, object]) -> None:
    index, size = args
    leaf, root = leaf_hash(ENTRIES[0]), ref_root(4)
    assert verify_inclusion(index, size, leaf, [], root) is False  # type: ignore[arg-type]
    assert verify_consistency(index, size, root, root, []) is False  # type: ignore[arg-type]
    assert verify_inclusion(0, 4, b"short", [], root) is False
    assert verify_consistency(2, 4, b"short", root, [root]) is False


def test_huge_sizes_do_not_hang() -> None:
    size = 2**62
    proof = [b"\x11" * 32] * 62
    assert verify_inclusion(size - 1, size, b"\x22" * 32, proof, b"\x33" * 32) is False
    assert verify_consistency(size // 3, size, b"\x22" * 32, b"\x33" * 32, proof) is False


# --- Frontier --------------------------------------------------------------------------------


def test_frontier_append_returns_completed_nodes() -> None:
    frontier = Frontier()
    hashes = [leaf_hash(e) for e in ENTRIES[:8]]
    completed = [frontier.append(h) for h in hashes]
    assert completed[0] == [(0, 0, hashes[0])]
    assert [key[:2] for key in completed[1]] == [(0, 1), (1, 0)]
    assert [key[:2] for key in completed[2]] == [(0, 2)]
    assert [key[:2] for key in completed[7]] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[7][-1][2] == ref_root(8)
    assert [(lvl, idx) for lvl, idx, _ in frontier.nodes()] == [(3, 0)]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_SIZE), st.integers(min_value=0, max_value=40))
def test_frontier_from_size_resumes(size: int, more: int) -> None:
    more = min(more, MAX_SIZE - size)
    reader = CountingReader(big_store())
    frontier = Frontier.from_size(size, reader)
    assert reader.calls == (1 if size else 0)
    assert frontier.size == size
    assert frontier.root() == ref_root(size)
    copy = frontier.copy()
    new_nodes = frontier.extend(leaf_hash(e) for e in ENTRIES[size : size + more])
    assert frontier.root() == ref_root(size + more)
    assert copy.size == size  # the copy is independent
    store = big_store()
    for level, index, value in new_nodes:
        assert store.get_nodes([(level, index)]) == [value]


def test_frontier_nodes_are_exactly_the_complete_subtrees() -> None:
    store = MemoryNodeStore()
    for size in range(1, 70):
        store.append(leaf_hash(ENTRIES[size - 1]))
        expected = {(level, index) for level in range(8) for index in range(size >> level)}
        assert set(store) == expected
        assert store.root() == ref_root(size)
        assert store.size == size


def test_frontier_append_is_amortised_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    frontier = Frontier()
    n = 4096 + 77
    for i in range(n):
        frontier.append(i.to_bytes(32, "big"))
    assert calls < n  # one interior node per leaf, at most


def test_frontier_rejects_bad_leaf() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier().append(b"short")
    with pytest.raises(ValueError):
        Frontier.from_size(-1, big_store().get_nodes)
    assert Frontier().root() == EMPTY_ROOT
    assert "size=0" in repr(Frontier())

"""Benchmark: RFC 9162 proofs served from the level-structured node store.

Builds the store of complete subtrees for N leaves in memory (through ``Frontier.append``, as
the ledger does), then times inclusion and consistency proofs at size N for random arguments.
Baselines measured in the same run:

- *reads*: fetching the same number of nodes from the same dict, one key at a time, which is
  what any proof server must at least do;
- *hashes*: one SHA-256 over 65 bytes per proof element, which is what a verifier must at
  least do.

Run: ``.venv/bin/python bench/merkle_proofs.py [--leaves N] [--samples S]``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from testigo.vault.merkle import (
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _time_us(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1000


def _summary(label: str, samples: Sequence[float]) -> tuple[float, float]:
    median = statistics.median(samples)
    p99 = _percentile(samples, 0.99)
    print(f"{label:<38} median {median:9.2f} us   p99 {p99:9.2f} us")
    return median, p99


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size (default 1e6)")
    parser.add_argument("--samples", type=int, default=2000, help="proofs timed per kind")
    parser.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args(argv)
    n: int = args.leaves
    if n < 2:
        parser.error("--leaves must be at least 2")
    rng = random.Random(args.seed)

    print(f"Merkle proofs over {n:,} leaves, {args.samples:,} samples each")
    start = time.perf_counter()
    store = MemoryNodeStore()
    append = store.append
    for i in range(n):
        append(leaf_hash(i.to_bytes(8, "big")))
    build_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":
        rss_mb /= 1024
    print(
        f"build: {build_s:.2f} s ({build_s / n * 1e6:.2f} us/leaf), {len(store):,} nodes, "
        f"peak RSS {rss_mb:.0f} MB"
    )
    # Move the store's millions of objects out of the collector's way: a full collection over
    # them would otherwise land inside some timed proofs.
    gc.collect()
    gc.freeze()
    get = store.get_nodes
    root = tree_root(n, get)
    assert root == store.root()

    # Proofs and their baselines are timed in alternation, so that both see the same machine
    # (caches, other processes); their ratio is the figure that carries over between machines.
    nodes = store._nodes  # the dict itself, without the reader's checks
    depth = n.bit_length()
    block = b"\x01" + b"\xab" * 64
    sha = hashlib.sha256

    def hash_chain() -> None:
        for _ in range(depth):
            sha(block).digest()

    incl: list[float] = []
    cons: list[float] = []
    ver: list[float] = []
    reads: list[float] = []
    hashes: list[float] = []
    incl_lens: list[int] = []
    cons_lens: list[int] = []
    for sample in range(args.samples):
        index = rng.randrange(n)
        t0 = time.perf_counter_ns()
        proof = inclusion_proof(index, n, get)
        incl.append((time.perf_counter_ns() - t0) / 1000)
        incl_lens.append(len(proof))

        keys = [(0, rng.randrange(n)) for _ in range(len(proof))]
        reads.append(_time_us(lambda: [nodes[k] for k in keys]))  # noqa: B023

        old = rng.randrange(1, n)
        t0 = time.perf_counter_ns()
        cproof = consistency_proof(old, n, get)
        cons.append((time.perf_counter_ns() - t0) / 1000)
        cons_lens.append(len(cproof))

        leaf = get([(0, index)])[0]
        ver.append(_time_us(lambda: verify_inclusion(index, n, leaf, proof, root)))  # noqa: B023
        hashes.append(_time_us(hash_chain))

        if sample < 20:  # the timed proofs are correct
            assert verify_inclusion(index, n, leaf, proof, root)
            assert verify_consistency(old, n, tree_root(old, get), root, cproof)
    incl_len = statistics.mean(incl_lens)
    cons_len = statistics.mean(cons_lens)

    print()
    incl_med, incl_p99 = _summary(f"inclusion proof (avg {incl_len:.1f} hashes)", incl)
    cons_med, cons_p99 = _summary(f"consistency proof (avg {cons_len:.1f} hashes)", cons)
    ver_med, _ = _summary("verify inclusion", ver)
    read_med, read_p99 = _summary(f"baseline: {incl_len:.0f} dict reads", reads)
    hash_med, _ = _summary(f"baseline: {depth} SHA-256 (65 B)", hashes)
    print()
    print(f"ratio inclusion proof / dict reads:   {incl_med / read_med:6.1f}x")
    print(f"ratio consistency proof / dict reads: {cons_med / read_med:6.1f}x")
    print(f"ratio p99 inclusion / p99 dict reads: {incl_p99 / read_p99:6.1f}x")
    print(f"ratio verify inclusion / SHA-256s:    {ver_med / hash_med:6.1f}x")
    target = "met" if incl_p99 < 1000 and cons_p99 < 1000 else "MISSED"
    print(f"target p99 < 1000 us for both proof kinds: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

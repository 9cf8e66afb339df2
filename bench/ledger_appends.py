"""Ledger append rate (batched and committed one by one) and inclusion proofs at scale.

Baseline, measured in the same run on the same database settings: inserting the same rows into a
plain table with no Merkle tree, so the ratio shows what the tamper-evidence costs.

    .venv/bin/python bench/ledger_appends.py [--entries 1000000] [--single 3000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from _common import bench_vault, median, percentile
from testigo.vault import ledger, merkle


def entry(i: int) -> ledger.NewEntry:
    return ledger.NewEntry(
        "bench.note", "bench", [f"sha256:{i:064x}"], {"i": i, "note": "benchmark entry"}
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--single", type=int, default=3000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(dir=".") as tmp,
        bench_vault(Path(tmp), args.database_url) as vault,
    ):
        # Baseline: the same number of single-row commits into a plain table.
        with vault.engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_plain (seq INTEGER PRIMARY KEY, body BLOB)"))
        body = b'{"bench":"x"}' * 20
        start = time.perf_counter()
        for i in range(args.single):
            with vault.engine.begin() as conn:
                conn.execute(text("INSERT INTO bench_plain VALUES (:s, :b)"), {"s": i, "b": body})
        plain_single = args.single / (time.perf_counter() - start)

        start = time.perf_counter()
        for i in range(args.single):
            with vault.transaction() as session:
                ledger.append_entry(session, entry(i))
        single = args.single / (time.perf_counter() - start)
        print(
            f"committed one by one: {single:,.0f} entries/s "
            f"(plain-table baseline {plain_single:,.0f}/s, ratio {single / plain_single:.2f}; "
            "target >= 2,000/s)"
        )

        start = time.perf_counter()
        with vault.engine.begin() as conn:
            for base in range(0, 200_000, args.batch):
                conn.execute(
                    text("INSERT INTO bench_plain VALUES (:s, :b)"),
                    [{"s": args.single + base + k, "b": body} for k in range(args.batch)],
                )
        plain_batch = 200_000 / (time.perf_counter() - start)

        done = args.single + 1
        start = time.perf_counter()
        while done < args.entries:
            n = min(args.batch, args.entries - done)
            with vault.transaction() as session:
                ledger.append_entries(session, [entry(done + k) for k in range(n)])
            done += n
        batch_rate = (args.entries - args.single - 1) / (time.perf_counter() - start)
        print(
            f"batched ({args.batch}/transaction): {batch_rate:,.0f} entries/s "
            f"(plain-table baseline {plain_batch:,.0f}/s, ratio {batch_rate / plain_batch:.2f}; "
            "target >= 20,000/s)"
        )

        with vault.reading() as session:
            size = ledger.tree_size(session)
            root = ledger.root_at(session, size)
            rng = random.Random(7)
            times: list[float] = []
            lookups: list[float] = []
            for _ in range(500):
                seq = rng.randrange(size)
                t0 = time.perf_counter()
                session.execute(
                    text("SELECT leaf_hash FROM ledger_entries WHERE seq = :s"), {"s": seq}
                ).scalar_one()
                lookups.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                proof = ledger.prove_inclusion(session, seq, size)
                times.append(time.perf_counter() - t0)
                leaf = session.execute(
                    text("SELECT leaf_hash FROM ledger_entries WHERE seq = :s"), {"s": seq}
                ).scalar_one()
                assert merkle.verify_inclusion(seq, size, bytes(leaf), proof, root)
        print(
            f"inclusion proof at {size:,} entries: median {median(times) * 1e3:.3f} ms, "
            f"p99 {percentile(times, 99) * 1e3:.3f} ms (one-row lookup baseline median "
            f"{median(lookups) * 1e3:.3f} ms, ratio {median(times) / median(lookups):.1f}; "
            "target < 1 ms)"
        )


if __name__ == "__main__":
    main()

"""`testigo verify` throughput against `openssl dgst -sha256` over the same stored bytes.

.venv/bin/python bench/verify_throughput.py [--files 4] [--size-mib 512] [--rounds 2]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from _common import bench_vault, make_random_file
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.localstore import LocalBlobStore
from testigo.vault.verify import verify_vault


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp_name, bench_vault(Path(tmp_name)) as vault:
        tmp = Path(tmp_name)
        sources = []
        for i in range(args.files):
            path = tmp / f"src{i}.bin"
            make_random_file(path, args.size_mib * 1024 * 1024 + i)
            sources.append(path)
        report = ingest_paths(vault, sources, Acquired(actor="bench"))
        for path in sources:
            path.unlink()
        store = vault.blobs
        assert isinstance(store, LocalBlobStore)
        blobs = [str(store.path_for(r.sha256)) for r in report.ingested]
        total_mib = sum(r.size for r in report.ingested) / 1024**2
        base_times: list[float] = []
        our_times: list[float] = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(["openssl", "dgst", "-sha256", *blobs], check=True, capture_output=True)
            base_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = verify_vault(vault)
            our_times.append(time.perf_counter() - start)
            assert result.ok, result.problems
        base = min(base_times)
        ours = min(our_times)
        print(f"stored bytes: {total_mib:,.0f} MiB in {args.files} files")
        print(f"openssl dgst -sha256: best {base:.2f}s ({total_mib / base:,.0f} MiB/s)")
        print(f"testigo verify: best {ours:.2f}s ({total_mib / ours:,.0f} MiB/s)")
        print(f"throughput ratio verify/openssl: {base / ours:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()

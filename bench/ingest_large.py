"""Ingest of one large file against `openssl dgst -sha256 FILE` then `dd ... conv=fsync`.

Both sides read the same file from the page cache and write a durable copy to the same disk; the
baseline needs two passes over the file (hash, then copy), ingest hashes while it copies. Ingest
runs in a child process so its peak memory (RSS) is measured on its own.

    .venv/bin/python bench/ingest_large.py [--size-gib 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_settings, make_random_file
from testigo.vault.service import init_vault

CHILD = """
import json, os, resource, sys, time
from pathlib import Path
from testigo.config import Settings
from testigo.vault.service import open_vault
from testigo.vault.ingest import Acquired, Candidate, ingest_file
settings = Settings(**json.loads(sys.argv[1]))
vault = open_vault(settings)
path = Path(sys.argv[2])
start = time.perf_counter()
result = ingest_file(vault, Candidate(path, path.stat().st_size), Acquired(actor="bench"))
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rss_mib": rss, "sha256": result.sha256}))
"""


def baseline(src: Path, dest: Path) -> tuple[float, str]:
    start = time.perf_counter()
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-r", str(src)], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    subprocess.run(
        ["dd", f"if={src}", f"of={dest}", "bs=1M", "conv=fsync"], check=True, capture_output=True
    )
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed, digest


def ours(settings_json: str, src: Path) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, settings_json, str(src)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = int(args.size_gib * 1024**3)
    with tempfile.TemporaryDirectory(dir=".") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "recording.bin"
        make_random_file(src, size)
        base_times: list[float] = []
        our_times: list[float] = []
        rss: list[float] = []
        for round_ in range(args.rounds):
            base_time, digest = baseline(src, tmp / "copy.bin")
            base_times.append(base_time)
            settings = bench_settings(tmp / f"vault{round_}")
            init_vault(settings)
            settings_json = json.dumps(
                {
                    "home": str(settings.home),
                    "database_url": settings.database_url,
                    "blobs_url": settings.blobs_url,
                    "actor": "bench",
                    "checkpoint_origin": "",
                }
            )
            result = ours(settings_json, src)
            assert result["sha256"] == digest, "ingest and openssl disagree on the digest"
            our_times.append(float(result["seconds"]))
            rss.append(float(result["rss_mib"]))
            subprocess.run(["rm", "-rf", str(settings.home)], check=True)
        best_base = min(base_times)
        best_ours = min(our_times)
        mib = size / 1024**2
        print(f"file: {mib:,.0f} MiB, rounds: {args.rounds}")
        print(
            f"baseline openssl dgst + dd conv=fsync: best {best_base:.2f}s "
            f"({mib / best_base:,.0f} MiB/s), all {[round(t, 2) for t in base_times]}"
        )
        print(
            f"testigo ingest: best {best_ours:.2f}s ({mib / best_ours:,.0f} MiB/s), "
            f"all {[round(t, 2) for t in our_times]}"
        )
        print(f"ratio ingest/baseline: {best_ours / best_base:.2f} (target <= 1.2)")
        print(f"ingest peak RSS: {max(rss):.0f} MiB (target < 100 MiB)")


if __name__ == "__main__":
    main()

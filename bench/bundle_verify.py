"""Bundle verification speed against `openssl dgst -sha256` over the same files.

Exports an incident with large evidence files to a bundle, then times `verify_bundle` (hashes
every file, checks proofs and signatures) against openssl hashing the same payload files.

    .venv/bin/python bench/bundle_verify.py [--files 4] [--size-mib 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from _common import bench_vault, make_random_file
from testigo.records.incidents import create_incident
from testigo.share.bundle import export_incident
from testigo.share.verify_bundle import verify_bundle
from testigo.vault.ingest import Acquired, ingest_paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp_name, bench_vault(Path(tmp_name)) as vault:
        tmp = Path(tmp_name)
        incident = create_incident(vault, "Benchmark incident", actor="bench")
        sources = []
        for i in range(args.files):
            path = tmp / f"recording{i}.mp4"
            make_random_file(path, args.size_mib * 1024 * 1024 + i)
            sources.append(path)
        ingest_paths(vault, sources, Acquired(actor="bench", incident_id=incident.id))
        for path in sources:
            path.unlink()
        bundle = tmp / "bundle"
        export_incident(vault, incident.id, bundle, public=False, actor="bench", report=False)
        files = sorted(str(p) for p in (bundle / "data").rglob("*") if p.is_file())
        total_mib = sum(Path(f).stat().st_size for f in files) / 1024**2
        base_times: list[float] = []
        our_times: list[float] = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(["openssl", "dgst", "-sha256", *files], check=True, capture_output=True)
            base_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            report = verify_bundle(bundle)
            our_times.append(time.perf_counter() - start)
            assert report.ok, [c for c in report.checks if not c.ok]
        base, ours = min(base_times), min(our_times)
        print(f"bundle payload: {total_mib:,.0f} MiB in {len(files)} files")
        print(f"openssl dgst -sha256: best {base:.2f}s ({total_mib / base:,.0f} MiB/s)")
        print(f"testigo verify (bundle): best {ours:.2f}s ({total_mib / ours:,.0f} MiB/s)")
        print(f"throughput ratio verify/openssl: {base / ours:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()

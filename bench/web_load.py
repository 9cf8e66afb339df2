"""Web app load: 10,000 incidents and 100,000 evidence items, served on loopback.

Measures, against baselines taken in the same run:
- p95 latency of the incident list and full-text search (target < 50 ms) and of the incident page
  (target < 100 ms), one request at a time;
- API reads per second with concurrent clients (target >= 300/s), next to a static /healthz;
- upload speed through the resumable API against in-process ingest of the same file (>= 80%).

Seeding writes rows with bulk SQL (the index and full-text rows included) so it takes seconds.
Run: .venv/bin/python bench/web_load.py  [--incidents N] [--items-per-incident K] [--upload-mib M]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from testigo.config import Settings
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import init_vault, open_vault
from testigo.web import accounts

AGENCIES = [
    "U.S. Immigration and Customs Enforcement",
    "U.S. Customs and Border Protection",
    "Kansas City Police Department",
    "Los Angeles Police Department",
    "Chicago Police Department",
    "Cook County Sheriff's Office",
]
PLACES = [
    ("Kansas City, Missouri", 39.0997, -94.5786),
    ("Chicago, Illinois", 41.8781, -87.6298),
    ("Los Angeles, California", 34.0522, -118.2437),
    ("Houston, Texas", 29.7604, -95.3698),
    ("Tucson, Arizona", 32.2226, -110.9747),
    ("Charlotte, North Carolina", 35.2271, -80.8431),
]
WORDS = [
    "officers",
    "window",
    "car",
    "family",
    "warrant",
    "video",
    "arrest",
    "detained",
    "street",
    "school",
    "church",
    "court",
    "agents",
    "stopped",
    "handcuffed",
    "children",
    "livestream",
    "raid",
    "workplace",
    "checkpoint",
    "bus",
]


def seed(settings: Settings, incidents: int, per_incident: int) -> None:
    vault = open_vault(settings)
    rng = random.Random(7)
    now = "2026-01-01T00:00:00.000000Z"
    try:
        with vault.transaction() as session:
            conn = session.connection().connection.driver_connection
            assert conn is not None
            cur = conn.cursor()
            first = cur.execute("SELECT COALESCE(MAX(id), 0) FROM incidents").fetchone()[0] + 1
            incident_rows = []
            index_rows = []
            fts_rows = []
            for n in range(incidents):
                iid = first + n
                words = " ".join(rng.choice(WORDS) for _ in range(6))
                place, lat, lon = rng.choice(PLACES)
                agencies = rng.sample(AGENCIES, 2)
                day = f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                title = f"Incident {iid}: {words}"
                summary = f"Summary of incident {iid} in {place}: {words} {words}"
                force = rng.random() < 0.3
                video = rng.random() < 0.4
                incident_rows.append(
                    (iid, title, now, "bench", summary, day, "reported", "public", place, now)
                )
                index_rows.append(
                    (
                        iid,
                        title,
                        summary,
                        "reported",
                        day,
                        "|" + "|".join(agencies) + "|",
                        f"|{place}|",
                        place,
                        lat,
                        lon,
                        video,
                        True if force else None,
                        per_incident,
                        0,
                        "9999",
                    )
                )
                fts_rows.append((iid, title, f"{summary} {' '.join(agencies)} {place}"))
            cur.executemany(
                "INSERT INTO incidents (id, title, created_at, created_by, summary, start_time,"
                " status,"
                " confidentiality, place_label, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                incident_rows,
            )
            cur.executemany(
                "INSERT INTO incident_index (incident_id, title, summary, status, occurred_on,"
                " agencies,"
                " places, place_name, latitude, longitude, has_video, use_of_force, item_count,"
                " source_count, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                index_rows,
            )
            cur.executemany(
                "INSERT INTO incident_fts (rowid, title, body) VALUES (?,?,?)", fts_rows
            )
            item_first = (
                cur.execute("SELECT COALESCE(MAX(id), 0) FROM evidence_items").fetchone()[0] + 1
            )
            items, links, acquisitions = [], [], []
            for n in range(incidents * per_incident):
                item_id = item_first + n
                iid = first + n // per_incident
                digest = hashlib.sha256(f"bench-{item_id}".encode()).hexdigest()
                kind = "video/mp4" if n % 3 == 0 else "image/jpeg"
                items.append((item_id, digest, 1000 + n, kind, "original", "{}", "{}", now, 0))
                links.append((iid, item_id, now))
                acquisitions.append((item_id, f"file-{item_id}", "bench", now, "bench", iid, 0))
            cur.executemany(
                "INSERT INTO evidence_items (id, sha256, size, media_type, kind, flags, details,"
                " created_at, ledger_seq) VALUES (?,?,?,?,?,?,?,?,?)",
                items,
            )
            cur.executemany(
                "INSERT INTO incident_items (incident_id, item_id, added_at) VALUES (?,?,?)", links
            )
            cur.executemany(
                "INSERT INTO acquisitions (item_id, original_name, acquired_by, acquired_at,"
                " method,"
                " incident_id, ledger_seq) VALUES (?,?,?,?,?,?,?)",
                acquisitions,
            )
        with vault.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        vault.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "testigo.web.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            str(workers),
        ],
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * (len(ordered) - 1) + 0.5))]


def latencies(client: httpx.Client, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        start = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return out


async def throughput(
    base: str, headers: dict[str, str], urls: list[str], seconds: float, clients: int
) -> float:
    done = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker(k: int) -> None:
            nonlocal done
            i = k
            while time.perf_counter() < stop:
                response = await client.get(urls[i % len(urls)])
                assert response.status_code == 200
                done += 1
                i += clients

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    return done / elapsed


def wrk_throughput(
    base: str, headers: dict[str, str], urls: list[str], seconds: float, clients: int, work: Path
) -> float | None:
    """Requests per second measured by wrk (C, so the generator does not starve the server)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = work / f"paths-{len(urls)}.lua"
    quoted = ",".join(json.dumps(u) for u in urls)
    header_lines = "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()
    )
    script.write_text(
        header_lines
        + f"local paths = {{{quoted}}}\n"
        + "local i = 0\n"
        + "request = function()\n  i = i % #paths + 1\n"
        + "  return wrk.format('GET', paths[i])\nend\n"
    )
    out = subprocess.run(
        [wrk, "-t2", f"-c{clients}", f"-d{int(seconds)}s", "-s", str(script), base],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"some requests failed: {out}")
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"could not read wrk's output: {out}")


def ingest_speed(settings: Settings, path: Path) -> float:
    """The CLI's ingest path (``ingest_paths``), in this process, in MiB/s."""
    vault = open_vault(settings)
    try:
        start = time.perf_counter()
        ingest_paths(vault, [path], Acquired(actor="bench", method="bench"))
        return path.stat().st_size / (time.perf_counter() - start) / (1 << 20)
    finally:
        vault.dispose()


def upload_speed(base: str, headers: dict[str, str], path: Path, incident_id: int) -> float:
    size = path.stat().st_size
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        start = time.perf_counter()
        created = client.post(
            "/api/v1/uploads", json={"name": path.name, "size": size, "incident_id": incident_id}
        )
        url = created.json()["location"]

        curl = shutil.which("curl")
        if curl is not None:
            # A C client, so the generator does not take the CPU the server needs.
            subprocess.run(
                [
                    curl,
                    "-sS",
                    "-f",
                    "-o",
                    os.devnull,
                    "-X",
                    "PATCH",
                    "-T",
                    str(path),
                    "-H",
                    f"Authorization: {headers['Authorization']}",
                    "-H",
                    "Upload-Offset: 0",
                    "-H",
                    "Content-Type: application/offset+octet-stream",
                    base + url,
                ],
                check=True,
            )
            elapsed = time.perf_counter() - start
            status = client.get(url).json()
            assert status["complete"], status
            return size / elapsed

        def body():  # type: ignore[no-untyped-def]
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    yield block

        response = client.patch(
            url,
            content=body(),
            headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        elapsed = time.perf_counter() - start
    assert response.json()["complete"], response.text
    return size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--items-per-incident", type=int, default=10)
    parser.add_argument("--upload-mib", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="testigo-web-bench-"))
    home = work / "var"
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'testigo.sqlite3'}",
        blobs_url=str(home / "blobs"),
        actor="bench",
        checkpoint_origin="",
    )
    env = {
        **os.environ,
        "TESTIGO_HOME": str(home),
        "TESTIGO_DATABASE_URL": settings.database_url,
        "TESTIGO_BLOBS_URL": settings.blobs_url,
        "TESTIGO_ACTOR": "bench",
    }
    os.environ.update(
        {k: env[k] for k in ("TESTIGO_HOME", "TESTIGO_DATABASE_URL", "TESTIGO_BLOBS_URL")}
    )
    init_vault(settings)
    start = time.perf_counter()
    seed(settings, args.incidents, args.items_per_incident)
    print(
        f"seeded {args.incidents:,} incidents and {args.incidents * args.items_per_incident:,} "
        f"items in {time.perf_counter() - start:.1f} s"
    )
    vault = open_vault(settings)
    user, _ = accounts.create_user(
        vault, "bench", "admin", actor="bench", password="bench-password-1"
    )
    _, token = accounts.create_token(vault, user.id, "bench", actor="bench")
    vault.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(env, port, args.workers)
    results: dict[str, float] = {}
    try:
        rng = random.Random(11)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            latencies(client, ["/healthz"] * 50 + ["/api/v1/incidents"] * 20)  # warm up
            health = latencies(client, ["/healthz"] * 300)
            lists = [
                f"/api/v1/incidents?page={rng.randint(1, 50)}"
                f"&sort={rng.choice(['recent', 'title', 'oldest'])}"
                for _ in range(150)
            ]
            lists += [f"/incidents?page={rng.randint(1, 50)}" for _ in range(50)]
            searches = [
                f"/api/v1/incidents?q={rng.choice(WORDS)}+{rng.choice(WORDS)[:4]}"
                for _ in range(150)
            ]
            searches += [
                f"/api/v1/incidents?agency=Chicago+Police+Department&has_video=true&date_from=2020-01-01&q={rng.choice(WORDS)}"
                for _ in range(50)
            ]
            pages = [f"/incidents/{rng.randint(1, args.incidents)}" for _ in range(100)]
            pages += [f"/api/v1/incidents/{rng.randint(1, args.incidents)}" for _ in range(100)]
            results["healthz_p95_ms"] = p95(health)
            results["list_p95_ms"] = p95(latencies(client, lists))
            results["search_p95_ms"] = p95(latencies(client, searches))
            results["incident_page_p95_ms"] = p95(latencies(client, pages))
        reads = [f"/api/v1/incidents/{rng.randint(1, args.incidents)}" for _ in range(500)]
        reads += [
            f"/api/v1/items/{rng.randint(1, args.incidents * args.items_per_incident)}"
            for _ in range(500)
        ]
        reads += [f"/api/v1/incidents?page={rng.randint(1, 100)}" for _ in range(500)]
        rng.shuffle(reads)
        # Baseline and measurement in alternation, median of the rounds: the machine is shared.
        health_rounds: list[float] = []
        read_rounds: list[float] = []
        for _ in range(args.rounds):
            measured = wrk_throughput(base, headers, ["/healthz"], args.seconds, args.clients, work)
            if measured is not None:
                health_rounds.append(measured)
                read_rounds.append(
                    wrk_throughput(base, headers, reads, args.seconds, args.clients, work) or 0.0
                )
            else:
                health_rounds.append(
                    asyncio.run(throughput(base, headers, ["/healthz"], args.seconds, args.clients))
                )
                read_rounds.append(
                    asyncio.run(throughput(base, headers, reads, args.seconds, args.clients))
                )
        results["healthz_rps"] = statistics.median(health_rounds)
        results["api_read_rps"] = statistics.median(read_rounds)
        upload_rounds: list[float] = []
        ingest_rounds: list[float] = []
        for round_number in range(args.rounds):
            blob = work / f"upload-{round_number}.bin"
            with blob.open("wb") as handle:
                for _ in range(args.upload_mib):
                    handle.write(os.urandom(1 << 20))
            upload_rounds.append(upload_speed(base, headers, blob, 1) / (1 << 20))
            copy = work / f"ingest-{round_number}.bin"
            with copy.open("wb") as handle:
                for _ in range(args.upload_mib):
                    handle.write(os.urandom(1 << 20))
            ingest_rounds.append(ingest_speed(settings, copy))
        results["upload_mib_s"] = statistics.median(upload_rounds)
        results["cli_ingest_mib_s"] = statistics.median(ingest_rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["upload_vs_ingest"] = results["upload_mib_s"] / results["cli_ingest_mib_s"]
    results["api_reads_vs_healthz"] = results["api_read_rps"] / results["healthz_rps"]
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))
    print(
        f"list p95 {results['list_p95_ms']:.1f} ms, search p95 {results['search_p95_ms']:.1f} ms "
        f"(target < 50; /healthz p95 {results['healthz_p95_ms']:.1f} ms)\n"
        f"incident page p95 {results['incident_page_p95_ms']:.1f} ms (target < 100)\n"
        f"API reads {results['api_read_rps']:.0f}/s with {args.clients} clients (target >= 300; "
        f"/healthz {results['healthz_rps']:.0f}/s, ratio {results['api_reads_vs_healthz']:.2f})\n"
        f"upload {results['upload_mib_s']:.0f} MiB/s vs ingest "
        f"{results['cli_ingest_mib_s']:.0f} MiB/s: "
        f"{results['upload_vs_ingest']:.0%} (target >= 80%)"
    )


if __name__ == "__main__":
    main()

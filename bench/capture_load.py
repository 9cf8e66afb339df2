"""Load benchmark for live capture: many phones sending 2-second chunks at once.

Starts the server (uvicorn, a fresh SQLite vault in a temporary folder), opens N capture sessions
and has each send a ~250 KB chunk every 2 seconds for D seconds, concurrently (asyncio + httpx).
Measures the time from sending a chunk to its acknowledgement (which the server gives only once
the chunk is durable and ledgered), then checks the ledger holds every acknowledged chunk and
that signed checkpoints kept coming while the captures were live.

Baseline, measured in the same run with the same clients and cadence: the same PATCH requests to
a server that only reads and discards the body (HTTP and client cost without storage), plus a
plain 250 KB write + fsync to the same disk.

With ``--mirror both`` the real server runs twice, on fresh vaults: with one blob store, then
with ``TESTIGO_BLOBS_MIRROR_URL`` set to a second folder (every chunk written to both before it is
acknowledged); the mirror's cost is printed as the ratio of the two p95 latencies.

    .venv/bin/python bench/capture_load.py [--sessions 50] [--seconds 30] [--chunk-kb 250]
                                           [--mirror off|on|both]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

API = "/api/v1/capture/sessions"


async def discard_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline server: read the whole body, answer a small JSON ack, store nothing."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b'{"id":"x","upload_key":"x"}' if scope["method"] == "POST" else b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 201 if scope["method"] == "POST" else 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    app: str, env: dict[str, str], port: int, app_dir: str | None
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--log-level", "warning", "--no-access-log", "--timeout-keep-alive", "60"]
    if app_dir:
        args += ["--app-dir", app_dir]
    process = subprocess.Popen(args, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except urllib.error.HTTPError:
            return process  # the discard server answers anything
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start")


async def run_load(
    base: str,
    tokens: list[str],
    seconds: float,
    chunk_bytes: int,
    interval: float,
    server_ms: list[float] | None = None,
) -> tuple[list[float], int, int]:
    """Returns the send-to-ack latencies (ms), the chunks acknowledged and the refusals."""
    latencies: list[float] = []
    body_ms: list[float] = []
    refused = 0
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def phone(number: int, token: str) -> None:
            nonlocal refused
            opened = await client.post(API, json={"token": token, "mime_type": "video/webm"})
            data = opened.json()
            sid, key = data["id"], data["upload_key"]
            await asyncio.sleep(interval * number / len(tokens))  # phones start at random moments
            start = time.perf_counter()
            offset = 0
            index = 0
            payload = os.urandom(chunk_bytes)
            while time.perf_counter() - start < seconds:
                due = start + index * interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                chunk = index.to_bytes(8, "big") + payload[8:]
                headers = {
                    "Capture-Key": key,
                    "Chunk-Index": str(index),
                    "Upload-Offset": str(offset),
                    "Chunk-SHA256": hashlib.sha256(chunk).hexdigest(),
                    "Chunk-Duration-Ms": str(int(interval * 1000)),
                    "Content-Type": "application/offset+octet-stream",
                }
                sent = time.perf_counter()
                for attempt in range(5):  # a phone resends when the connection drops
                    try:
                        response = await client.patch(
                            f"{API}/{sid}", content=chunk, headers=headers
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                latencies.append((time.perf_counter() - sent) * 1000)
                timing = response.headers.get("server-timing", "")
                if server_ms is not None and "dur=" in timing:
                    server_ms.append(float(timing.split("dur=")[1].split(",")[0]))
                    body_ms.append(float(timing.split("dur=")[2]))
                if response.status_code != 200:
                    refused += 1
                    return
                offset += chunk_bytes
                index += 1

        await asyncio.gather(*(phone(i, t) for i, t in enumerate(tokens)))
    if body_ms:
        print(
            f"  (reading the body in the server: p50 {pct(body_ms, 50):.1f} ms "
            f"p95 {pct(body_ms, 95):.1f} ms)"
        )
    return latencies, len(latencies) - refused, refused


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsync_baseline(folder: Path, chunk_bytes: int, rounds: int = 50) -> list[float]:
    times = []
    data = os.urandom(chunk_bytes)
    for i in range(rounds):
        path = folder / f"fsync-{i}"
        start = time.perf_counter()
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        times.append((time.perf_counter() - start) * 1000)
        path.unlink()
    return times


def run_testigo(
    root: Path, args: argparse.Namespace, chunk_bytes: int, *, mirror: bool
) -> dict[str, Any]:
    """One run of the real server on a fresh vault (with or without a blob mirror)."""
    from sqlalchemy import func, select

    from testigo.capture import service
    from testigo.capture.models import CaptureChunk
    from testigo.config import Settings
    from testigo.db.models import Checkpoint, LedgerEntry
    from testigo.vault.service import init_vault, open_vault
    from testigo.vault.verify import verify_vault

    home = root / "var"
    mirror_url = str(root / "mirror") if mirror else None
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'testigo.sqlite3'}",
        blobs_url=str(home / "blobs"),
        actor="bench",
        checkpoint_origin="",
        extra={},
        blobs_mirror_url=mirror_url,
    )
    env = {
        "TESTIGO_HOME": str(home),
        "TESTIGO_DATABASE_URL": settings.database_url,
        "TESTIGO_BLOBS_URL": settings.blobs_url,
        "TESTIGO_ACTOR": "bench",
        "TESTIGO_AUTO_ANALYZE": "0",
        "TESTIGO_BLOBS_MIRROR_URL": mirror_url or "",
    }
    os.environ.update(env)
    init_vault(settings)
    vault = open_vault(settings)
    tokens = [service.create_token(vault, actor="bench").token for _ in range(args.sessions)]
    port = free_port()
    server = start_server("testigo.web.asgi:app", env, port, None)
    began = time.time()
    cpu_before = cpu_seconds(server.pid)
    store_ms: list[float] = []
    try:
        lat, acked, refused = asyncio.run(
            run_load(
                f"http://127.0.0.1:{port}",
                tokens,
                args.seconds,
                chunk_bytes,
                args.interval,
                store_ms,
            )
        )
    finally:
        ended = time.time()
        time.sleep(1.0)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        server.terminate()
        server.wait(30)

    with vault.reading() as session:
        chunk_rows = session.scalar(select(func.count()).select_from(CaptureChunk)) or 0
        chunk_entries = (
            session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.entry_type == "capture.chunk")
            )
            or 0
        )
        stamps = [
            time.mktime(time.strptime(c[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            for c in session.scalars(select(Checkpoint.created_at).order_by(Checkpoint.id))
        ]
    during = [s for s in stamps if began - 1 <= s <= ended + 1]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    # With a mirror, blobs are re-hashed in both stores: every acknowledged chunk must be in both.
    report = verify_vault(vault, check_blobs=mirror)
    vault.dispose()
    return {
        "lat": lat,
        "acked": acked,
        "refused": refused,
        "store_ms": store_ms,
        "cpu": server_cpu,
        "chunk_rows": chunk_rows,
        "chunk_entries": chunk_entries,
        "during": during,
        "gaps": gaps,
        "report": report,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--chunk-kb", type=int, default=250)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument(
        "--mirror",
        choices=("off", "on", "both"),
        default="off",
        help="run with a blob mirror (TESTIGO_BLOBS_MIRROR_URL, a second folder); 'both' "
        "measures without and with it and prints the mirror's cost as a ratio",
    )
    args = parser.parse_args()
    chunk_bytes = args.chunk_kb * 1000

    with tempfile.TemporaryDirectory(prefix="testigo-capture-bench-") as tmp:
        print(
            f"{args.sessions} live captures, a {args.chunk_kb} KB chunk every "
            f"{args.interval:g} s each, for {args.seconds:g} s, on loopback"
        )
        fsync_ms = fsync_baseline(Path(tmp), chunk_bytes)

        port = free_port()
        env = {"TESTIGO_HOME": str(Path(tmp) / "unused")}
        baseline_server = start_server(
            "capture_load:discard_app", env, port, str(Path(__file__).parent)
        )
        try:
            base_lat, _, _ = asyncio.run(
                run_load(
                    f"http://127.0.0.1:{port}",
                    ["x"] * args.sessions,
                    args.seconds,
                    chunk_bytes,
                    args.interval,
                )
            )
        finally:
            baseline_server.terminate()
            baseline_server.wait(20)
        base_p95 = pct(base_lat, 95)
        print(
            f"  baseline (read+discard server) p50 {pct(base_lat, 50):7.1f} ms  "
            f"p95 {base_p95:7.1f} ms"
        )
        print(
            f"  baseline (250 KB write+fsync)  p50 {statistics.median(fsync_ms):7.1f} ms  "
            f"p95 {pct(fsync_ms, 95):7.1f} ms"
        )

        modes = {"off": [False], "on": [True], "both": [False, True]}[args.mirror]
        ok = True
        p95s: dict[bool, float] = {}
        for mirror in modes:
            run = run_testigo(
                Path(tmp) / ("mirrored" if mirror else "single"), args, chunk_bytes, mirror=mirror
            )
            lat, acked, store_ms, report = run["lat"], run["acked"], run["store_ms"], run["report"]
            p95 = p95s[mirror] = pct(lat, 95)
            print(f"testigo, {'with a blob mirror' if mirror else 'one blob store'}:")
            print(f"  chunks acknowledged: {acked} ({run['refused']} refused)")
            print(
                f"  send->ack  p50 {pct(lat, 50):7.1f} ms  p95 {p95:7.1f} ms  "
                f"p99 {pct(lat, 99):7.1f} ms  max {max(lat):7.1f} ms"
            )
            print(
                f"  server side (hash, store, ledger, flush) p50 {pct(store_ms, 50):7.1f} ms  "
                f"p95 {pct(store_ms, 95):7.1f} ms"
            )
            print(f"  server CPU per chunk: {run['cpu'] / max(1, acked) * 1000:.1f} ms")
            print(f"  ratio p95 / read+discard p95: {p95 / base_p95:.2f}x")
            kept = run["chunk_entries"] >= acked
            print(
                f"  ledger: {run['chunk_entries']} capture.chunk entries, {run['chunk_rows']} "
                f"chunk rows, {'every acknowledged chunk is there' if kept else 'MISSING'}"
            )
            gaps = run["gaps"]
            print(
                f"  checkpoints during the run: {len(run['during'])}, largest gap "
                f"{max(gaps) if gaps else float('nan'):.1f} s; verifies: {report.ok}"
                + (f" (both stores, {report.mirror_checked} mirror copies)" if mirror else "")
            )
            print(f"  target p95 < 200 ms: {'met' if p95 < 200 else 'NOT met'}")
            ok = ok and kept and report.ok
        if len(p95s) == 2:
            print(
                f"mirror cost: p95 with mirror / p95 without = {p95s[True] / p95s[False]:.2f}x "
                f"({p95s[True]:.1f} vs {p95s[False]:.1f} ms)"
            )
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

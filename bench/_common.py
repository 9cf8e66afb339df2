"""Helpers shared by the benchmarks: timing, peak memory, a throwaway vault."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from testigo.config import Settings
from testigo.vault.service import Vault, init_vault, open_vault


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mib_children() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def peak_rss_mib_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_settings(root: Path, database_url: str | None = None) -> Settings:
    home = root / "var"
    return Settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'testigo.sqlite3'}",
        blobs_url=str(home / "blobs"),
        actor="bench",
        checkpoint_origin="",
    )


@contextmanager
def bench_vault(root: Path, database_url: str | None = None) -> Iterator[Vault]:
    settings = bench_settings(root, database_url)
    os.environ.pop("TESTIGO_LOG_ORIGIN", None)
    init_vault(settings)
    vault = open_vault(settings)
    try:
        yield vault
    finally:
        vault.dispose()


def make_random_file(path: Path, size: int) -> None:
    """Incompressible content, written quickly by rotating one random block."""
    block = os.urandom(4 * 1024 * 1024)
    with path.open("wb") as out:
        written = 0
        i = 0
        while written < size:
            n = min(len(block), size - written)
            rot = (i * 7919) % len(block)
            out.write((block[rot:] + block[:rot])[:n])
            written += n
            i += 1


def ratio_line(name: str, value: float, baseline: float, target: str) -> str:
    ratio = value / baseline
    return f"{name}: {value:.3f}s vs baseline {baseline:.3f}s -> ratio {ratio:.2f} ({target})"

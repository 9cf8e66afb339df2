"""Benchmark: import N articles (default 1,000) into a fresh SQLite vault through the batch path.

Usage::

    python bench/article_import.py              # 1,000 articles, target under 120 s
    python bench/article_import.py --n 200      # a quicker run
    python bench/article_import.py --workers 0  # extraction in the writer process
    python bench/article_import.py --serial     # also time one-by-one `import_article`

The articles are variants of the three fictional test articles in ``tests/records/articles``,
each with its own names, city and date, so most of them make a new incident and pairs join one.
The baseline, measured in the same run on the same texts, is extraction alone (one process); the
ratio shows what storing the original and its text, writing the record and ledgering every row
costs on top. The machine may be shared, so CPU seconds (``time.process_time``, plus the workers'
own CPU for extraction) are printed beside wall seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import bench_vault
from testigo.extract import extract_article
from testigo.records.batch import ArticleInput, import_articles
from testigo.records.importer import import_article

ARTICLES = Path(__file__).resolve().parent.parent / "tests" / "records" / "articles"
GIVEN = ["Tomas", "Ana", "Luis", "Rosa", "Mateo", "Irene", "Pablo", "Nora", "Julio", "Vera"]
SYLLABLES = ["ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "zo",
             "qua", "re"]  # fmt: skip
CITIES = [
    ("Dayton", "Ohio", "DAYTON, Ohio"),
    ("Omaha", "Nebraska", "OMAHA, Neb."),
    ("Fresno", "California", "FRESNO, Calif."),
    ("Raleigh", "North Carolina", "RALEIGH, N.C."),
    ("Boise", "Idaho", "BOISE, Idaho"),
    ("Tucson", "Arizona", "TUCSON, Ariz."),
    ("Denver", "Colorado", "DENVER, Colo."),
    ("Tulsa", "Oklahoma", "TULSA, Okla."),
]


def surname(n: int) -> str:
    """A made-up surname unique to ``n`` (three syllables, base 16)."""
    word = "".join(SYLLABLES[(n >> shift) & 15] for shift in (8, 4, 0))
    return word.capitalize()


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]


def variants(n: int) -> list[bytes]:
    """N articles: two of every three are news or statement about one encounter (they join)."""
    templates = {
        name: (ARTICLES / name).read_text("utf-8")
        for name in ("dayton-news.txt", "dayton-statement.txt", "tucson-news.txt")
    }
    out: list[bytes] = []
    for i in range(n):
        encounter = i // 2 if i % 3 != 2 else 10_000 + i
        name = f"{GIVEN[encounter % len(GIVEN)]} {surname(encounter % 4096)}-"
        name += surname((encounter * 7 + 1000) % 4096)
        city, state, dateline = CITIES[encounter % len(CITIES)]
        month = MONTHS[encounter % len(MONTHS)]
        key = (
            "tucson-news.txt" if i % 3 == 2 else ("dayton-news.txt", "dayton-statement.txt")[i % 2]
        )
        text = templates[key]
        relative = (
            f"{GIVEN[(encounter + 3) % len(GIVEN)]} {surname((encounter * 11 + 2000) % 4096)}"
        )
        text = text.replace("Marisol Ferreira", relative).replace("Elena Bell", relative)
        text = text.replace("Tomas Ferreira-Lund", name).replace("Ferreira-Lund", name.split()[1])
        text = text.replace("Rafael Quintero-Bell", name).replace("Quintero-Bell", name.split()[1])
        text = text.replace("DAYTON, Ohio", dateline).replace("TUCSON, Ariz.", dateline)
        text = text.replace("Dayton, Ohio", f"{city}, {state}").replace("Dayton", city)
        text = text.replace("Tucson", city).replace("March", month).replace("June", month)
        out.append(text.encode("utf-8"))
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial", action="store_true", help="also time import_article alone")
    args = parser.parse_args()
    texts = variants(args.n)
    extract_article(texts[0], filename="warm.txt")  # load vocabularies and the gazetteer once

    wall, cpu = time.perf_counter(), time.process_time()
    for data in texts:
        extract_article(data, filename="a.txt")
    base_wall, base_cpu = time.perf_counter() - wall, time.process_time() - cpu

    with tempfile.TemporaryDirectory() as tmp, bench_vault(Path(tmp)) as vault:
        inputs = [ArticleInput(name=f"article-{i}.txt", data=d) for i, d in enumerate(texts)]
        summary = import_articles(vault, inputs, workers=args.workers, actor="bench")
        vault.checkpoint()
    items = summary.items
    failed = summary.failed
    results = [i.result for i in items if i.result is not None]
    # Extraction CPU of the workers; what the writer extracted itself is in its own CPU time.
    worker_cpu = sum(i.extract_cpu_seconds for i in items if not i.extracted_by_writer)
    worker_cpu = worker_cpu if args.workers > 0 else 0.0
    by_writer = sum(i.extracted_by_writer for i in items)
    total_cpu = summary.cpu_seconds + worker_cpu
    created = sum(r.incident_created for r in results)
    joined = sum(r.joined for r in results)

    print(f"articles: {args.n} ({created} new incidents, {joined} joined an existing one, "
          f"{len(failed)} failed); workers {args.workers}")  # fmt: skip
    print(f"batch import total: wall {summary.seconds:.1f} s (target < 120 s for 1,000), "
          f"CPU {total_cpu:.1f} s (writer {summary.cpu_seconds:.1f} s, "
          f"extraction workers {worker_cpu:.1f} s; writer waited {summary.waited_seconds:.1f} s "
          f"for extractions, extracted {by_writer} articles itself)")  # fmt: skip
    store = [i.store_seconds for i in items if i.ok]
    p95 = sorted(store)[int(0.95 * (len(store) - 1))] if store else 0.0
    extract_median = statistics.median(i.extract_seconds for i in items)
    print(f"per article: {_ms(summary.seconds / args.n)} wall, {_ms(total_cpu / args.n)} CPU "
          f"(throughput); store median {_ms(statistics.median(store))}, p95 {_ms(p95)}; "
          f"extraction median {_ms(extract_median)}")  # fmt: skip
    print(f"baseline (extraction alone, one process): wall {base_wall:.1f} s, "
          f"CPU {base_cpu:.1f} s, {_ms(base_wall / args.n)} wall, "
          f"{_ms(base_cpu / args.n)} CPU per article")  # fmt: skip
    print(f"ratio batch import / extraction: wall {summary.seconds / base_wall:.2f}, "
          f"CPU {total_cpu / base_cpu:.2f}")  # fmt: skip
    if failed:
        print(f"first failure: {failed[0].name}: {failed[0].error}")

    if args.serial:
        with tempfile.TemporaryDirectory() as tmp, bench_vault(Path(tmp)) as vault:
            per_article: list[float] = []
            wall, cpu = time.perf_counter(), time.process_time()
            for i, data in enumerate(texts):
                t0 = time.perf_counter()
                import_article(vault, data, filename=f"article-{i}.txt", actor="bench")
                per_article.append(time.perf_counter() - t0)
            serial_wall, serial_cpu = time.perf_counter() - wall, time.process_time() - cpu
            vault.checkpoint()
        print(f"serial import_article: wall {serial_wall:.1f} s, CPU {serial_cpu:.1f} s; "
              f"median {_ms(statistics.median(per_article))} per article; "
              f"ratio / extraction: wall {serial_wall / base_wall:.2f}, "
              f"CPU {serial_cpu / base_cpu:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

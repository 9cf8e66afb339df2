"""Benchmark: import N articles (default 1,000) into a fresh SQLite vault.

Usage::

    python bench/article_import.py            # 1,000 articles, target under 120 s
    python bench/article_import.py --n 200    # a quicker run

The articles are variants of the three fictional test articles in ``tests/records/articles``,
each with its own names, city and date, so most of them make a new incident and some join one.
The baseline, measured in the same run on the same texts, is extraction alone; the ratio shows
what storing the original and its text, writing the record and ledgering every row costs on top.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    texts = variants(args.n)
    extract_article(texts[0], filename="warm.txt")  # load vocabularies and the gazetteer once

    start = time.perf_counter()
    for data in texts:
        extract_article(data, filename="a.txt")
    baseline = time.perf_counter() - start

    per_article: list[float] = []
    created = joined = 0
    with tempfile.TemporaryDirectory() as tmp, bench_vault(Path(tmp)) as vault:
        start = time.perf_counter()
        for i, data in enumerate(texts):
            t0 = time.perf_counter()
            result = import_article(vault, data, filename=f"article-{i}.txt", actor="bench")
            per_article.append(time.perf_counter() - t0)
            created += result.incident_created
            joined += result.joined
        total = time.perf_counter() - start
        vault.checkpoint()

    print(f"articles: {args.n} ({created} new incidents, {joined} joined an existing one)")
    print(f"import total: {total:.1f} s (target < 120 s for 1,000)")
    p95 = sorted(per_article)[int(0.95 * (len(per_article) - 1))]
    print(f"import per article: median {statistics.median(per_article) * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms")  # fmt: skip
    print(f"baseline (extraction alone): {baseline:.1f} s, "
          f"{baseline / args.n * 1000:.1f} ms per article")  # fmt: skip
    print(f"ratio import / extraction: {total / baseline:.2f}")


if __name__ == "__main__":
    main()

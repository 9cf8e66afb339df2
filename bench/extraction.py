"""Score the article extractor against the hand-made gold records of the corpus.

Usage::

    python bench/extraction.py                 # dev set, table of P/R/F1 by field
    python bench/extraction.py --set all -v    # dev + seed, with per-article misses
    python bench/extraction.py --corpus PATH --json

The corpus defaults to ``../shared/corpus`` next to the repository. Every ``NN-slug.txt`` with a
``NN-slug.gold.json`` beside it is scored.

Matching rules (the same for every article, documented in docs/extraction.md):

* Text is compared after folding: lower case, accents and punctuation removed, spaces collapsed.
* agencies: both sides go through ``normalize_agency`` (the extractor's own vocabulary), so
  "ICE" and "U.S. Immigration and Customs Enforcement (ICE)" are one item; names the vocabulary
  does not know are compared folded.
* people: named people only; a gold and a predicted person match when their surnames match (last
  name without suffixes such as "II"; a compound surname matches either of its parts), one to one.
* quote speakers: only direct and partial quotations count (reported speech is not in the gold).
  A gold quote is found when its first words begin, or are contained in, one part of a predicted
  quotation (a quotation continued after its attribution is one quotation with several parts).
  It counts as correct when the speakers match: both name a person with the same surname, or both
  point to the same agency (from the speaker label or its affiliation: "ICE spokesperson" and
  "unnamed ICE agent" both point to ICE), or both are unidentified. Predicted quotations that
  match no gold quote, or match with the wrong speaker, are false positives.
* location: city, state and country are three items; states compare by postal code, countries
  by ISO code ("USA" = "United States").
* published, incident_date: one item each, exact ISO date.
* use_of_force: one item; true/false must equal the gold value; a value where gold is null is a
  false positive.
* facility: one item; equal after folding, or the same agency through the vocabulary.

A null gold value with a null prediction scores nothing either way; a wrong value is both a
false positive and a false negative.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testigo.extract import extract_article, normalize_agency
from testigo.extract.agency_finder import find_agencies
from testigo.extract.places import city_key, country_code, state_code

FIELDS = (
    "agencies",
    "people",
    "quote_speakers",
    "location",
    "published",
    "incident_date",
    "use_of_force",
    "facility",
)
SUFFIXES = {"ii", "iii", "iv", "jr", "sr"}


def fold(value: str) -> str:
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    value = value.replace("’", "'")
    value = re.sub(r"[^\w\s]", " ", value)
    return re.sub(r"\s+", " ", value).strip()


@dataclass
class Count:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Count) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def agency_key(name: str) -> str:
    agency = normalize_agency(name)
    return agency.key if agency else fold(name)


def score_sets(gold: set[str], pred: set[str]) -> Count:
    return Count(len(gold & pred), len(pred - gold), len(gold - pred))


def surname_tokens(name: str) -> list[str]:
    tokens = [t for t in fold(name).replace("-", " - ").split() if t not in SUFFIXES]
    joined = fold(name).split()
    joined = [t for t in joined if t not in SUFFIXES]
    return [joined[-1]] if joined else tokens[-1:]


def person_match(gold: str, pred: str) -> bool:
    g, p = fold(gold).split(), fold(pred).split()
    g = [t for t in g if t not in SUFFIXES]
    p = [t for t in p if t not in SUFFIXES]
    if not g or not p:
        return False
    if g[-1] == p[-1]:
        return True
    # compound surname: "Garza Ruiz" mentioned as "Garza" (but never a first name alone)
    return (len(g) >= 3 and p[-1] == g[-2]) or (len(p) >= 3 and g[-1] == p[-2])


def one_to_one(
    gold: list[Any], pred: list[Any], match: Any
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    # exact surname matches first, then the looser ones
    for strict in (True, False):
        for gi, g in enumerate(gold):
            if any(gi == a for a, _ in pairs):
                continue
            for pi, p in enumerate(pred):
                if pi in used:
                    continue
                if match(g, p, strict):
                    pairs.append((gi, pi))
                    used.add(pi)
                    break
    g_left = [i for i in range(len(gold)) if all(i != a for a, _ in pairs)]
    p_left = [i for i in range(len(pred)) if i not in used]
    return pairs, g_left, p_left


def score_people(gold: list[dict[str, Any]], pred: list[dict[str, Any]]) -> Count:
    gnames = [g["name"] for g in gold if g.get("name")]
    pnames = [p["name"] for p in pred if p.get("name")]

    def match(g: str, p: str, strict: bool) -> bool:
        if strict:
            return fold(g).split()[-1:] == fold(p).split()[-1:] or fold(g) == fold(p)
        return person_match(g, p)

    pairs, g_left, p_left = one_to_one(gnames, pnames, match)
    return Count(len(pairs), len(p_left), len(g_left))


def speaker_key(speaker: str | None, affiliation: str | None) -> tuple[str, str]:
    """("person", surname) | ("agency", key) | ("unknown", "")."""
    if not speaker:
        return ("unknown", "")
    direct = normalize_agency(speaker)
    if direct is not None:
        return ("agency", direct.key)
    found = find_agencies(speaker)
    generic = re.search(
        r"\b(?:unnamed|unidentified|someone|spokes\w*|officer|agent|official|department|agency|"
        r"police|person|witness|resident)\b",
        speaker,
        re.IGNORECASE,
    )
    if found:
        agency = normalize_agency(found[-1].name)
        if agency is not None:
            return ("agency", agency.key)
    if generic or speaker[:1].islower():
        if (
            affiliation
            and normalize_agency(affiliation) is not None
            and not re.search(
                r"\b(?:unidentified|someone|person|witness|resident)\b", speaker, re.IGNORECASE
            )
        ):
            agency = normalize_agency(affiliation)
            assert agency is not None
            return ("agency", agency.key)
        return ("unknown", "")
    tokens = [t for t in fold(speaker).split() if t not in SUFFIXES]
    return ("person", tokens[-1] if tokens else "")


def speakers_match(g: tuple[str, str], p: tuple[str, str], gold_name: str, pred_name: str) -> bool:
    if g == p:
        return True
    if g[0] == "person" and p[0] == "person":
        return person_match(gold_name, pred_name)
    return False


def quote_text_match(gold_text: str, part: str) -> bool:
    g, p = fold(gold_text), fold(part)
    if not g or not p:
        return False
    return p.startswith(g) or g.startswith(p) or g in p


def score_quotes(gold: list[dict[str, Any]], pred: list[dict[str, Any]]) -> Count:
    direct = [q for q in pred if q.get("kind") in ("direct", "partial")]
    count = Count()
    matched_pred: dict[int, bool] = {}
    for gq in gold:
        hit = None
        for pi, pq in enumerate(direct):
            parts = [part["text"] for part in pq.get("parts") or []] or [pq["text"]]
            if any(quote_text_match(gq["text"], part) for part in parts):
                if pi in matched_pred and matched_pred[pi] and len(parts) == 1:
                    continue
                hit = pi
                break
        if hit is None:
            count.fn += 1
            continue
        pq = direct[hit]
        ok = speakers_match(
            speaker_key(gq.get("speaker"), gq.get("affiliation")),
            speaker_key(pq.get("speaker"), pq.get("affiliation")),
            gq.get("speaker") or "",
            pq.get("speaker") or "",
        )
        if ok:
            count.tp += 1
            matched_pred[hit] = True
        else:
            count.fn += 1
            matched_pred.setdefault(hit, False)
    for pi in range(len(direct)):
        if not matched_pred.get(pi, False):
            count.fp += 1
    return count


def score_value(gold: Any, pred: Any, same: Any) -> Count:
    if gold is None and pred is None:
        return Count()
    if gold is None:
        return Count(fp=1)
    if pred is None:
        return Count(fn=1)
    return Count(tp=1) if same(gold, pred) else Count(fp=1, fn=1)


def score_location(gold: dict[str, Any], pred: dict[str, Any]) -> Count:
    total = Count()
    total.add(
        score_value(gold.get("city"), pred.get("city"), lambda a, b: city_key(a) == city_key(b))
    )
    total.add(
        score_value(
            gold.get("state"),
            pred.get("state"),
            lambda a, b: (state_code(a) or fold(a)) == (state_code(b) or fold(b)),
        )
    )
    total.add(
        score_value(
            gold.get("country"),
            pred.get("country"),
            lambda a, b: (country_code(a) or fold(a)) == (country_code(b) or fold(b)),
        )
    )
    return total


def facility_same(a: str, b: str) -> bool:
    return fold(a) == fold(b) or agency_key(a) == agency_key(b)


def score_article(gold: dict[str, Any], pred: dict[str, Any]) -> dict[str, Count]:
    return {
        "agencies": score_sets(
            {agency_key(a) for a in gold.get("agencies") or []},
            {agency_key(a) for a in pred.get("agencies") or []},
        ),
        "people": score_people(gold.get("people") or [], pred.get("people") or []),
        "quote_speakers": score_quotes(gold.get("quotes") or [], pred.get("quotes") or []),
        "location": score_location(gold.get("location") or {}, pred.get("location") or {}),
        "published": score_value(gold.get("published"), pred.get("published"), lambda a, b: a == b),
        "incident_date": score_value(
            gold.get("incident_date"), pred.get("incident_date"), lambda a, b: a == b
        ),
        "use_of_force": score_value(
            gold.get("use_of_force"), pred.get("use_of_force"), lambda a, b: a == b
        ),
        "facility": score_value(
            gold.get("detention_facility"), pred.get("detention_facility"), facility_same
        ),
    }


def default_corpus() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def articles(corpus: Path, which: str) -> list[Path]:
    if any(corpus.glob("*.gold.json")):  # a flat folder of articles, such as the test fixtures
        return [
            p for p in sorted(corpus.glob("*.txt")) if p.with_name(p.stem + ".gold.json").exists()
        ]
    folders = {"dev": ["dev"], "seed": ["seed"], "all": ["seed", "dev"]}[which]
    out: list[Path] = []
    for folder in folders:
        out.extend(sorted((corpus / folder).glob("*.txt")))
    return [p for p in out if p.with_name(p.stem + ".gold.json").exists()]


def run(corpus: Path, which: str, verbose: bool) -> dict[str, Count]:
    totals = {f: Count() for f in FIELDS}
    for path in articles(corpus, which):
        gold = json.loads(path.with_name(path.stem + ".gold.json").read_text(encoding="utf-8"))
        pred = extract_article(path.read_bytes(), filename=path.name).to_dict()
        scores = score_article(gold, pred)
        for name, count in scores.items():
            totals[name].add(count)
        if verbose:
            bad = {k: (v.tp, v.fp, v.fn) for k, v in scores.items() if v.fp or v.fn}
            print(f"{path.name}: {bad or 'all correct'}", file=sys.stderr)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--set", choices=("dev", "seed", "all"), default="dev")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="per-article misses")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    totals = run(args.corpus, args.set, args.verbose)
    overall = Count()
    for count in totals.values():
        overall.add(count)
    if args.json:
        data = {
            k: {
                "tp": v.tp,
                "fp": v.fp,
                "fn": v.fn,
                "precision": round(v.precision, 3),
                "recall": round(v.recall, 3),
                "f1": round(v.f1, 3),
            }
            for k, v in [*totals.items(), ("overall_micro", overall)]
        }
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'field':<16}{'TP':>5}{'FP':>5}{'FN':>5}{'P':>8}{'R':>8}{'F1':>8}")
    for name, c in [*totals.items(), ("overall (micro)", overall)]:
        print(
            f"{name:<16}{c.tp:>5}{c.fp:>5}{c.fn:>5}{c.precision:>8.3f}{c.recall:>8.3f}{c.f1:>8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Sentence-level findings: events, use of force, injuries, the detention facility, legal history,
the media described, numbers with what they count, and unnamed subjects.

``use_of_force`` follows the corpus rule: ``True`` when physical force is described (alleged or
shown), ``False`` only when the text says explicitly that none was used, otherwise ``None``.
"""

from __future__ import annotations

import re

from testigo.extract.dates import NUMBER_WORDS
from testigo.extract.model import Fact, MediaItem, Mention, NumberMention, Subject
from testigo.extract.text import Document, Occupied, SpanIndex

FORCE = re.compile(
    r"\b(?:(?:broke|break|breaks|breaking|broken|smash(?:ed|es|ing)?|shatter(?:ed|s|ing)?)\s+"
    r"(?:[\w'’]+\s+){0,3}?(?:window|windows|glass|windshield|door|ventanilla|ventana|puerta)|"
    r"(?:window|windshield|glass)\s+(?:was\s+)?(?:broken|smashed|shattered)|smash(?:ed|es|ing)?|dragg?(?:ed|ing|s)?|"
    r"pulled\s+(?:him|her|them|the\s+\w+)\s+out|pulled\s+out\s+of|threw|thrown|throw(?:s|ing)?\s+"
    r"(?:him|her|them)|slamm?(?:ed|ing|s)|pinn?(?:ed|ing)|tackl(?:ed|ing|es)|wrestl(?:ed|ing|es)|"
    r"chok(?:ed|ing|es)|beat(?:en|ing)?|punch(?:ed|ing|es)|kick(?:ed|ing)|shov(?:ed|ing|es)|"
    r"push(?:ed|es|ing)?|tas(?:ed|ered)|stun\s+gun|pepper[\s-]spray(?:ed)?|tear\s+gas|"
    r"shot\s+(?:him|her|them|at)|fired\s+(?:at|shots|his\s+weapon|her\s+weapon)|"
    r"pressed\s+on\s+(?:his|her)\s+neck|chokehold|knelt|force[ds]?\s+(?:him|her|them)\s+(?:down|"
    r"onto|to)|to\s+the\s+ground|onto\s+the\s+(?:ground|pavement)|grappl(?:ed|ing|e)|"
    r"rammed|derrib\w+|al\s+suelo|empuj\w+|a\s+la\s+fuerza|somet(?:ió|ieron)|"
    r"golpe(?:ó|aron|ado)|rompi(?:ó|eron)|arrastr(?:ó|aron)|estrell(?:ó|aron)|"
    r"tir(?:ó|aron)\s+al\s+suelo|forceje(?:ó|aron))\b",
    re.IGNORECASE,
)
NO_FORCE = re.compile(
    r"\b(?:no\s+(?:physical\s+)?force\s+was\s+used|without\s+(?:any\s+)?(?:use\s+of\s+)?force|"
    r"did\s+not\s+use\s+(?:any\s+)?force|no\s+one\s+was\s+(?:hurt|injured)\s+and\s+no\s+force|"
    r"peacefully|without\s+incident|sin\s+(?:uso\s+de\s+)?(?:la\s+)?fuerza|sin\s+incidentes)\b",
    re.IGNORECASE,
)
INJURY = re.compile(
    r"\b(?:injur(?:y|ies|ed)|hurt|cuts?|bruis(?:es|ed|ing)|bleeding|blood(?:ied)?|wounded|"
    r"hospitali[sz]ed|concussion|fractur(?:e|ed)|broken\s+(?:arm|leg|nose|rib|wrist)|"
    r"blacked\s+out|lost\s+consciousness|unconscious|seizure|herid[oa]s?|lesion(?:es|ado)|"
    r"golpes|desmay(?:ó|ado))\b",
    re.IGNORECASE,
)
EVENT = re.compile(
    r"\b(?:approach(?:ed|es)|stopp?(?:ed|s)|pulled\s+over|arrest(?:ed|ing|s)?|detain(?:ed|ing|s)?|"
    r"handcuff(?:ed|ing|s)?|cuffed|took\s+\w+\s+into\s+custody|taken\s+into\s+custody|"
    r"record(?:ed|ing|s)|film(?:ed|ing|s)|stream(?:ed|ing)|released|deported|held|fled|"
    r"boxed\s+in|drove\s+away|left|arrived|came|responded)\b",
    re.IGNORECASE,
)
FACILITY = re.compile(
    r"\b(?:held|detained|jailed|booked|housed|transferred|taken|moved|sent|locked\s+up|"
    r"being\s+held|remains)\b[^.;]{0,40}?\b(?:at|in|into|to|by)\s+(?:the\s+)?"
    r"(?P<name>(?:[A-Z][\w'’.\-]*\s+){0,5}(?:Detention\s+(?:Center|Facility)|Processing\s+Center|"
    r"Correctional\s+(?:Center|Facility)|County\s+Jail|Jail|Sheriff['’]s\s+(?:Department|Office)|"
    r"Service\s+Processing\s+Center|Prison|Penitentiary|Holding\s+Facility|Staging\s+Facility))",
)
LEGAL_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("warrant_administrative", re.compile(r"\b(?:administrative\s+warrant|I-20[05]|warrant\s+(?:signed|issued)\s+by\s+(?:an?\s+)?(?:ICE|immigration)\s+officer)\b", re.I)),  # noqa: E501
    ("warrant_judicial", re.compile(r"\b(?:judicial\s+warrant|warrant\s+signed\s+by\s+a\s+judge|court[- ]issued\s+warrant|orden\s+judicial)\b", re.I)),  # noqa: E501
    ("warrant", re.compile(r"\b(?:warrants?|orden\s+de\s+(?:arresto|detención))\b", re.I)),
    ("detainer", re.compile(r"\b(?:detainers?|I-247[A-Z]?|immigration\s+hold)\b", re.I)),
    ("expedited_removal", re.compile(r"\bexpedited\s+removal\b|\bdeportación\s+expedita\b", re.I)),
    ("reinstatement", re.compile(r"\breinstat(?:e|ed|ement|ing)\b", re.I)),
    ("removal_order", re.compile(r"\b(?:removal\s+order|order(?:ed)?\s+(?:of\s+)?(?:removal|removed|deport(?:ed|ation))|ordered\s+out\s+of\s+the\s+country|final\s+order|orden\s+de\s+deportación)\b", re.I)),  # noqa: E501
    ("proceedings", re.compile(r"\b(?:deportation|removal)\s+proceedings\b|\bproceso\s+de\s+deportación\b", re.I)),  # noqa: E501
    ("bond", re.compile(r"\b(?:bond|bail|fianza)\b", re.I)),
    ("charge", re.compile(r"\b(?:charged\s+with|charges?\b|indicted|accus(?:ed|es)\s+\w+\s+of|acusad[oa])", re.I)),  # noqa: E501
    ("conviction", re.compile(r"\b(?:convict(?:ed|ions?)|criminal\s+record|antecedentes)\b", re.I)),
    ("immigration_status", re.compile(r"\b(?:entered\s+the\s+(?:U\.S\.|country)\s+illegally|crossed\s+into\s+the\s+U\.S\.\s+illegally|illegal\s+(?:re-?)?entry|re-?entering\s+the\s+country|reentered|overstay(?:ed)?|asylum|DACA|green\s+card|visa|U\.S\.\s+citizens?(?:hip)?)\b", re.I)),  # noqa: E501
    ("investigation", re.compile(r"\b(?:internal\s+investigation|investigat(?:ion|ing)|restricted\s+duty|administrative\s+leave|lawsuit|sued|investigación)\b", re.I)),  # noqa: E501
]  # fmt: skip
LEGAL_TRIGGERS: dict[str, tuple[str, ...]] = {
    "warrant_administrative": ("warrant", "i-20"),
    "warrant_judicial": ("warrant", "orden judicial"),
    "warrant": ("warrant", "orden de"),
    "detainer": ("detainer", "i-247", "hold"),
    "expedited_removal": ("expedited", "expedita"),
    "reinstatement": ("reinstat",),
    "removal_order": ("order", "orden"),
    "proceedings": ("proceedings", "proceso"),
    "bond": ("bond", "bail", "fianza"),
    "charge": ("charge", "indicted", "accus", "acusad"),
    "conviction": ("convict", "criminal record", "antecedentes"),
}
PLATFORMS = (
    ("Facebook Live", r"Facebook\s+Live"),
    ("Instagram Live", r"Instagram\s+Live"),
    ("Facebook", r"Facebook"),
    ("Instagram", r"Instagram"),
    ("TikTok", r"TikTok"),
    ("YouTube", r"YouTube"),
    ("X", r"\bX\b(?=,|\s+\(formerly)"),
    ("Twitter", r"Twitter"),
    ("Snapchat", r"Snapchat"),
    ("WhatsApp", r"WhatsApp"),
)
MEDIA = re.compile(
    r"\b(?:(?P<live>live\s*stream(?:ed|ing)?|livestream(?:ed|ing)?|Facebook\s+Live|Instagram\s+Live|"
    r"en\s+vivo)|(?P<video>videos?|footage|recording|clip|grabación|grabó|filmed|video\s+taken)|"
    r"(?P<photo>photos?|photograph|picture|foto(?:grafía)?)|(?P<post>(?:social\s+media\s+)?post(?:ed)?\b(?!\s+office)|"
    r"tweet|publicación))",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"\b(?:(?:more\s+than|over|about|nearly|almost|at\s+least|roughly|around|less\s+than)\s+)?"
    r"(?:\d+|[a-z]+)\s+(?:minutes?|seconds?|hours?)(?:\s+long)?\b",
    re.IGNORECASE,
)
_VIEWS = re.compile(
    r"\b(?:(?:more\s+than|over|about|nearly|almost|close\s+to|at\s+least|roughly|around)\s+)?"
    r"[\d,.]+(?:\s+(?:million|thousand|billion))?\s+(?:\w+\s+)?(?:views|vistas|reproducciones)\b",
    re.IGNORECASE,
)
_QUALIFIER = r"(?:(?:more\s+than|over|about|nearly|almost|close\s+to|at\s+least|roughly|around|up\s+to|less\s+than|más\s+de|casi|unos|unas)\s+)?"  # noqa: E501
_NUMBER_WORD = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens|hundreds|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez"  # noqa: E501
NUMBER = re.compile(
    r"\b"
    + _QUALIFIER
    + r"(?P<num>\d[\d,]*(?:\.\d+)?(?:\s+(?:million|billion|thousand|millones|mil))?|"
    + _NUMBER_WORD
    + r")\b(?:[\s-]+(?P<unit>(?:year|minute|hour|day|week|month)s?[\s-]old|[a-zA-Záéíóúñ]+(?:\s+[a-z]+)?))?",  # noqa: E501
    re.IGNORECASE,
)
_UNIT_SKIP = frozenset(
    ["and", "or", "of", "the", "a", "an", "to", "in", "on", "at", "for", "p", "a.m.", "pm", "am"]
)
SUBJECT = re.compile(
    r"\b(?:(?P<det>his|her|their|the\s+man's|the\s+woman's|sus?)\s+)(?:(?P<count>two|three|four|five|"
    r"\d+|dos|tres|cuatro)\s+)?(?:(?:young|teenage|small|little|adult|pregnant|elderly|"
    r"[0-9]+-year-old)\s+)?(?P<rel>children|kids|sons|daughters|son|daughter|wife|husband|"
    r"father|mother|grandmother|grandfather|brother|sister|partner|girlfriend|boyfriend|child|"
    r"baby|hijos|hijas|hijo|hija|esposa|esposo|padre|madre|abuela|hermano|hermana)\b"
    r"|\b(?:a|an|un|una)\s+(?P<age>\d{1,2})-year-old(?:\s+(?P<noun>[a-z\-]+))?"
    r"|\b(?:un|una)\s+(?P<noun_es>joven|hombre|mujer|niño|niña|adolescente)\s+de\s+(?P<age_es>\d{1,2})\s+años"
    r"|\b(?P<group>(?:several\s+|masked\s+|federal\s+|immigration\s+|plainclothes\s+)*(?:agents|officers|"
    r"deputies|troopers|agentes))\b"
    r"|\b(?P<witness>witnesses|bystanders|onlookers|a\s+bystander|a\s+witness|testigos)\b",
    re.IGNORECASE,
)


def _sentence_fact(
    doc: Document, start: int, kind: str | None = None, detail: str | None = None
) -> Fact | None:
    sentence = doc.sentence_at(start)
    if sentence is None:
        return None
    return Fact(sentence.text, sentence.start, sentence.end, kind, detail)


def use_of_force(doc: Document) -> tuple[bool | None, list[Fact]]:
    body = doc.header.body_start
    evidence: list[Fact] = []
    seen: set[int] = set()
    for m in doc.scan(FORCE):
        fact = _sentence_fact(doc, m.start(), "force", m.group(0))
        if fact and fact.start not in seen:
            seen.add(fact.start)
            evidence.append(fact)
    if evidence:
        return True, evidence
    denial = NO_FORCE.search(doc.text, body)
    if denial:
        fact = _sentence_fact(doc, denial.start(), "no_force", denial.group(0))
        return False, [fact] if fact else []
    return None, []


def _per_sentence(doc: Document, pattern: re.Pattern[str], kind: str | None) -> list[Fact]:
    out: list[Fact] = []
    seen: set[int] = set()
    for m in pattern.finditer(doc.text, doc.header.body_start):
        fact = _sentence_fact(doc, m.start(), kind, m.group(0))
        if fact and fact.start not in seen:
            seen.add(fact.start)
            out.append(fact)
    return out


def injuries(doc: Document) -> list[Fact]:
    return _per_sentence(doc, INJURY, "injury")


def events(doc: Document) -> list[Fact]:
    facts = _per_sentence(doc, EVENT, "event")
    force_facts = _per_sentence(doc, FORCE, "force")
    merged = {f.start: f for f in [*facts, *force_facts]}
    return [merged[k] for k in sorted(merged)]


def detention_facility(doc: Document) -> Mention | None:
    m = FACILITY.search(doc.text, doc.header.body_start)
    if not m:
        return None
    name = re.sub(r"^(?:The|the)\s+", "", m.group("name"))
    start = m.end("name") - len(name)
    return Mention(name, start, m.end("name"))


def legal(doc: Document) -> list[Fact]:
    """Legal steps, one per sentence and kind; ``detail`` is the wording that matched."""
    seen: set[tuple[int, str]] = set()
    out: list[Fact] = []
    taken = Occupied(len(doc.text))
    low = doc.text.lower()
    for kind, pattern in LEGAL_RULES:
        if not any(word in low for word in LEGAL_TRIGGERS.get(kind, ("",))):
            continue  # cheap substring test before the regex pass
        for m in pattern.finditer(doc.text, doc.header.body_start):
            if taken.overlaps(m.start(), m.end()):
                continue
            if kind == "warrant" and any(
                k.startswith("warrant_") and doc.sentence_at(m.start()) is doc.sentence_at(f.start)
                for f in out
                for k in [f.kind or ""]
            ):
                continue
            sentence = doc.sentence_at(m.start())
            if sentence is None:
                continue
            taken.add(m.start(), m.end())
            if (sentence.start, kind) in seen:
                continue
            seen.add((sentence.start, kind))
            out.append(Fact(sentence.text, sentence.start, sentence.end, kind, m.group(0)))
    out.sort(key=lambda f: f.start)
    return out


def media(doc: Document) -> list[MediaItem]:
    items: dict[str, MediaItem] = {}
    for m in doc.scan(MEDIA):
        kind = next(k for k in ("live", "video", "photo", "post") if m.group(k))
        kind = "livestream" if kind == "live" else kind
        sentence = doc.sentence_at(m.start())
        if sentence is None:
            continue
        window = sentence.text
        platform = next((name for name, pat in PLATFORMS if re.search(pat, window)), None)
        if (
            kind == "post"
            and platform is None
            and "social" not in m.group(0).lower()
            and "post" in m.group(0).lower()
            and not re.search(r"\b(?:posted\s+(?:on|to)|post\s+on)\b", window)
        ):
            continue
        group = "video" if kind in ("video", "livestream") else kind
        item = items.get(group)
        if item is None:
            item = MediaItem(kind, platform, None, None, m.start(), m.end())
            items[group] = item
        elif kind == "livestream":
            item.kind = "livestream"
        if item.platform is None or (
            platform and len(platform) > len(item.platform) and item.platform in platform
        ):
            item.platform = platform or item.platform
        if group == "video":
            d = _DURATION.search(window)
            if (
                d
                and item.duration is None
                and re.search(r"long|video|recording|footage|stream", window, re.I)
            ):
                item.duration = d.group(0)
            v = _VIEWS.search(window)
            if v and item.views is None:
                item.views = v.group(0)
    return sorted(items.values(), key=lambda i: i.start)


def _value(raw: str) -> float | None:
    low = raw.lower().replace(",", "")
    parts = low.split()
    mult = {"million": 1e6, "millones": 1e6, "billion": 1e9, "thousand": 1e3, "mil": 1e3}
    try:
        base = float(parts[0])
    except ValueError:
        return float(NUMBER_WORDS[parts[0]]) if parts[0] in NUMBER_WORDS else None
    return base * mult.get(parts[-1], 1) if len(parts) > 1 else base


_ADJECTIVES = frozenset(
    [
        "teenage",
        "young",
        "small",
        "little",
        "federal",
        "masked",
        "more",
        "other",
        "different",
        "separate",
        "adult",
        "minor",
        "unique",
        "total",
        "facebook",
    ]
)


def numbers(doc: Document, skip: list[tuple[int, int]] | None = None) -> list[NumberMention]:
    """Numbers with the noun they count ("42,000 views", "two children", "25 minutes")."""
    out: list[NumberMention] = []
    skipped = SpanIndex(skip or [])
    for m in doc.scan(NUMBER):
        if skipped.overlaps(m.start("num"), m.end("num")):
            continue
        end = m.end("num")
        counts: str | None = None
        unit = m.group("unit")
        if unit:
            words = unit.split()
            first = words[0].lower()
            if first not in _UNIT_SKIP and first not in _VERBISH and len(first) > 1:
                if first in _ADJECTIVES and len(words) > 1 and words[1].lower() not in _UNIT_SKIP:
                    counts = " ".join(words[:2]).lower()
                else:
                    counts = first
                end = (
                    m.start("unit")
                    + unit.lower().index(counts.split()[-1])
                    + len(counts.split()[-1])
                )
        out.append(
            NumberMention(_value(m.group("num")), doc.text[m.start() : end], counts, m.start(), end)
        )
    return out


_VERBISH = frozenset(
    [
        "are",
        "is",
        "was",
        "were",
        "has",
        "had",
        "have",
        "tells",
        "told",
        "said",
        "says",
        "shoved",
        "say",
        "will",
        "would",
        "could",
        "can",
        "did",
        "do",
        "does",
    ]
)


def subjects(doc: Document) -> list[Subject]:
    out: list[Subject] = []
    seen: set[str] = set()
    for m in doc.scan(SUBJECT):
        phrase = m.group(0)
        if m.group("rel"):
            rel = m.group("rel").lower()
            count = m.group("count")
            key = f"rel:{rel}"
            n = int(count) if count and count.isdigit() else NUMBER_WORDS.get((count or "").lower())
            subject = Subject(phrase, m.start(), m.end(), count=n, role="family")
        elif m.group("age") or m.group("age_es"):
            age = int(m.group("age") or m.group("age_es"))
            key = f"age:{age}"
            end = m.end()
            noun = m.group("noun")
            if noun and not noun[:1].islower():  # 'a 45-year-old El Paso man': stop at the name
                end = m.start("noun")
                while end > m.start() and doc.text[end - 1].isspace():
                    end -= 1
            phrase = doc.text[m.start() : end]
            subject = Subject(phrase, m.start(), end, age=age, role=_role_near(doc, m.start()))
        elif m.group("group"):
            key = "officers"
            subject = Subject(phrase, m.start(), m.end(), role="officer")
        else:
            key = "witnesses"
            subject = Subject(phrase, m.start(), m.end(), role="witness")
        if key in seen:
            continue
        seen.add(key)
        out.append(subject)
    return out


def _role_near(doc: Document, offset: int) -> str:
    sentence = doc.sentence_at(offset)
    low = sentence.text.lower() if sentence else ""
    if "detain" in low or "custody" in low:
        return "detained"
    if "arrest" in low:
        return "arrested"
    return "other"

"""Named people: who they are (title, affiliation, age, role) and every later mention of them.

A run of capitalised words becomes a person only with evidence around it: a title before it
("ICE spokesman ..."), an age after it (", 32,"), a verb of saying next to it, "according to",
an apposition (", a volunteer", "his father, ..."), or its surname used again on its own.
Later mentions by surname join the same person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from testigo.extract.lexicon import (
    JOURNALIST_TITLES,
    KINSHIP,
    LEGAL_TITLES,
    NON_NAME_WORDS,
    OFFICER_TITLES,
    OFFICIAL_TITLES,
    SENTENCE_STARTERS,
    SPEECH_VERBS,
    SPOKES_TITLES,
    TITLE_WORDS,
    WITNESS_TITLES,
)
from testigo.extract.model import AgencyMention, Mention, Person
from testigo.extract.places import US_STATE_NAMES, country_code, fold, is_known_city
from testigo.extract.text import Document, SpanIndex, name_runs, window

SUFFIXES = frozenset({"II", "III", "IV", "Jr", "Jr.", "Sr", "Sr."})
_AGE_AFTER = re.compile(r"^,\s*(?:de\s+)?(\d{1,3})(?:\s+años)?\s*(?:[,.;)]|$)")
_APPOSITION = re.compile(
    r"^\s*(?:,|—|–|-)\s*(?:a|an|the|un|una|el|la)\s+((?:[\w'’\-]+\s+){0,4}?[\w'’\-]+?)"
    r"(?=\s+(?:who|that|which|for|at|with|from|in|of|quien|que|de)\b|\s*[,.;—–]|$)"
)
_BEFORE_TITLE = re.compile(r"((?:[\w'’.\-]+\s+){0,3}?[\w'’.\-]+)\s*,?\s*$")
_CUE_BEFORE = re.compile(
    r"(?:according\s+to|según|identified\s+as|named|listed\s+(?:on\s+\w+\s+)?as|known\s+as|"
    r"(?:identified|listed|known|named)\b[^.;]{0,30}\bas|"
    r"said|says|told\s+by|by|attorney|lawyer|abogad[oa]|dijo|afirmó|explicó|señaló|declaró|"
    r"contó|agregó|añadió|aseguró)\s*[“\"]?\s*$",
    re.IGNORECASE,
)
_VERB_AFTER = re.compile(
    r"^\s*(?:,\s*\d{1,3}\s*,\s*|,\s*(?=(?:who|quien|said|dijo|told|afirmó|explicó)\b))?(?:who|quien|was|is|has|had|holds|held|says|said|told|tells|"
    r"added|wrote|posted|called|went|took|did|does|will|would|could|can|responds|responded|"
    r"asked|explained|recorded|filmed|dijo|afirmó|contó|explicó|declaró|señaló)\b",
    re.IGNORECASE,
)


_VERBISH = frozenset(
    ["was", "is", "were", "are", "has", "had", "have", "said", "says", "who", "that"]
)


@dataclass
class _Candidate:
    name: str
    start: int
    end: int
    tokens: list[str]


def _clean_tokens(tokens: list[str]) -> list[str]:
    if tokens and re.search(r"['’]s$", tokens[-1]):
        tokens = [*tokens[:-1], re.sub(r"['’]s$", "", tokens[-1])]
    return tokens


def _is_name_token(tok: str) -> bool:
    if tok in SUFFIXES or tok.lower() in ("de", "del", "la", "los", "las", "van", "von", "da"):
        return True
    if tok.isupper() and len(tok) > 1:
        return False
    if fold(tok).rstrip(".") in NON_NAME_WORDS:
        return False
    return tok[:1].isupper() and any(ch.isalpha() for ch in tok)


def _is_place(name: str) -> bool:
    return is_known_city(name) or name in US_STATE_NAMES or country_code(name) is not None


def _candidates(doc: Document, agencies: list[AgencyMention]) -> list[_Candidate]:
    """Name-like runs, with titles and agency words cut off the front."""
    text = doc.text
    out: list[_Candidate] = []
    for s, e in name_runs(text, doc.header.body_start):
        # cut at agency mentions and title words: the name is what follows the last of them
        for a in window(agencies, s - 200, e):
            if s <= a.start < e or s < a.end <= e:
                s = max(s, a.end)
        if s >= e:
            continue
        piece = text[s:e]
        tokens = piece.split()
        offsets: list[int] = []
        pos = 0
        for tok in tokens:
            pos = piece.index(tok, pos)
            offsets.append(s + pos)
            pos += len(tok)
        cut = 0
        for i, tok in enumerate(tokens):
            low = fold(tok).rstrip(".")
            if low in TITLE_WORDS or low in NON_NAME_WORDS or low in SENTENCE_STARTERS:
                cut = i + 1
        tokens = _clean_tokens(tokens[cut:])
        offsets = offsets[cut:]
        if not tokens:
            continue
        while tokens and tokens[-1].lower() in ("de", "del", "la", "los", "las"):
            tokens, offsets = tokens[:-1], offsets[:-1]
        if not tokens or not all(_is_name_token(t) for t in tokens):
            continue
        start = offsets[0]
        end = offsets[-1] + len(tokens[-1])
        name = " ".join(tokens)
        out.append(_Candidate(name, start, end, tokens))
    return out


def surname_keys(name: str) -> list[str]:
    """Keys a later mention may use: the last name, the last two names (compound surnames)."""
    tokens = [t for t in name.split() if t not in SUFFIXES]
    keys = []
    if len(tokens) >= 3:
        keys.append(" ".join(tokens[-2:]))
    if tokens:
        keys.append(tokens[-1])
    return keys


def _has_cue(doc: Document, c: _Candidate, surnames_seen: dict[str, int]) -> bool:
    text = doc.text
    before = text[max(0, c.start - 40) : c.start]
    after = text[c.end : c.end + 40]
    if _AGE_AFTER.match(after) or _VERB_AFTER.match(after) or _APPOSITION.match(after):
        return True
    if _CUE_BEFORE.search(before):
        return True
    words = re.findall(r"[\w'’]+", before.lower())
    if words and (words[-1] in TITLE_WORDS or words[-1] in KINSHIP):
        return True
    if re.search(r"\b(?:" + "|".join(sorted(KINSHIP)) + r"),\s*$", before.lower()):
        return True
    nxt = re.match(r"^\s*(\w+)", after)
    if nxt and nxt.group(1).lower() in SPEECH_VERBS:
        return True
    return any(surnames_seen.get(k, 0) > 1 for k in surname_keys(c.name))


def _title_before(
    doc: Document, c: _Candidate, agencies: list[AgencyMention]
) -> tuple[str | None, str | None]:
    """("spokesman", "U.S. Immigration and Customs Enforcement") from "ICE spokesman Name"."""
    text = doc.text
    sentence = doc.sentence_at(c.start)
    lo = sentence.start if sentence else max(0, c.start - 80)
    before = text[lo : c.start]
    words = list(re.finditer(r"[\w'’.\-]+", before))
    title_words: list[str] = []
    agency: str | None = None
    idx = len(words) - 1
    while idx >= 0 and len(title_words) < 4:
        w = words[idx].group(0)
        low = re.sub(r"['’]s$", "", fold(w).rstrip("."))
        if low in TITLE_WORDS or (
            title_words
            and low
            in (
                "local",
                "police",
                "press",
                "public",
                "information",
                "senior",
                "former",
                "deputy",
                "assistant",
                "immigration",
                "family",
                "chief",
            )
        ):
            title_words.insert(0, low)
            idx -= 1
            continue
        if low in ("her", "his", "their", "the", "a", "an") and title_words:
            break
        break
    if title_words:
        first = lo + words[idx + 1].start() if idx + 1 < len(words) else c.start
        for a in window(agencies, first - 200, first):
            if a.end <= first and first - a.end <= 2:
                agency = a.name
        return " ".join(title_words), agency
    return None, None


_TITLE_PHRASE = re.compile(
    r"\b(?:" + "|".join(sorted(SPOKES_TITLES | LEGAL_TITLES, key=len, reverse=True)) + r")"
    r"\s+(?:de|del|for|of|para)\s+[^,.;:\"“”]{1,40},\s*$",
    re.IGNORECASE,
)
_TITLE_OF = re.compile(
    r"\b(?P<title>" + "|".join(sorted(TITLE_WORDS, key=len, reverse=True)) + r")\s+"
    r"(?:de|del|for|of|with|at|para)\s+(?:la\s+|el\s+|the\s+|los\s+)?$",
    re.IGNORECASE,
)


def _title_of_agency(
    doc: Document, c: _Candidate, agencies: list[AgencyMention]
) -> tuple[str | None, str | None]:
    """'a spokesman for ICE, Name' / 'el portavoz de ICE, Name'."""
    for a in window(agencies, c.start - 200, c.start):
        if a.end <= c.start and re.fullmatch(r"\s*,\s*", doc.text[a.end : c.start]):
            m = _TITLE_OF.search(doc.text[max(0, a.start - 40) : a.start])
            if m:
                return m.group("title").lower(), a.name
    return None, None


def _role_for(title: str | None) -> str | None:
    if not title:
        return None
    words = set(title.split())
    if words & LEGAL_TITLES:
        return "other"
    if words & SPOKES_TITLES:
        return "spokesperson"
    if words & OFFICIAL_TITLES:
        return "official"
    if words & OFFICER_TITLES:
        return "officer"
    if words & JOURNALIST_TITLES:
        return "journalist"
    if words & KINSHIP:
        return "family"
    if words & WITNESS_TITLES:
        return "witness"
    if words & LEGAL_TITLES:
        return "other"
    return None


def find_people(doc: Document, agencies: list[AgencyMention]) -> list[Person]:
    """Named people with their title, affiliation, age, role and every mention."""
    text = doc.text
    candidates = _candidates(doc, agencies)
    counts: dict[str, int] = {}
    for c in candidates:
        for key in surname_keys(c.name):
            counts[key] = counts.get(key, 0) + 1
    people: list[Person] = []
    by_key: dict[str, Person] = {}
    for c in candidates:
        known = next((by_key[k] for k in [c.name, *surname_keys(c.name)] if k in by_key), None)
        if known is None and len(c.tokens) == 1:
            continue
        if known is not None and (len(c.tokens) == 1 or c.name in known.name):
            known.mentions.append(Mention(text[c.start : c.end], c.start, c.end))
            _fill_age(doc, known, c)
            continue
        if len(c.tokens) > 5 or _is_place(c.name) or not _has_cue(doc, c, counts):
            continue
        person = Person(name=c.name, start=c.start, end=c.end)
        person.mentions.append(Mention(text[c.start : c.end], c.start, c.end))
        title, affiliation = _title_before(doc, c, agencies)
        if title is None:
            title, affiliation = _title_of_agency(doc, c, agencies)
        if title is None:
            app = _APPOSITION.match(text[c.end : c.end + 80])
            if app and not set(app.group(1).lower().split()) & _VERBISH:
                title = app.group(1).strip()
        if title is None:
            lead = _TITLE_PHRASE.search(text[max(0, c.start - 60) : c.start])
            if lead:
                title = " ".join(lead.group(0).rstrip(", ").split())
        if title is None:
            kin = re.search(r"\b(\w+)\s*,\s*$", text[max(0, c.start - 30) : c.start])
            if kin and kin.group(1).lower() in (KINSHIP | TITLE_WORDS):
                title = kin.group(1).lower()
        person.title = title
        person.affiliation = affiliation
        _fill_age(doc, person, c)
        people.append(person)
        for key in [c.name, *surname_keys(c.name)]:
            by_key.setdefault(key, person)
    for person in people:
        others = SpanIndex(
            [(m.start, m.end) for p in people if p is not person for m in p.mentions]
        )
        _assign_role(doc, person, agencies, others)
    return people


def _fill_age(doc: Document, person: Person, c: _Candidate) -> None:
    if person.age is not None:
        return
    m = _AGE_AFTER.match(doc.text[c.end : c.end + 20])
    if m and 0 < int(m.group(1)) < 120:
        person.age = int(m.group(1))


def _assign_role(
    doc: Document, person: Person, agencies: list[AgencyMention], others: SpanIndex
) -> None:
    role = _role_for(person.title)
    if person.affiliation is None and role in ("spokesperson", "officer", "official"):
        earlier = [a for a in window(agencies, person.start - 20000, person.start)]
        title = person.title or ""
        for word, kinds in (
            ("sheriff", ("sheriff",)),
            ("police", ("police_department",)),
            ("trooper", ("state_police",)),
        ):
            if word in title and any(a.kind in kinds for a in earlier):
                earlier = [a for a in earlier if a.kind in kinds]
        if earlier:
            person.affiliation = earlier[-1].name
    if role in (None, "family", "witness"):
        for mention in person.mentions:
            found = _custody_role_of(doc.text, mention.start, mention.end)
            if found is not None:
                role = found
                break
    if role is None:
        # the only person named in a sentence about an arrest is the one arrested
        for mention in person.mentions:
            sentence = doc.sentence_at(mention.start)
            if sentence is None or others.inside(sentence.start, sentence.end):
                continue
            found = _custody_role(sentence.text.lower())
            if found is not None:
                role = found
                break
    person.role = role or "other"


def _custody_role_of(text: str, start: int, end: int) -> str | None:
    """'arrested Name', 'detuvieron a Name', 'Name was detained', 'Name, 32, was arrested'."""
    before = text[max(0, start - 60) : start].lower()
    after = text[end : end + 60].lower()
    verb_before = re.search(r"\b(\w+)\s+(?:(?:a|of|to)\s+)?(?:[\w'’\-]+\s+){0,2}$", before)
    if verb_before:
        found = _custody_role(verb_before.group(0))
        if found is not None:
            return found
    passive = re.match(
        r"^(?:['’]s)?(?:,\s*(?:de\s+)?\d{1,3}(?:\s+años)?,)?\s*(?:was|were|is|has\s+been|had\s+been|"
        r"fue|ha\s+sido)\b",
        after,
    )
    if passive:
        clause = re.split(r"[,;.]", after[passive.start() :], maxsplit=1)[0]
        return _custody_role(clause)
    return None


_ARRESTED = re.compile(
    r"\b(?:arrest\w*|handcuff\w*|cuffed|dragg\w*|tackl\w*|pinned|apprehend\w*|deported|"
    r"ordered\s+removed|arrestad[oa]|deportad[oa]|esposad[oa])\b"
)
_DETAINED = re.compile(
    r"\b(?:detain\w*|custody|being\s+held|held\s+(?:at|in|by)|jailed|detenid[oa]|bajo\s+custodia)\b"
)


def _custody_role(sentence: str) -> str | None:
    detained = _DETAINED.search(sentence)
    arrested = _ARRESTED.search(sentence)
    if arrested and (not detained or arrested.start() < detained.start()):
        return "arrested"
    if detained:
        return "detained"
    return None

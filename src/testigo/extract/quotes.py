"""Direct quotations and reported speech, each with its speaker resolved.

Attribution is tried in this order: right after the quotation ('..., Name said' / 'said Name'),
at the end of its sentence (', the agency said.'), then the subject of the last verb of saying
before it ('Name told a TV station the man left "..."'). A quotation with no attribution of its own
continues the previous one in the paragraph (or the previous paragraph, when that one left a
quotation open). Quoted words that are a name ('listed as "Name"') or a label with no verb of
saying around them ('vests marked "POLICE"') are not quotations.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from testigo.extract.lexicon import (
    OFFICER_TITLES,
    SPEECH_VERBS,
    SPOKES_TITLES,
    TITLE_WORDS,
)
from testigo.extract.model import AgencyMention, Mention, Person, Quote
from testigo.extract.people import _is_name_token, surname_keys
from testigo.extract.text import Document, SpanIndex, name_runs, window

_OPEN = '"“«„'
_CLOSE = '"”»“'
_QUOTE_CHARS = re.compile(r"[\"“”«»„]")
_VERBS = "|".join(sorted(SPEECH_VERBS, key=len, reverse=True))
_VERB_RE = re.compile(r"\b(?:" + _VERBS + r")\b|\baccording\s+to\b|\bsegún\b", re.IGNORECASE)
MAX_SENTENCE = 1500
"""Longer "sentences" are not prose (lists, tables, junk); costly patterns skip them."""
_ALIAS_BEFORE = re.compile(
    r"\b(?:as|named|called|nicknamed|dubbed|known\s+as|como|llamad[oa])\s*$", re.IGNORECASE
)
_PRONOUN = re.compile(r"\b(?:he|she|él|ella)\b", re.IGNORECASE)
_UNKNOWN = re.compile(
    r"\b(?:someone|somebody|a\s+man|a\s+woman|a\s+voice|a\s+person|one\s+person|alguien|"
    r"una\s+voz|un\s+hombre|una\s+mujer)\b",
    re.IGNORECASE,
)
_GENERIC = re.compile(
    r"\b(?:(?:the|a|an|one|another|its|el|la|un|una)\s+)?(?:(?P<mod>[\w'’.\-]+)\s+)?"
    r"(?P<head>spokesperson|spokesman|spokeswoman|officer|agent|deputy|trooper|department|"
    r"agency|police|official|officials|portavoz|vocero|vocera|agente|oficial|departamento|"
    r"agencia|witness|witnesses|resident|neighbor|bystander|testigo|vecino|vecina)"
    r"(?P<poss>['’]s)?\b",
    re.IGNORECASE,
)


@dataclass
class _Speaker:
    label: str | None
    affiliation: str | None
    kind: str  # person | agency | group | unknown
    start: int | None = None
    end: int | None = None


@dataclass
class _Segment:
    start: int  # of the quoted words, without the marks
    end: int
    open_mark: int
    close_mark: int  # index after the closing mark (== end when left open)
    paragraph: int
    left_open: bool
    continuation: bool = False


_DASH_OPEN = re.compile(r"[—―]\s?(?=[¿¡\"“«]?[A-ZÁÉÍÓÚÑ])")
_DASH_INCISO = re.compile(r"\s[—―](?=\w)")
_DASH_CLOSE = re.compile(r"[—―]")


def _dialogue(text: str, p_start: int, p_end: int, number: int) -> list[_Segment]:
    """Spanish-style dialogue: '—No tenemos miedo —dijo Ana—. Vamos a seguir.'"""
    opening = _DASH_OPEN.match(text, p_start, p_end)
    if opening is None:
        return []
    inciso = _DASH_INCISO.search(text, opening.end(), p_end)
    if inciso is None:
        return []
    dash = inciso.start() + 1
    closing = _DASH_CLOSE.search(text, dash + 1, p_end)
    narration = text[dash + 1 : closing.start() if closing else p_end]
    if not _VERB_RE.search(narration):
        return []
    out = [_Segment(opening.end(), inciso.start(), p_start, dash, number, False)]
    if closing is not None:
        rest = closing.end()
        while rest < p_end and text[rest] in ".,;: ":
            rest += 1
        if rest < p_end:
            out.append(_Segment(rest, p_end, closing.start(), p_end, number, False, True))
    return out


def _segments(doc: Document) -> list[_Segment]:
    out: list[_Segment] = []
    text = doc.text
    for number, (p_start, p_end) in enumerate(doc.paragraphs):
        if p_end <= doc.header.body_start:
            continue
        if text[p_start] in "—―":
            dialogue = _dialogue(text, p_start, p_end, number)
            if dialogue:
                out.extend(dialogue)
                continue
        marks = [m.start() for m in _QUOTE_CHARS.finditer(text, p_start, p_end)]
        i = 0
        while i < len(marks):
            opening = marks[i]
            if text[opening] not in _OPEN:
                i += 1
                continue
            if i + 1 < len(marks) and text[marks[i + 1]] in _CLOSE:
                closing = marks[i + 1]
                if closing - opening > 1:
                    out.append(_Segment(opening + 1, closing, opening, closing + 1, number, False))
                i += 2
            else:
                out.append(_Segment(opening + 1, p_end, opening, p_end, number, True))
                i += 1
    return out


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t":
        start += 1
    while end > start and text[end - 1] in " \t,":
        end -= 1
    return start, end


class _Resolver:
    """Turns the words naming a speaker ('the officer', 'Ortega', 'an ICE spokesperson') into one"""

    def __init__(self, doc: Document, people: list[Person], agencies: list[AgencyMention]) -> None:
        self.doc = doc
        self.people = people
        self.agencies = agencies
        self.surnames: dict[str, Person] = {}
        for p in people:
            for key in [p.name, *surname_keys(p.name)]:
                self.surnames.setdefault(key, p)
        names = sorted(self.surnames, key=len, reverse=True)
        self.name_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b") if names else None
        )
        counts = Counter(a.name for a in agencies)
        self.shorts: dict[str, str] = {}
        for a in agencies:
            self.shorts.setdefault(a.name, _short(a))
        self.dominant = counts.most_common(1)[0][0] if counts else None
        self.last_person: _Speaker | None = None
        self.by_name: dict[str, Person] = {p.name: p for p in people}
        self.titled: list[tuple[int, str, AgencyMention]] = []
        for a in agencies:
            tail = re.match(r"\s*([\w'’]+)", doc.text[a.end : a.end + 30])
            if tail and tail.group(1).lower() in TITLE_WORDS:
                self.titled.append((a.end, tail.group(1).lower(), a))

    def _agency_before(self, offset: int, want: str | None = None) -> AgencyMention | None:
        best = None
        for a in window(self.agencies, offset - 20000, offset):
            if a.end > offset:
                break
            if want == "department" and "department" not in a.name.lower():
                continue
            if want == "agency" and a.kind not in ("federal_agency", "federal_component"):
                continue
            if want == "police" and a.kind not in ("police_department", "sheriff", "state_police"):
                continue
            best = a
        return best

    def _agency_in(self, start: int, end: int) -> AgencyMention | None:
        found = [a for a in window(self.agencies, start, end) if a.end <= end]
        return found[-1] if found else None

    def person_mentions(self, start: int, end: int) -> list[tuple[int, int, Person]]:
        if self.name_re is None:
            return []
        return [
            (m.start(), m.end(), self.surnames[m.group(0)])
            for m in self.name_re.finditer(self.doc.text, start, end)
        ]

    def resolve(self, start: int, end: int, first: bool = False) -> _Speaker | None:
        """The entity nearest the end of [start, end) (the verb usually follows it).

        With ``first``, the entity nearest the start ('said Name ...').
        """
        text = self.doc.text
        options: list[tuple[int, _Speaker]] = []
        for s, e, person in self.person_mentions(start, end):
            options.append((e, _Speaker(person.name, person.affiliation, "person", s, e)))
        for a in window(self.agencies, start, end):
            if a.end <= end:
                tail = re.match(r"\s*([\w'’]+)", text[a.end : end])
                title = tail.group(1).lower() if tail else ""
                if title in TITLE_WORDS:
                    label = f"{_short(a)} {title}"
                    options.append(
                        (
                            a.end + tail.end() if tail else a.end,
                            _Speaker(
                                label, a.name, "group", a.start, a.end + (tail.end() if tail else 0)
                            ),
                        )
                    )
                else:
                    options.append((a.end, _Speaker(a.name, a.name, "agency", a.start, a.end)))
        for m in _GENERIC.finditer(text, start, end):
            if any(s <= m.start("head") < e for e, sp in options for s in [sp.start or 0]):
                continue
            options.append((m.end(), self._generic(m, start)))
        for m in _PRONOUN.finditer(text, start, end):
            found = self._pronoun(m.group(0).lower(), m.start())
            if found is not None:
                options.append(
                    (
                        m.end(),
                        _Speaker(found.label, found.affiliation, found.kind, m.start(), m.end()),
                    )
                )
        for m in _UNKNOWN.finditer(text, start, end):
            options.append(
                (m.end(), _Speaker("unidentified person", None, "unknown", m.start(), m.end()))
            )
        persons = [o for o in options if o[1].kind == "person"]
        if first and not persons:
            extra = self._unknown_name(start, end)
            if extra is not None and extra.end is not None:
                persons = [(extra.end, extra)]
                options.append(persons[0])
        if not options:
            return self._unknown_name(start, end)
        options.sort(key=lambda o: o[0])
        if first:
            # 'said the group's spokesman, Name': the name is the speaker, not the title
            return min(persons, key=lambda o: o[0])[1] if persons else options[0][1]
        return options[-1][1]

    def _unknown_name(self, start: int, end: int) -> _Speaker | None:
        """A full name the people finder missed ('dijo Name Surname, vecina de ...')."""
        for s, e in name_runs(self.doc.text, start, end):
            tokens = self.doc.text[s:e].split()
            if 2 <= len(tokens) <= 4 and all(_is_name_token(t) for t in tokens):
                return _Speaker(" ".join(tokens), None, "person", s, e)
        return None

    def _pronoun(self, pronoun: str, offset: int) -> _Speaker | None:
        """He/she: the last speaker if recent and compatible, else the last compatible mention."""
        want = "f" if pronoun in ("she", "ella") else "m"
        last = self.last_person
        if (
            last is not None
            and last.start is not None
            and _gender(self.by_name.get(last.label or "")) != _other(want)
        ):
            sentence = self.doc.sentence_at(offset)
            index = self.doc.index_of(sentence) if sentence else -1
            last_sentence = self.doc.sentence_at(last.start)
            last_index = self.doc.index_of(last_sentence) if last_sentence else -10
            if 0 <= index - last_index <= 2:
                return last
        for s, e, person in reversed(self.person_mentions(max(0, offset - 3000), offset)):
            if _gender(person) != _other(want):
                return _Speaker(person.name, person.affiliation, "person", s, e)
        return last

    def _generic(self, m: re.Match[str], window_start: int) -> _Speaker:
        head = m.group("head").lower()
        mod = (m.group("mod") or "").lower()
        if head in (
            "witness",
            "witnesses",
            "resident",
            "neighbor",
            "bystander",
            "testigo",
            "vecino",
            "vecina",
        ):
            return _Speaker(f"unnamed {head}", None, "unknown", m.start(), m.end())
        explicit = self._agency_in(m.start(), m.end())
        if head in ("department", "departamento"):
            agency = explicit or self._agency_before(m.start(), "department")
        elif head in ("agency", "agencia"):
            agency = explicit or self._agency_before(m.start(), "agency")
        elif head == "police" or (mod == "police"):
            agency = explicit or self._agency_before(m.start(), "police")
        else:
            agency = explicit
            same = SPOKES_TITLES if head in SPOKES_TITLES else OFFICER_TITLES
            if agency is None:
                earlier = [a for end, t, a in self.titled if end <= m.start() and t in same]
                agency = earlier[-1] if earlier else None
            if agency is None:
                agency = self._agency_before(m.start())
        if agency is None and self.dominant:
            name = self.dominant
            agency_name: str | None = name
            short = self.shorts.get(name, name)
        else:
            agency_name = agency.name if agency else None
            short = _short(agency) if agency else ""
        if head in ("department", "agency", "departamento", "agencia"):
            sp = _Speaker(agency_name, agency_name, "agency", m.start(), m.end())
        elif head in OFFICER_TITLES or head in ("official", "officials"):
            sp = _Speaker(
                f"unnamed {short} {head}".replace("  ", " "),
                agency_name,
                "group",
                m.start(),
                m.end(),
            )
        else:
            sp = _Speaker(f"{short} {head}".strip(), agency_name, "group", m.start(), m.end())
        return sp

    def note(self, speaker: _Speaker | None) -> None:
        if speaker is not None and speaker.kind == "person":
            self.last_person = speaker


_FEMALE = frozenset(
    [
        "spokeswoman",
        "mother",
        "daughter",
        "wife",
        "sister",
        "grandmother",
        "aunt",
        "niece",
        "girlfriend",
        "woman",
        "madre",
        "hija",
        "esposa",
        "hermana",
        "abuela",
        "tía",
        "vecina",
        "abogada",
        "vocera",
        "councilwoman",
        "chairwoman",
        "policewoman",
    ]
)
_MALE = frozenset(
    [
        "spokesman",
        "father",
        "son",
        "husband",
        "brother",
        "grandfather",
        "uncle",
        "nephew",
        "boyfriend",
        "man",
        "padre",
        "hijo",
        "esposo",
        "hermano",
        "abuelo",
        "tío",
        "vecino",
        "abogado",
        "vocero",
        "councilman",
        "chairman",
        "policeman",
    ]
)


def _gender(person: Person | None) -> str | None:
    if person is None or not person.title:
        return None
    words = set(re.findall(r"[\w]+", person.title.lower()))
    if words & _FEMALE:
        return "f"
    if words & _MALE:
        return "m"
    return None


def _other(gender: str) -> str:
    return "m" if gender == "f" else "f"


def _short(a: AgencyMention | None) -> str:
    if a is None:
        return ""
    if a.text.isupper() and len(a.text) <= 6:
        return a.text
    return a.name


def _attribute(doc: Document, seg: _Segment, resolver: _Resolver) -> tuple[_Speaker | None, bool]:
    """The speaker of a quoted segment, and whether a verb of saying governs it."""
    text = doc.text
    sentence_end_sent = doc.sentence_at(max(seg.close_mark - 1, seg.start))
    sent_end = sentence_end_sent.end if sentence_end_sent else len(text)
    # the sentence may have been split inside the quotation: extend to the next real end
    after = text[seg.close_mark : min(len(text), max(sent_end, seg.close_mark) + 200)]
    para_end = doc.paragraphs[seg.paragraph][1]
    after = after[: max(0, para_end - seg.close_mark)]
    stop = re.search(r"[.!?](?:\s|$)|[\"“”«]", after)
    after_clause = after[: stop.start() + 1] if stop else after
    base = seg.close_mark
    verb_after = _VERB_RE.search(after_clause)
    if verb_after and verb_after.start() <= 120:
        if verb_after.group(0).lower() in ("according to", "según"):
            sp = resolver.resolve(base + verb_after.end(), base + len(after_clause), first=True)
        else:
            # '"...," the officer said' (subject first) or '"...," said Name' (verb first)
            sp = None
            if verb_after.start() <= 70:
                sp = resolver.resolve(base, base + verb_after.start())
            if sp is None and not after_clause[: verb_after.start()].strip(" ,\t\n—–-"):
                sp = resolver.resolve(base + verb_after.end(), base + len(after_clause), first=True)
        if sp is not None:
            return sp, True
    start_sentence = doc.sentence_at(seg.open_mark)
    lo = start_sentence.start if start_sentence else seg.open_mark
    lo = max(lo, seg.open_mark - MAX_SENTENCE)
    verbs = list(_VERB_RE.finditer(text, lo, seg.open_mark))
    if verbs:
        verb = verbs[-1]
        if verb.group(0).lower() in ("according to", "según"):
            sp = resolver.resolve(verb.end(), seg.open_mark)
            return sp, True
        sp = resolver.resolve(lo, verb.start())
        if sp is None:
            sp = resolver.resolve(verb.end(), seg.open_mark)
        return sp, True
    acc = re.search(r"\b(?:according\s+to|según)\b", after_clause, re.IGNORECASE)
    if acc:
        base = seg.close_mark
        return resolver.resolve(base + acc.end(), base + len(after_clause)), True
    return None, False


def find_quotes(doc: Document, people: list[Person], agencies: list[AgencyMention]) -> list[Quote]:
    text = doc.text
    resolver = _Resolver(doc, people, agencies)
    quotes: list[Quote] = []
    previous: Quote | None = None
    previous_open = False
    previous_paragraph = -1
    for seg in _segments(doc):
        start, end = _strip_span(text, seg.start, seg.end)
        words = text[start:end]
        if not words.strip():
            continue
        before = text[max(0, seg.open_mark - 30) : seg.open_mark]
        if _ALIAS_BEFORE.search(before) and re.fullmatch(
            r"(?:[A-ZÁÉÍÓÚÑ][\w'’\-]*[ ,]*){1,4}", words
        ):
            continue
        if seg.continuation and previous is not None:
            previous.parts.append(Mention(words, start, end))
            continue
        speaker, governed = _attribute(doc, seg, resolver)
        paragraph_start = doc.paragraphs[seg.paragraph][0]
        continues = previous is not None and (
            previous_paragraph == seg.paragraph
            or (previous_open and seg.open_mark == paragraph_start)
        )
        if speaker is None and continues and previous is not None:
            previous.parts.append(Mention(words, start, end))
            previous_open = seg.left_open
            previous_paragraph = seg.paragraph
            continue
        if not governed:
            previous_open = False
            continue
        resolver.note(speaker)
        kind = "direct"
        lead = text[max(paragraph_start, seg.open_mark - 3) : seg.open_mark]
        if lead.strip() and lead.strip()[-1:].isalpha():
            kind = "partial"
        quote = Quote(
            text=words,
            start=start,
            end=end,
            speaker=speaker.label if speaker else None,
            affiliation=speaker.affiliation if speaker else None,
            kind=kind,
            speaker_start=speaker.start if speaker else None,
            speaker_end=speaker.end if speaker else None,
            parts=[Mention(words, start, end)],
        )
        quotes.append(quote)
        previous = quote
        previous_open = seg.left_open
        previous_paragraph = seg.paragraph
    return quotes


_NOT_CONTENT = re.compile(
    r"(?:in|on|at|to|by|for|during|after|before|while|from|with|en|a|durante|por)\s", re.IGNORECASE
)
_INVERTED = re.compile(
    r",\s*(?:said|says|told\s+\w+|dijo|afirmó|explicó|señaló|aseguró)\s+(?P<np>[^.!?;]{2,80}?)"
    r"[.!?]?\s*$",
    re.IGNORECASE,
)
_REPORTED_VERB = re.compile(
    r"\b(?:said|says|told|added|dijo|afirmó|explicó|señaló|aseguró)\b", re.IGNORECASE
)
_REPORTED = re.compile(
    r"(?P<np>[^.,!?;\"“”]{1,80}?)\s*,?\s+(?P<verb>said|says|told\s+[\w .]{1,40}?|added|dijo|afirmó|"
    r"explicó|señaló|aseguró)\s+(?:that\s+|que\s+)?(?P<content>[^\"“”]{10,400}?[.!?])(?=\s|$)",
    re.IGNORECASE,
)


def find_reported_speech(
    doc: Document, people: list[Person], agencies: list[AgencyMention], quotes: list[Quote]
) -> list[Quote]:
    """'Her lawyer, Name, said the agents left ...': speech without quotation marks."""
    resolver = _Resolver(doc, people, agencies)
    quoted = SpanIndex([(q.start, q.end) for q in quotes])
    out: list[Quote] = []
    for sentence in doc.sentences:
        if sentence.start < doc.header.body_start:
            continue
        if quoted.inside(sentence.start, sentence.end):
            continue
        if len(sentence.text) > MAX_SENTENCE or _QUOTE_CHARS.search(sentence.text):
            continue
        verb = _REPORTED_VERB.search(sentence.text)
        if not verb:
            continue
        base = sentence.start
        inverted = _INVERTED.search(sentence.text)
        if inverted and len(inverted.group("np").split()) <= 8:
            speaker = resolver.resolve(
                base + inverted.start("np"), base + inverted.end("np"), first=True
            )
            if speaker is not None:
                resolver.note(speaker)
                start, end = base, base + inverted.start()
                out.append(
                    Quote(
                        doc.text[start:end],
                        start,
                        end,
                        speaker.label,
                        speaker.affiliation,
                        "reported",
                        speaker.start,
                        speaker.end,
                        [Mention(doc.text[start:end], start, end)],
                    )
                )
                continue
        offset = max(0, verb.start() - 84)
        m = _REPORTED.search(sentence.text, offset)
        if not m:
            continue
        base = sentence.start
        speaker = resolver.resolve(base + m.start("np"), base + m.end("np"))
        if speaker is None:
            continue
        resolver.note(speaker)
        start, end = base + m.start("content"), base + m.end("content")
        if _NOT_CONTENT.match(doc.text[start:end]):
            continue
        out.append(
            Quote(
                doc.text[start:end],
                start,
                end,
                speaker.label,
                speaker.affiliation,
                "reported",
                speaker.start,
                speaker.end,
                [Mention(doc.text[start:end], start, end)],
            )
        )
    return out

"""The incident index: one row per incident for listing, searching, the map and the statistics.

The index is derived from the incident record and the evidence and can always be rebuilt
(:func:`sync_index`). Full-text search uses FTS5 on SQLite and a GIN-indexed ``tsvector`` on
PostgreSQL behind one function, :func:`search_incidents`; both match every word of the query as a
prefix, so "kans win" finds "Kansas City ... window".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from testigo.db.models import EvidenceItem, Incident, IncidentItem
from testigo.records.models import (
    Event,
    IncidentOrganization,
    IncidentPlace,
    Organization,
    Place,
    Source,
)
from testigo.vault import ledger
from testigo.vault.service import Vault
from testigo.web.access import visible_incident_clause
from testigo.web.accounts import Principal
from testigo.web.models import IncidentIndex, IncidentMember, IncidentRestriction

SORTS = ("recent", "oldest", "title", "relevance", "items", "created")
MAX_SOURCE_TEXT = 200_000
_WORD = re.compile(r"\w+", re.UNICODE)


def _joined(values: list[str]) -> str:
    unique = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    return "|" + "|".join(unique) + "|" if unique else ""


def split_joined(value: str) -> list[str]:
    return [v for v in value.split("|") if v]


def _source_text(vault: Vault | None, session: Session, sources: list[Source]) -> str:
    if vault is None:
        return ""
    parts: list[str] = []
    budget = MAX_SOURCE_TEXT
    for source in sources:
        item_id = source.text_item_id
        if item_id is None or budget <= 0:
            continue
        item = session.get(EvidenceItem, item_id)
        if item is None or not item.media_type.startswith("text/"):
            continue
        try:
            with vault.blobs.open(item.sha256) as stream:
                data = stream.read(budget)
        except (KeyError, OSError):
            continue
        parts.append(data.decode("utf-8", "replace"))
        budget -= len(data)
    return "\n".join(parts)


def index_incident(session: Session, incident_id: int, vault: Vault | None = None) -> None:
    """Recompute one incident's index row and its full-text entry, in the caller's transaction."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return
    agencies = list(
        session.scalars(
            select(Organization.name)
            .join(IncidentOrganization, IncidentOrganization.organization_id == Organization.id)
            .where(IncidentOrganization.incident_id == incident_id)
            .order_by(IncidentOrganization.id)
        )
    )
    place_rows = session.execute(
        select(Place, IncidentPlace.role)
        .join(IncidentPlace, IncidentPlace.place_id == Place.id)
        .where(IncidentPlace.incident_id == incident_id)
        .order_by(IncidentPlace.id)
    ).all()
    places: list[str] = []
    place_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    for place, role in sorted(place_rows, key=lambda r: r[1] != "encounter"):
        label = place.name if not place.admin1 else f"{place.name}, {place.admin1}"
        places.extend([label, place.name, place.admin1 or "", place.country or ""])
        if latitude is None and place.latitude is not None and role != "detention":
            place_name, latitude, longitude = label, place.latitude, place.longitude
    if incident.place_label:
        places.append(incident.place_label)
        place_name = place_name or incident.place_label
    items = session.execute(
        select(EvidenceItem.media_type)
        .join(IncidentItem, IncidentItem.item_id == EvidenceItem.id)
        .where(IncidentItem.incident_id == incident_id)
    ).all()
    sources = list(session.scalars(select(Source).where(Source.incident_id == incident_id)))
    event_rows = session.execute(
        select(Event.kind, Event.description).where(Event.incident_id == incident_id)
    ).all()
    has_video = any(m.startswith("video/") for (m,) in items) or any(
        s.kind == "video" for s in sources
    )
    force = any(kind == "use_of_force" for kind, _ in event_rows)
    # Unknown dates are stored as "" (not NULL) so that "newest first" can walk an index on
    # both databases: "" sorts before every date, so it comes last in descending order.
    occurred = (incident.start_time or "")[:10]
    body = "\n".join(
        [
            incident.summary or "",
            " ".join(agencies),
            " ".join(places),
            " ".join(f"{s.title or ''} {s.outlet or ''}" for s in sources),
            " ".join(d for _, d in event_rows),
            _source_text(vault, session, sources),
        ]
    )
    values: dict[str, Any] = {
        "title": incident.title,
        "summary": incident.summary or "",
        "status": incident.status or "reported",
        "occurred_on": occurred,
        "agencies": _joined(agencies),
        "places": _joined(places),
        "place_name": place_name,
        "latitude": latitude,
        "longitude": longitude,
        "has_video": has_video,
        "use_of_force": True if force else None,
        "item_count": len(items),
        "source_count": len(sources),
        "updated_at": ledger.utc_now(),
    }
    # One statement that inserts or updates: several server processes index the same incident
    # at once (each keeps the index fresh), and a read-then-insert would race between them.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement: Any = dialect.insert(IncidentIndex).values(incident_id=incident_id, **values)
    session.execute(
        statement.on_conflict_do_update(index_elements=[IncidentIndex.incident_id], set_=values)
    )
    write_fulltext(session, incident_id, incident.title, body)


def write_fulltext(session: Session, incident_id: int, title: str, body: str) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DELETE FROM incident_fts WHERE rowid = :id"), {"id": incident_id})
        session.execute(
            text("INSERT INTO incident_fts (rowid, title, body) VALUES (:id, :title, :body)"),
            {"id": incident_id, "title": title, "body": body},
        )
    else:
        session.execute(
            text(
                "UPDATE incident_index SET search_vector = "
                "setweight(to_tsvector('simple', :title), 'A') || "
                "to_tsvector('simple', :body) WHERE incident_id = :id"
            ),
            {"id": incident_id, "title": title, "body": body},
        )


def reindex(vault: Vault, incident_id: int) -> None:
    with vault.transaction() as session:
        index_incident(session, incident_id, vault)


def sync_index(vault: Vault) -> int:
    """Index incidents that are missing or changed since they were indexed; returns how many."""
    with vault.reading() as session:
        counts = (
            select(IncidentItem.incident_id, func.count().label("n"))
            .group_by(IncidentItem.incident_id)
            .subquery()
        )
        stale = list(
            session.scalars(
                select(Incident.id)
                .outerjoin(IncidentIndex, IncidentIndex.incident_id == Incident.id)
                .outerjoin(counts, counts.c.incident_id == Incident.id)
                .where(
                    (IncidentIndex.incident_id.is_(None))
                    | (func.coalesce(Incident.updated_at, "") > IncidentIndex.updated_at)
                    | (func.coalesce(counts.c.n, 0) != IncidentIndex.item_count)
                )
            )
        )
    for start in range(0, len(stale), 500):
        with vault.transaction() as session:
            for incident_id in stale[start : start + 500]:
                index_incident(session, incident_id, vault)
    return len(stale)


@dataclass
class SearchQuery:
    q: str = ""
    agency: str = ""
    place: str = ""
    date_from: str = ""
    date_to: str = ""
    status: str = ""
    has_video: bool | None = None
    use_of_force: bool | None = None
    sort: str = "recent"
    page: int = 1
    per_page: int = 25

    def words(self) -> list[str]:
        return _WORD.findall(self.q.lower())[:20]

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("q", "agency", "place", "date_from", "date_to", "status", "sort"):
            value = getattr(self, key)
            if value and not (key == "sort" and value == "recent"):
                out[key] = value
        for key in ("has_video", "use_of_force"):
            value = getattr(self, key)
            if value is not None:
                out[key] = "true" if value else "false"
        return out


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "incidents": self.incidents,
        }


def index_dict(row: Any, restricted: bool = False) -> dict[str, Any]:
    return {
        "id": row.incident_id,
        "title": row.title,
        "summary": row.summary,
        "status": row.status,
        "occurred_on": row.occurred_on or None,
        "agencies": split_joined(row.agencies),
        "place": row.place_name,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "has_video": row.has_video,
        "use_of_force": row.use_of_force,
        "items": row.item_count,
        "sources": row.source_count,
        "restricted": restricted,
    }


def _fts_condition(dialect: str) -> tuple[Any, Any]:
    """(condition or subquery on the index, relevance expression); the words bind as :match."""
    if dialect == "sqlite":
        matches = (
            text(
                "SELECT rowid AS rid, bm25(incident_fts, 10.0, 1.0) AS rank "
                "FROM incident_fts WHERE incident_fts MATCH :match"
            )
            .columns(rid=Integer, rank=Float)
            .subquery("fts")
        )
        return matches, matches.c.rank
    tsquery = func.to_tsquery("simple", bindparam("match"))
    condition = IncidentIndex.search_vector.op("@@")(tsquery)
    return condition, -func.ts_rank(IncidentIndex.search_vector, tsquery)


def _match_value(dialect: str, words: list[str]) -> str:
    if dialect == "sqlite":
        return " ".join(f'"{w}"*' for w in words)
    return " & ".join(f"{w}:*" for w in words)


# Literal, not a bound parameter, so the expression index ix_incident_index_oldest applies.
UNDATED = IncidentIndex.occurred_on == literal_column("''")

INDEX_COLUMNS = (
    IncidentIndex.incident_id,
    IncidentIndex.title,
    IncidentIndex.summary,
    IncidentIndex.status,
    IncidentIndex.occurred_on,
    IncidentIndex.agencies,
    IncidentIndex.place_name,
    IncidentIndex.latitude,
    IncidentIndex.longitude,
    IncidentIndex.has_video,
    IncidentIndex.use_of_force,
    IncidentIndex.item_count,
    IncidentIndex.source_count,
)

# Statements are built once per shape of query (which filters, which sort, who) and reused with
# new values: building a statement costs more than running it on a few thousand index rows.
_STATEMENTS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _statements(dialect: str, query: SearchQuery, admin: bool) -> tuple[Any, Any]:
    words = bool(query.words())
    sort = query.sort if query.sort in SORTS else "recent"
    if sort == "relevance" and not words:
        sort = "recent"
    key = (
        dialect,
        admin,
        words,
        bool(query.agency),
        bool(query.place),
        bool(query.date_from),
        bool(query.date_to),
        bool(query.status),
        query.has_video,
        query.use_of_force,
        sort,
    )
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached
    stmt: Any = select(IncidentIndex.incident_id)
    if not admin:
        restricted = select(IncidentRestriction.incident_id).where(
            ~exists().where(
                and_(
                    IncidentMember.incident_id == IncidentRestriction.incident_id,
                    IncidentMember.user_id == bindparam("user"),
                )
            )
        )
        stmt = stmt.where(IncidentIndex.incident_id.not_in(restricted))
    rank: Any = None
    if words:
        condition, rank = _fts_condition(dialect)
        if dialect == "sqlite":
            stmt = stmt.join(condition, condition.c.rid == IncidentIndex.incident_id)
        else:
            stmt = stmt.where(condition)
    if query.agency:
        stmt = stmt.where(
            func.lower(IncidentIndex.agencies).contains(bindparam("agency"), escape="/")
        )
    if query.place:
        stmt = stmt.where(func.lower(IncidentIndex.places).contains(bindparam("place"), escape="/"))
    if query.date_from:
        stmt = stmt.where(IncidentIndex.occurred_on >= bindparam("date_from"))
    if query.date_to:
        stmt = stmt.where(
            IncidentIndex.occurred_on <= bindparam("date_to"), IncidentIndex.occurred_on != ""
        )
    if query.status:
        stmt = stmt.where(IncidentIndex.status == bindparam("status"))
    if query.has_video is not None:
        stmt = stmt.where(IncidentIndex.has_video.is_(query.has_video))
    if query.use_of_force is True:
        stmt = stmt.where(IncidentIndex.use_of_force.is_(True))
    elif query.use_of_force is False:
        stmt = stmt.where(IncidentIndex.use_of_force.is_not(True))
    # Count over the ids alone (a covering index scan), then fetch the page's columns.
    count = select(func.count()).select_from(stmt.subquery())
    stmt = stmt.with_only_columns(*INDEX_COLUMNS)
    if sort == "relevance":
        stmt = stmt.order_by(rank, IncidentIndex.incident_id.desc())
    elif sort == "oldest":
        stmt = stmt.order_by(
            UNDATED, IncidentIndex.occurred_on.asc(), IncidentIndex.incident_id.asc()
        )
    elif sort == "title":
        stmt = stmt.order_by(IncidentIndex.title, IncidentIndex.incident_id)
    elif sort == "items":
        stmt = stmt.order_by(IncidentIndex.item_count.desc(), IncidentIndex.incident_id.desc())
    elif sort == "created":
        stmt = stmt.order_by(IncidentIndex.incident_id.desc())
    else:
        stmt = stmt.order_by(IncidentIndex.occurred_on.desc(), IncidentIndex.incident_id.desc())
    page = stmt.limit(bindparam("limit")).offset(bindparam("offset"))
    _STATEMENTS[key] = (count, page)
    return count, page


def _like(value: str) -> str:
    """A value for LIKE with its wildcards taken literally (escape character "/")."""
    return value.strip().lower().replace("/", "//").replace("%", "/%").replace("_", "/_")


def search_incidents(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """List the incidents a principal may see, filtered, searched, sorted and paginated."""
    dialect = session.get_bind().dialect.name
    count, page_stmt = _statements(dialect, query, principal.is_admin)
    per_page = min(max(query.per_page, 1), 100)
    page = max(query.page, 1)
    params: dict[str, Any] = {"limit": per_page, "offset": (page - 1) * per_page}
    if not principal.is_admin:
        params["user"] = principal.user_id
    words = query.words()
    if words:
        params["match"] = _match_value(dialect, words)
    if query.agency:
        params["agency"] = "|" + _like(query.agency) + "|"
    if query.place:
        params["place"] = _like(query.place)
    if query.date_from:
        params["date_from"] = query.date_from
    if query.date_to:
        params["date_to"] = query.date_to
    if query.status:
        params["status"] = query.status
    total = int(session.execute(count, params).scalar() or 0)
    rows = session.execute(page_stmt, params).all()
    restricted: set[int] = set()
    if rows:
        restricted = set(
            session.scalars(
                select(IncidentRestriction.incident_id).where(
                    IncidentRestriction.incident_id.in_([r.incident_id for r in rows])
                )
            )
        )
    return SearchResult(
        total=total,
        page=page,
        per_page=per_page,
        incidents=[index_dict(r, r.incident_id in restricted) for r in rows],
    )


def _visible_rows(session: Session, principal: Principal) -> list[Any]:
    stmt = select(
        IncidentIndex.incident_id,
        IncidentIndex.title,
        IncidentIndex.agencies,
        IncidentIndex.occurred_on,
        IncidentIndex.place_name,
        IncidentIndex.latitude,
        IncidentIndex.longitude,
        IncidentIndex.use_of_force,
    )
    visible = visible_incident_clause(principal, IncidentIndex.incident_id)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.execute(stmt))


def statistics(session: Session, principal: Principal) -> dict[str, Any]:
    """Counts by agency, month, place and use of force over the incidents the principal sees."""
    rows = _visible_rows(session, principal)
    agencies: Counter[str] = Counter()
    months: Counter[str] = Counter()
    places: Counter[str] = Counter()
    force: Counter[str] = Counter()
    for row in rows:
        agencies.update(split_joined(row.agencies) or ["(none)"])
        if row.occurred_on:
            months[row.occurred_on[:7]] += 1
        places[row.place_name or "(unknown)"] += 1
        force["yes" if row.use_of_force else "not reported"] += 1

    def top(counter: Counter[str], n: int = 15) -> list[dict[str, Any]]:
        return [{"label": k, "count": v} for k, v in counter.most_common(n)]

    return {
        "incidents": len(rows),
        "by_agency": top(agencies),
        "by_month": [{"label": k, "count": months[k]} for k in sorted(months)[-24:]],
        "by_place": top(places),
        "by_use_of_force": top(force),
    }


def map_points(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Incidents with coordinates, grouped by place."""
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    for row in _visible_rows(session, principal):
        if row.latitude is None or row.longitude is None:
            continue
        key = (round(row.latitude, 3), round(row.longitude, 3))
        group = groups.setdefault(
            key,
            {
                "place": row.place_name,
                "latitude": row.latitude,
                "longitude": row.longitude,
                "count": 0,
                "incidents": [],
            },
        )
        group["count"] += 1
        if len(group["incidents"]) < 20:
            group["incidents"].append({"id": row.incident_id, "title": row.title})
    return sorted(groups.values(), key=lambda g: -int(g["count"]))

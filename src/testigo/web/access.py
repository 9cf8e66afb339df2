"""Who may see what: incidents restricted to named members, and the ledger of restricted views.

An incident is open to every account unless it is restricted; a restricted incident is visible to
its members and to admins only. Evidence follows its incidents: an item attached to a restricted
incident is restricted evidence, and each view or download of it is a ledger entry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, select
from sqlalchemy.orm import Session

from testigo.db.models import Incident, IncidentItem
from testigo.errors import NotFoundError, RefusedInputError, TestigoError
from testigo.vault import ledger
from testigo.vault.service import Vault
from testigo.web.accounts import Principal
from testigo.web.models import IncidentMember, IncidentRestriction, User


class Forbidden(TestigoError):
    """The account exists but its role does not allow this."""


def require_role(principal: Principal, role: str) -> None:
    if not principal.at_least(role):
        raise Forbidden(f"this needs the {role} role or higher; you are a {principal.role}")


def visible_incident_clause(principal: Principal, column: Any) -> ColumnElement[bool] | None:
    """A WHERE condition on an incident id column: the incidents this principal may see."""
    if principal.is_admin:
        return None
    restricted = select(IncidentRestriction.incident_id).where(
        ~exists().where(
            and_(
                IncidentMember.incident_id == IncidentRestriction.incident_id,
                IncidentMember.user_id == principal.user_id,
            )
        )
    )
    return column.not_in(restricted)  # type: ignore[no-any-return]


def is_restricted(session: Session, incident_id: int) -> bool:
    known = session.info.get(("restricted", incident_id))
    if known is not None:
        return bool(known)
    restricted = session.get(IncidentRestriction, incident_id) is not None
    session.info[("restricted", incident_id)] = restricted
    return restricted


def can_view_incident(session: Session, principal: Principal, incident_id: int) -> bool:
    if principal.is_admin or not is_restricted(session, incident_id):
        return True
    return session.get(IncidentMember, (incident_id, principal.user_id)) is not None


# Built once: constructing statements costs more than running them on these small lookups.
_CHECK_INCIDENT = (
    select(Incident, IncidentRestriction.incident_id, IncidentMember.user_id)
    .outerjoin(IncidentRestriction, IncidentRestriction.incident_id == Incident.id)
    .outerjoin(
        IncidentMember,
        and_(
            IncidentMember.incident_id == Incident.id,
            IncidentMember.user_id == bindparam("user"),
        ),
    )
    .where(Incident.id == bindparam("incident"))
)
_ITEM_ACCESS = (
    select(IncidentItem.incident_id, IncidentRestriction.incident_id, IncidentMember.user_id)
    .outerjoin(IncidentRestriction, IncidentRestriction.incident_id == IncidentItem.incident_id)
    .outerjoin(
        IncidentMember,
        and_(
            IncidentMember.incident_id == IncidentItem.incident_id,
            IncidentMember.user_id == bindparam("user"),
        ),
    )
    .where(IncidentItem.item_id == bindparam("item"))
)


def check_incident(session: Session, principal: Principal, incident_id: int) -> Incident:
    """The incident, or NotFound: a restricted incident is not even admitted to exist."""
    row = session.execute(
        _CHECK_INCIDENT, {"incident": incident_id, "user": principal.user_id}
    ).first()
    if row is None:
        raise NotFoundError(f"there is no incident {incident_id}")
    incident, restricted, member = row
    session.info[("restricted", incident_id)] = restricted is not None
    if restricted is not None and member is None and not principal.is_admin:
        raise NotFoundError(f"there is no incident {incident_id}")
    return incident


def item_access(session: Session, principal: Principal, item_id: int) -> tuple[bool, list[int]]:
    """Whether the principal may see an item, and the restricted incidents it belongs to.

    Returns (allowed, restricted incident ids); the item's incident ids are left in
    ``session.info[("item_incidents", item_id)]`` for the caller."""
    rows = session.execute(_ITEM_ACCESS, {"item": item_id, "user": principal.user_id}).all()
    session.info[("item_incidents", item_id)] = [r[0] for r in rows]
    restricted = [r[0] for r in rows if r[1] is not None]
    if not restricted or principal.is_admin or len(restricted) < len(rows):
        return True, restricted
    return any(r[2] is not None for r in rows), restricted


def record_view(
    vault: Vault,
    principal: Principal,
    *,
    action: str,
    subjects: list[str],
    params: dict[str, Any] | None = None,
) -> None:
    """Ledger one view or download of restricted material: who, what, when."""
    with vault.transaction() as session:
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type=f"access.{action}",
                actor=principal.actor,
                subjects=subjects,
                params={"via": principal.via, **(params or {})},
            ),
        )


def set_restricted(
    vault: Vault, principal: Principal, incident_id: int, restricted: bool, reason: str | None
) -> None:
    require_role(principal, "investigator")
    with vault.transaction() as session:
        check_incident(session, principal, incident_id)
        row = session.get(IncidentRestriction, incident_id)
        if restricted == (row is not None):
            return
        if restricted:
            session.add(
                IncidentRestriction(
                    incident_id=incident_id,
                    restricted_at=ledger.utc_now(),
                    restricted_by=principal.actor,
                )
            )
            if session.get(IncidentMember, (incident_id, principal.user_id)) is None:
                session.add(
                    IncidentMember(
                        incident_id=incident_id,
                        user_id=principal.user_id,
                        added_at=ledger.utc_now(),
                    )
                )
        else:
            session.delete(row)
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="incident.restrict" if restricted else "incident.unrestrict",
                actor=principal.actor,
                subjects=[f"incident:{incident_id}"],
                params={"reason": reason},
            ),
        )


def members(vault: Vault, principal: Principal, incident_id: int) -> list[dict[str, Any]]:
    with vault.reading() as session:
        check_incident(session, principal, incident_id)
        rows = session.execute(
            select(User, IncidentMember.added_at)
            .join(IncidentMember, IncidentMember.user_id == User.id)
            .where(IncidentMember.incident_id == incident_id)
            .order_by(User.name)
        )
        return [
            {"id": u.id, "name": u.name, "role": u.role, "added_at": added} for u, added in rows
        ]


def change_member(
    vault: Vault,
    principal: Principal,
    incident_id: int,
    user_name: str,
    *,
    add: bool,
    reason: str | None = None,
) -> None:
    require_role(principal, "investigator")
    with vault.transaction() as session:
        check_incident(session, principal, incident_id)
        user = session.scalar(select(User).where(User.name == user_name.strip()))
        if user is None:
            raise RefusedInputError(f"there is no user called {user_name}")
        current = session.get(IncidentMember, (incident_id, user.id))
        if add and current is None:
            session.add(
                IncidentMember(incident_id=incident_id, user_id=user.id, added_at=ledger.utc_now())
            )
        elif not add and current is not None:
            session.execute(
                delete(IncidentMember).where(
                    IncidentMember.incident_id == incident_id, IncidentMember.user_id == user.id
                )
            )
        else:
            return
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="incident.member_add" if add else "incident.member_remove",
                actor=principal.actor,
                subjects=[f"incident:{incident_id}", f"user:{user.id}"],
                params={"user": user.name, "reason": reason},
            ),
        )

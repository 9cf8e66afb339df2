"""Accounts: users and roles, passwords, browser sessions, API tokens, login rate limiting.

Passwords are argon2 hashes; session ids and API tokens are random 32-byte values of which only
the SHA-256 is stored. Creating a user, changing a role and issuing or revoking a token are ledger
entries, so who could do what, and since when, is part of the tamper-evident record.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from testigo.errors import NotFoundError, RefusedInputError, TestigoError
from testigo.vault import ledger
from testigo.vault.service import Vault
from testigo.web.models import ROLES, ApiToken, LoginAttempt, User, WebSession

RANK = {"viewer": 0, "contributor": 1, "investigator": 2, "admin": 3}
SESSION_SECONDS = 12 * 3600
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_MAX_FAILURES = 5
_CACHE_SECONDS = 5.0

_hasher = PasswordHasher()


class LoginRefused(TestigoError):
    """Wrong name or password (deliberately not saying which)."""


class TooManyAttempts(TestigoError):
    """Too many failed logins from this address or for this name; try again later."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the user and how they proved it."""

    user_id: int
    name: str
    role: str
    via: str  # session | token
    csrf_token: str | None = None
    session_id: str | None = None

    @property
    def actor(self) -> str:
        return f"web:{self.name}"

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "role": self.role, "via": self.via}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(15)


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 100 or any(c.isspace() for c in clean):
        raise RefusedInputError("a user name needs 1 to 100 characters and no spaces")
    return clean


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise RefusedInputError(f"role must be one of: {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password) < 10:
        raise RefusedInputError("a password needs at least 10 characters")
    if len(password) > 1024:
        raise RefusedInputError("a password can have at most 1024 characters")
    return password


def user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "created_by": user.created_by,
    }


def create_user(
    vault: Vault, name: str, role: str, *, actor: str, password: str | None = None
) -> tuple[User, str]:
    """Create a user; returns the user and the password (generated when none was given)."""
    name = _check_name(name)
    _check_role(role)
    password = _check_password(password) if password is not None else new_password()
    hashed = _hasher.hash(password)
    with vault.transaction() as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise RefusedInputError(f"there is already a user called {name}")
        user = User(
            name=name,
            role=role,
            password_hash=hashed,
            disabled=False,
            created_at=ledger.utc_now(),
            created_by=actor,
        )
        session.add(user)
        session.flush()
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="account.create",
                actor=actor,
                subjects=[f"user:{user.id}"],
                params={"name": name, "role": role},
            ),
        )
        return user, password


def update_user(
    vault: Vault,
    user_id: int,
    *,
    actor: str,
    role: str | None = None,
    disabled: bool | None = None,
    reason: str | None = None,
) -> User:
    with vault.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"there is no user {user_id}")
        changes: dict[str, Any] = {}
        if role is not None and role != user.role:
            changes["role"] = {"from": user.role, "to": _check_role(role)}
            user.role = role
        if disabled is not None and disabled != user.disabled:
            changes["disabled"] = {"from": user.disabled, "to": disabled}
            user.disabled = disabled
        if changes:
            if user.disabled or "role" in changes:
                session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            ledger.append_entry(
                session,
                ledger.NewEntry(
                    entry_type="account.update",
                    actor=actor,
                    subjects=[f"user:{user.id}"],
                    params={"name": user.name, "changes": changes, "reason": reason},
                ),
            )
        _CACHE.clear()
        return user


def list_users(vault: Vault) -> list[User]:
    with vault.reading() as session:
        return list(session.scalars(select(User).order_by(User.name)))


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name.strip()))


def _address_key(address: str) -> str:
    return address[:64]


def authenticate(vault: Vault, name: str, password: str, address: str) -> User:
    """Check a password, refusing early while the name or address has too many recent failures."""
    now = time.time()
    since = now - LOGIN_WINDOW_SECONDS
    name = name.strip()[:100]
    address = _address_key(address)
    with vault.reading() as session:
        by_name = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.name == name, LoginAttempt.at > since)
        )
        by_address = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.address == address, LoginAttempt.at > since)
        )
        if int(by_name or 0) >= LOGIN_MAX_FAILURES or int(by_address or 0) >= 4 * (
            LOGIN_MAX_FAILURES
        ):
            raise TooManyAttempts("too many failed logins: wait 15 minutes and try again")
        user = find_user(session, name)
    ok = False
    if user is not None and not user.disabled:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time as a real check, so timing does not reveal which names exist.
        _hasher.hash(password)
    with vault.transaction() as session:
        if not ok:
            session.add(LoginAttempt(name=name, address=address, at=now))
        else:
            session.execute(delete(LoginAttempt).where(LoginAttempt.name == name))
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < since))
    if not ok or user is None:
        raise LoginRefused("wrong user name or password")
    return user


def set_password(vault: Vault, user_id: int, password: str, *, actor: str) -> None:
    hashed = _hasher.hash(_check_password(password))
    with vault.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"there is no user {user_id}")
        user.password_hash = hashed
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="account.password",
                actor=actor,
                subjects=[f"user:{user.id}"],
                params={"name": user.name},
            ),
        )
    _CACHE.clear()


# Sessions and tokens are checked on every request; a few seconds of memory spares the database.
_CACHE: dict[str, tuple[float, Principal | None]] = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: str) -> tuple[bool, Principal | None]:
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return True, hit[1]
    return False, None


def _remember(key: str, value: Principal | None) -> None:
    with _CACHE_LOCK:
        if len(_CACHE) > 10_000:
            _CACHE.clear()
        _CACHE[key] = (time.monotonic() + _CACHE_SECONDS, value)


def forget_cached() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def start_session(vault: Vault, user: User) -> tuple[str, str]:
    """A new session for a user: returns the cookie value and the CSRF token."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with vault.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < time.time()))
        session.add(
            WebSession(
                id=digest(cookie),
                user_id=user.id,
                csrf_token=csrf,
                created_at=ledger.utc_now(),
                expires_at=time.time() + SESSION_SECONDS,
            )
        )
    return cookie, csrf


def end_session(vault: Vault, cookie: str) -> None:
    with vault.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.id == digest(cookie)))
    forget_cached()


def principal_for_session(vault: Vault, cookie: str) -> Principal | None:
    key = "s:" + digest(cookie)
    hit, value = _cached(key)
    if hit:
        return value
    with vault.reading() as session:
        row = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.id == key[2:])
        ).first()
    principal: Principal | None = None
    if row is not None:
        web_session, user = row
        if web_session.expires_at > time.time() and not user.disabled:
            principal = Principal(
                user.id,
                user.name,
                user.role,
                "session",
                csrf_token=web_session.csrf_token,
                session_id=web_session.id,
            )
    _remember(key, principal)
    return principal


def create_token(vault: Vault, user_id: int, name: str, *, actor: str) -> tuple[ApiToken, str]:
    """Issue an API token; the token itself is returned once and never stored."""
    label = " ".join(name.split())[:100] or "token"
    token = "tgo_" + secrets.token_urlsafe(32)
    with vault.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"there is no user {user_id}")
        row = ApiToken(
            user_id=user_id,
            name=label,
            token_hash=digest(token),
            created_at=ledger.utc_now(),
            revoked=False,
        )
        session.add(row)
        session.flush()
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="token.create",
                actor=actor,
                subjects=[f"user:{user_id}", f"token:{row.id}"],
                params={"name": label, "user": user.name},
            ),
        )
        return row, token


def token_dict(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at, "revoked": row.revoked}


def list_tokens(vault: Vault, user_id: int) -> list[ApiToken]:
    with vault.reading() as session:
        return list(
            session.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
            )
        )


def revoke_token(vault: Vault, token_id: int, *, principal: Principal) -> None:
    with vault.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or (row.user_id != principal.user_id and not principal.is_admin):
            raise NotFoundError(f"there is no token {token_id}")
        if not row.revoked:
            row.revoked = True
            ledger.append_entry(
                session,
                ledger.NewEntry(
                    entry_type="token.revoke",
                    actor=principal.actor,
                    subjects=[f"user:{row.user_id}", f"token:{row.id}"],
                    params={"name": row.name},
                ),
            )
    forget_cached()


def principal_for_token(vault: Vault, token: str) -> Principal | None:
    key = "t:" + digest(token)
    hit, value = _cached(key)
    if hit:
        return value
    with vault.reading() as session:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == key[2:])
        ).first()
    principal: Principal | None = None
    if row is not None:
        api_token, user = row
        if not api_token.revoked and not user.disabled:
            principal = Principal(user.id, user.name, user.role, "token")
    _remember(key, principal)
    return principal

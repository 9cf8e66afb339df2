"""First start: the vault, the example incident and an admin account whose password is printed once.

Safe to run on every start: the vault and the example are created only when missing, and the admin
account only while there is no account at all. The password is never stored, only its hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from testigo.config import Settings
from testigo.vault.service import init_vault, open_vault
from testigo.web import accounts
from testigo.web.models import User

ADMIN_NAME = "admin"


@dataclass(frozen=True)
class Bootstrap:
    example_incident_id: int | None
    admin_name: str | None
    admin_password: str | None


def bootstrap(settings: Settings, *, load_example: bool = True) -> Bootstrap:
    init_vault(settings)
    vault = open_vault(settings)
    try:
        example_id: int | None = None
        if load_example:
            from testigo.demo import load_example as load

            example_id = load(vault, actor=settings.actor).incident_id
        with vault.reading() as session:
            users = int(session.scalar(select(func.count()).select_from(User)) or 0)
        if users:
            return Bootstrap(example_id, None, None)
        user, password = accounts.create_user(
            vault, ADMIN_NAME, "admin", actor=f"bootstrap:{settings.actor}"
        )
        return Bootstrap(example_id, user.name, password)
    finally:
        vault.dispose()

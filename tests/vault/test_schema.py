"""Opening a vault checks the schema version without loading Alembic; upgrades still use it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from testigo.config import Settings
from testigo.db.engine import (
    alembic_config,
    current_revisions,
    head_revisions,
    make_engine,
    require_schema,
)
from testigo.errors import NotInitializedError
from testigo.vault.service import init_vault, open_vault


def test_heads_read_from_files_match_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revisions() == set(script.get_heads())
    assert len(head_revisions()) >= 1


def test_uninitialised_database_is_refused(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        assert current_revisions(engine) == set()
        with pytest.raises(NotInitializedError, match="testigo init"):
            require_schema(engine)
    finally:
        engine.dispose()


def test_older_schema_is_refused_with_both_versions(settings: Settings) -> None:
    init_vault(settings)
    engine = make_engine(settings.database_url)
    try:
        assert current_revisions(engine) == head_revisions()
        require_schema(engine)
        newest = sorted(head_revisions())[-1]
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = '0001' WHERE version_num = :v"),
                {"v": newest},
            )
        with pytest.raises(NotInitializedError, match="run `testigo init` to upgrade"):
            require_schema(engine)
    finally:
        engine.dispose()


def test_opening_a_vault_does_not_load_alembic_or_media(settings: Settings) -> None:
    init_vault(settings)
    fields = {
        "home": str(settings.home),
        "database_url": settings.database_url,
        "blobs_url": settings.blobs_url,
        "actor": settings.actor,
        "checkpoint_origin": settings.checkpoint_origin,
    }
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from testigo.config import Settings\n"
        "from testigo.vault.service import open_vault\n"
        f"f = json.loads({json.dumps(fields)!r})\n"
        "s = Settings(**{**f, 'home': Path(f['home'])})\n"
        "open_vault(s).dispose()\n"
        "print(sorted(m for m in ('alembic', 'av', 'numpy', 'PIL') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
    vault = open_vault(settings)
    vault.dispose()

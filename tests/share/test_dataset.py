"""The public dataset: one row per incident, nothing protected in it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from testigo.demo import EXAMPLE_ARTICLE, EXAMPLE_STATEMENT
from testigo.errors import UsageError
from testigo.records.importer import import_article
from testigo.records.incidents import update_incident
from testigo.share.dataset import COLUMNS, export_dataset
from testigo.vault.service import Vault


@pytest.fixture
def incidents(vault: Vault) -> tuple[int, int]:
    first = import_article(vault, EXAMPLE_ARTICLE.encode(), filename="news.txt", actor="t")
    import_article(
        vault,
        EXAMPLE_STATEMENT.encode(),
        filename="statement.txt",
        actor="t",
        incident_id=first.incident_id,
        kind="official_statement",
    )
    second = import_article(
        vault,
        EXAMPLE_ARTICLE.replace("Tomas Arbolada", "Rafael Quintero")
        .replace("Marisela Arbolada", "Ines Quintero")
        .replace("Arbolada", "Quintero")
        .encode(),
        filename="other.txt",
        actor="t",
    )
    assert second.incident_id != first.incident_id
    update_incident(
        vault,
        second.incident_id,
        "confidentiality",
        "confidential",
        reason="witness safety",
        actor="t",
    )
    return first.incident_id, second.incident_id


def test_dataset_csv_and_json(vault: Vault, incidents: tuple[int, int], tmp_path: Path) -> None:
    shown, hidden = incidents
    summary = export_dataset(vault, tmp_path / "incidents.csv", fmt="csv")
    assert summary["rows"] == 1
    with (tmp_path / "incidents.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == COLUMNS
    [row] = rows
    assert int(row["incident_id"]) == shown
    assert row["city"] == "Salem" and row["state"] == "Oregon"
    assert "Immigration and Customs Enforcement" in row["agencies"]
    assert row["use_of_force"] == "yes"
    assert row["warrant_shown"] == "no"
    assert int(row["sources"]) == 2
    # Named only when public: the spokesperson, never the family.
    assert "Dana Whitlock" in row["public_people"]
    text = (tmp_path / "incidents.csv").read_text(encoding="utf-8")
    assert "Marisela" not in text and "Tomas" not in text and "Quintero" not in text

    export_dataset(vault, tmp_path / "incidents.json", fmt="json")
    data = json.loads((tmp_path / "incidents.json").read_text(encoding="utf-8"))
    assert data["columns"] == COLUMNS
    assert [r["incident_id"] for r in data["incidents"]] == [shown]
    assert hidden not in [r["incident_id"] for r in data["incidents"]]


def test_dataset_refusals(vault: Vault, tmp_path: Path, run_main) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        export_dataset(vault, tmp_path / "x.xml", fmt="xml")
    (tmp_path / "exists.csv").write_text("keep me")
    with pytest.raises(UsageError, match="already exists"):
        export_dataset(vault, tmp_path / "exists.csv", fmt="csv")
    assert (tmp_path / "exists.csv").read_text() == "keep me"
    code, out, _ = run_main("export", "--dataset", "csv", "--out", str(tmp_path / "d.csv"))
    assert code == 0 and "written to" in out

"""`testigo incident edit-record`: the same record edits as the web app, from the command line."""

from __future__ import annotations

import json

from testigo.config import load_settings
from testigo.vault import ledger
from testigo.vault.service import open_vault

from .conftest import ARTICLES


def _entries(subject: str, entry_type: str) -> list[dict[str, object]]:
    vault = open_vault(load_settings())
    try:
        with vault.reading() as session:
            rows = ledger.entries_for_subject(session, subject)
            return [json.loads(bytes(r.body)) for r in rows if r.entry_type == entry_type]
    finally:
        vault.dispose()


def test_edit_record_from_the_command_line(run_main) -> None:  # type: ignore[no-untyped-def]
    assert run_main("init")[0] == 0
    code, out, _ = run_main("article", "import", str(ARTICLES / "dayton-news.txt"), "--json")
    assert code == 0
    incident = str(json.loads(out)["incident_id"])
    code, out, _ = run_main("incident", "timeline", incident, "--json")
    event = json.loads(out)[0]
    code, out, err = run_main(
        "incident", "edit-record", incident, "event", str(event["id"]),
        "--set", "kind=use_of_force", "--set", "clock_time=14:25",
        "--reason", "seen in the video", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["changed"] == (
        ["clock_time"] if event["kind"] == "use_of_force" else ["kind", "clock_time"]
    )
    edits = _entries(f"event:{event['id']}", "event.edit")
    assert edits[-1]["params"] == {
        "field": "clock_time",
        **({"from": event["clock_time"]} if event.get("clock_time") else {}),
        "to": "14:25",
        "reason": "seen in the video",
    }
    code, _, err = run_main(
        "incident", "edit-record", incident, "event", str(event["id"]),
        "--set", "kind=teleport", "--reason", "r",
    )  # fmt: skip
    assert code != 0 and "kind must be one of" in err and "Traceback" not in err
    code, _, err = run_main(
        "incident", "edit-record", incident, "legal", "99999", "--set", "form=I-200",
        "--reason", "r",
    )  # fmt: skip
    assert code != 0 and "no legal action 99999" in err
    code, _, err = run_main(
        "incident", "edit-record", incident, "event", str(event["id"]), "--set", "kind=arrest",
        "--reason", " ",
    )  # fmt: skip
    assert code != 0 and "reason" in err
    code, _, err = run_main(
        "incident", "edit-record", incident, "place", "1", "--set", "x=y", "--reason", "r"
    )
    assert code != 0 and "event, person, legal" in err

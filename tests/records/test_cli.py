"""The CLI: `article import`, `incident show|claims|timeline|people|edit`, and `verify` after."""

from __future__ import annotations

import json

from .conftest import ARTICLES


def test_import_show_edit_verify(run_main) -> None:  # type: ignore[no-untyped-def]
    assert run_main("init")[0] == 0
    code, out, _ = run_main("article", "import", str(ARTICLES / "dayton-news.txt"), "--json")
    assert code == 0
    first = json.loads(out)
    code, out, _ = run_main("article", "import", str(ARTICLES / "dayton-statement.txt"), "--json")
    second = json.loads(out)
    assert second["joined"] and second["incident_id"] == first["incident_id"]
    incident = str(first["incident_id"])

    code, out, _ = run_main("incident", "show", incident, "--json")
    record = json.loads(out)
    assert set(record) >= {"incident", "sources", "people", "organizations", "places",
                           "legal_actions", "timeline", "quotes", "claims"}  # fmt: skip
    assert record["incident"]["status"] == "disputed"
    code, out, _ = run_main("incident", "claims", incident, "--json")
    statuses = {c["key"]: c["status"] for c in json.loads(out)}
    assert statuses["use_of_force"] == "contradicted"
    assert statuses["location.city"] == "corroborated"
    assert run_main("incident", "timeline", incident, "--json")[0] == 0
    assert run_main("incident", "people", incident)[0] == 0
    assert run_main("incident", "show", incident)[0] == 0

    code, out, _ = run_main(
        "incident", "edit", incident, "--field", "title", "--value", "Dayton arrest",
        "--reason", "clearer title", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["title"] == "Dayton arrest"
    code, _, err = run_main(
        "incident", "edit", incident, "--field", "colour", "--value", "x", "--reason", "y"
    )
    assert code != 0 and "--field" in err

    code, out, _ = run_main("verify", "--json")
    assert code == 0 and json.loads(out)["ok"]


def test_import_refuses_bad_input_clearly(run_main, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert run_main("init")[0] == 0
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code, _, err = run_main("article", "import", str(empty))
    assert code != 0 and "nothing was stored" in err and "Traceback" not in err
    code, _, err = run_main("article", "import", str(tmp_path / "missing.txt"))
    assert code != 0 and "no such file" in err
    code, _, err = run_main("article", "import", "ftp://example.invalid/x")
    assert code != 0
    code, out, _ = run_main("incident", "list", "--json")
    assert json.loads(out) == []

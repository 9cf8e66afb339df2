"""The commands: analyze --wait, jobs list/cancel/retry, transcript show/edit/import, matches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from testigo.jobs import queue
from testigo.vault.service import Vault

from .conftest import ingest

Run = Callable[..., tuple[int, str, str]]


@pytest.mark.slow
def test_analyze_wait_jobs_and_matches(
    vault: Vault, media: dict[str, Path], run_main: Run, no_auto: None
) -> None:
    item = ingest(vault, media["video"])
    code, out, err = run_main("analyze", str(item.item_id), "--only", "probe", "--wait", "--json")
    assert code == 0, err
    jobs = json.loads(out)["jobs"]
    assert [(j["step"], j["status"]) for j in jobs] == [("probe", "succeeded")]

    code, out, _ = run_main("analyze", item.sha256[:12], "--only", "probe", "--json")
    assert code == 0 and json.loads(out)["jobs"][0]["id"] == jobs[0]["id"]  # idempotent

    code, out, _ = run_main("jobs", "list", "--json")
    assert code == 0 and json.loads(out)["counts"]["succeeded"] == 1

    bad = ingest(vault, media["truncated"])
    code, out, err = run_main("analyze", str(bad.item_id), "--only", "keyframes", "--wait")
    assert code == 1
    failed = queue.list_jobs(vault, status="failed")[0]
    assert "truncat" in (failed.error or "").lower() or "corrupt" in (failed.error or "").lower()
    code, out, _ = run_main("jobs", "retry", str(failed.id))
    assert code == 0 and "queued again" in out
    code, out, _ = run_main("jobs", "cancel", str(failed.id))
    assert code == 0 and "cancelled" in out
    code, _, err = run_main("jobs", "cancel", str(failed.id))
    assert code == 2 and "nothing to cancel" in err

    code, out, _ = run_main("matches", str(item.item_id), "--json")
    assert code == 0 and json.loads(out)["matches"] == []
    code, _, err = run_main("analyze", "999")
    assert code == 2 and "no item 999" in err
    code, _, err = run_main("analyze")
    assert code == 2 and "--all" in err


def test_transcript_commands(
    vault: Vault, media: dict[str, Path], run_main: Run, tmp_path: Path, no_auto: None
) -> None:
    item = ingest(vault, media["video"])
    captions = tmp_path / "c.srt"
    captions.write_text("1\n00:00:01,000 --> 00:00:02,000\nStep out of the car.\n")
    code, out, err = run_main("transcript", "import", str(item.item_id), str(captions))
    assert code == 0, err
    code, out, _ = run_main("transcript", "show", str(item.item_id), "--json")
    line = json.loads(out)["lines"][0]
    assert line["text"] == "Step out of the car." and line["start"] == 1.0
    code, out, err = run_main(
        "transcript",
        "edit",
        str(line["annotation_id"]),
        "--text",
        "Step out now.",
        "--reason",
        "clearer on replay",
    )
    assert code == 0, err
    code, out, _ = run_main("transcript", "show", str(item.item_id))
    assert "Step out now." in out and "(corrected)" in out
    code, out, _ = run_main("transcript", "show", str(item.item_id), "--machine")
    assert "Step out of the car." in out
    junk = tmp_path / "junk.vtt"
    junk.write_text("not captions")
    code, _, err = run_main("transcript", "import", str(item.item_id), str(junk))
    assert code == 2 and "WEBVTT" in err

"""`testigo capture ...`: links for a network, listing, attaching and closing captures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from testigo.capture import service
from testigo.capture.errors import TokenRefused, TokenUsed
from testigo.vault.service import Vault

from .conftest import sha
from .media import decoded_frames, make_webm, split_clusters

BASE = "https://testigo.example.org"


def make_link(run_main: Any, *args: str) -> dict[str, Any]:
    code, stdout, stderr = run_main(
        "capture", "link", "create", "--base-url", BASE, *args, "--json"
    )
    assert code == 0, stderr
    return dict(json.loads(stdout))


def test_link_create_list_and_revoke(vault: Vault, run_main: Any, tmp_path: Path) -> None:
    code, stdout, _ = run_main("incident", "create", "Raid on 5th street", "--json")
    assert code == 0
    incident = json.loads(stdout)["id"]
    png = tmp_path / "link.png"
    made = make_link(
        run_main,
        "--label",
        "Eastside hotline",
        "--network",
        "RRN East",
        "--incident",
        str(incident),
        "--expires",
        "90m",
        "--uses",
        "2",
        "--webhook",
        "https://chat.example.org/hooks/abc",
        "--email",
        "duty@example.org",
        "--qr-file",
        str(png),
    )
    assert made["link"] == f"{BASE}/capture/{made['token']}"
    assert made["uses"] == 2 and made["incident_id"] == incident
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The link works twice (two devices), then no more; each capture joins the incident.
    first = service.open_session(vault, made["token"], mime_type="video/webm")
    service.open_session(vault, made["token"], mime_type="video/webm")
    with pytest.raises(TokenUsed):
        service.open_session(vault, made["token"], mime_type="video/webm")
    assert service.get_session(vault, first.public_id).incident_id == incident

    other = make_link(run_main)
    code, stdout, _ = run_main("capture", "link", "list", "--json")
    links = {row["id"]: row for row in json.loads(stdout)["links"]}
    assert links[made["id"]]["state"] == "used" and links[made["id"]]["used"] == 2
    assert links[made["id"]]["contacts"] == {"webhooks": 1, "emails": 1}
    assert links[other["id"]]["state"] == "active"
    assert "token" not in links[other["id"]]
    code, stdout, _ = run_main("capture", "link", "list")
    assert code == 0 and "Eastside" in stdout and "2/2" in stdout

    code, stdout, _ = run_main("capture", "link", "revoke", str(other["id"]), "--json")
    assert code == 0 and json.loads(stdout)["state"] == "revoked"
    with pytest.raises(TokenRefused, match="revoked"):
        service.open_session(vault, other["token"], mime_type="video/webm")
    code, _, stderr = run_main("capture", "link", "revoke", str(other["id"]))
    assert code == 2 and "already revoked" in stderr
    code, _, stderr = run_main("capture", "link", "revoke", "9999")
    assert code == 2 and "no capture link 9999" in stderr
    code, stdout, _ = run_main("log", "show", "--type", "capture.revoke", "--json")
    assert code == 0 and f"capture-token:{other['id']}" in stdout


def test_link_create_prints_the_link_and_a_terminal_qr(
    vault: Vault, run_main: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESTIGO_PUBLIC_URL", BASE + "/")
    svg = tmp_path / "link.svg"
    code, stdout, stderr = run_main("capture", "link", "create", "--qr", "--qr-file", str(svg))
    assert code == 0, stderr
    link = next(line for line in stdout.splitlines() if line.startswith(BASE))
    token = link.removeprefix(f"{BASE}/capture/")
    assert service.check_token(vault, token).max_sessions == 1
    assert "█" in stdout or "▀" in stdout or "▄" in stdout  # the QR code's blocks
    assert "shown only now" in stderr
    assert "<svg" in svg.read_text() and svg.name in stdout
    code, _, stderr = run_main("capture", "link", "create", "--qr-file", str(svg))
    assert code == 2 and "never overwritten" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "soon"], "not a duration"),
        (["--expires", "0h"], "longer than zero"),
        (["--expires", "31d"], "30 days"),
        (["--uses", "0"], "between 1 and"),
        (["--incident", "424242"], "no incident 424242"),
        (["--webhook", "ftp://x"], "http(s) URL"),
        (["--qr-file", "code.gif"], ".png or .svg"),
        (["--qr-file", "/nonexistent/folder/code.svg"], "no folder"),
    ],
)
def test_link_create_refusals_are_clear(
    vault: Vault, run_main: Any, args: list[str], message: str
) -> None:
    code, stdout, stderr = run_main("capture", "link", "create", "--base-url", BASE, *args)
    assert code == 2 and message in stderr, stderr
    assert "/capture/" not in stdout
    assert service.list_tokens(vault) == []  # refused before any link was made


def test_link_create_needs_a_public_address(
    vault: Vault, run_main: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TESTIGO_PUBLIC_URL", raising=False)
    code, _, stderr = run_main("capture", "link", "create")
    assert code == 2 and "TESTIGO_PUBLIC_URL" in stderr
    assert service.list_tokens(vault) == []  # nothing was created


def test_list_attach_close_idle_and_verify(vault: Vault, run_main: Any) -> None:
    silent = service.open_session(
        vault, service.create_token(vault, actor="t").token, mime_type="video/webm"
    )
    parts = split_clusters(make_webm(seconds=3.0))
    offset = 0
    for index, part in enumerate(parts[:2]):
        service.append_chunk(
            vault,
            silent.public_id,
            silent.upload_key,
            index=index,
            offset=offset,
            data=part,
            sha256_header=sha(part),
            duration_ms=1000,
        )
        offset += len(part)
    code, stdout, _ = run_main("capture", "list", "--json")
    (row,) = json.loads(stdout)["captures"]
    assert row["id"] == silent.public_id and row["status"] == "live"
    assert row["saved_up_to"] == "00:02" and row["chunks"] == 2
    code, stdout, _ = run_main("capture", "list")
    assert code == 0 and silent.public_id in stdout and "00:02" in stdout

    code, stdout, _ = run_main("incident", "create", "Checkpoint stop", "--json")
    incident = json.loads(stdout)["id"]
    code, stdout, _ = run_main("capture", "attach", silent.public_id, str(incident), "--json")
    assert code == 0 and json.loads(stdout)["incident_id"] == incident
    code, _, stderr = run_main("capture", "attach", "no-such-capture", str(incident))
    assert code == 2 and "no capture session" in stderr
    code, _, stderr = run_main("capture", "attach", silent.public_id, "424242")
    assert code == 2 and "no incident 424242" in stderr

    # Silent for longer than --after: closed as interrupted, the partial recording plays.
    time.sleep(0.3)
    code, _, stderr = run_main("capture", "close-idle", "--after", "-1")
    assert code == 2 and "above zero" in stderr
    code, stdout, stderr = run_main("capture", "close-idle", "--after", "0.2", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    (closed,) = report["closed"]
    assert closed["session"] == silent.public_id and closed["status"] == "interrupted"
    assert closed["chunks"] == 2 and report["failed"] == {}
    with vault.blobs.open(closed["sha256"]) as handle:
        assert decoded_frames(handle.read()) > 0
    code, stdout, _ = run_main("capture", "list", "--status", "interrupted", "--json")
    assert [c["id"] for c in json.loads(stdout)["captures"]] == [silent.public_id]
    code, stdout, _ = run_main("capture", "list", "--status", "open", "--json")
    assert json.loads(stdout)["captures"] == []
    code, _, stderr = run_main("capture", "list", "--status", "sleeping")
    assert code == 2 and "--status must be one of" in stderr
    code, stdout, _ = run_main("capture", "close-idle", "--after", "0.2")
    assert code == 0 and "Closed 0 captures" in stdout
    code, stdout, _ = run_main("capture", "show", silent.public_id)
    assert code == 0 and "interrupted" in stdout and "00:02" in stdout

    code, stdout, _ = run_main("verify", "--json")
    assert code == 0, stdout
    code, stdout, _ = run_main("log", "show", "--type", "capture.interrupt", "--json")
    assert code == 0 and "silent for" in stdout


def test_close_by_hand(vault: Vault, run_main: Any, opened: tuple[str, str]) -> None:
    data = split_clusters(make_webm(seconds=2.0))[0]
    service.append_chunk(
        vault, opened[0], opened[1], index=0, offset=0, data=data, sha256_header=sha(data)
    )
    code, stdout, _ = run_main("capture", "close", opened[0], "--json")
    assert code == 0 and json.loads(stdout)["status"] == "abandoned"
    code, _, stderr = run_main("capture", "close", "nope")
    assert code == 2 and "no capture session" in stderr


def test_capture_ids_never_start_with_a_dash() -> None:
    from testigo.capture.service import new_public_id

    ids = [new_public_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)


def test_usage_errors_are_plain_messages_not_tracebacks() -> None:
    import subprocess
    import sys
    from pathlib import Path

    testigo = str(Path(sys.executable).parent / "testigo")
    for args in (["--bogus"], ["capture", "show", "-abc"], ["ingest"]):
        done = subprocess.run([testigo, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "Usage:" in done.stderr and "Error:" in done.stderr

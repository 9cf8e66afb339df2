"""`testigo capture ...`: capture links for a rapid-response network, and the captures they start.

The commands call the same services as the web app (``testigo.capture.service`` and
``testigo.capture.recording``); heavy imports happen inside the commands so `testigo` starts fast.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from testigo.cli import JsonOption, emit_json, err, out, vault_session
from testigo.config import load_settings
from testigo.errors import UsageError

capture_app = typer.Typer(
    help="Live capture: links for rapid-response networks, captures, closing silent ones.",
    no_args_is_help=True,
)
link_app = typer.Typer(
    help="Capture links: each opens one new recording (or --uses N) and nothing else.",
    no_args_is_help=True,
)
capture_app.add_typer(link_app, name="link")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*$", re.IGNORECASE)
_HOURS_PER_UNIT = {"m": 1 / 60, "h": 1.0, "": 1.0, "d": 24.0}
STATUS_GROUPS = {
    "open": ("live", "stopped"),
    "ended": ("finished", "abandoned", "interrupted"),
    "live": ("live",),
    "stopped": ("stopped",),
    "finished": ("finished",),
    "abandoned": ("abandoned",),
    "interrupted": ("interrupted",),
}


def parse_expiry(text: str) -> float:
    """``90m``, ``24h``, ``7d`` or a number of hours, as hours."""
    found = _DURATION.match(text)
    if found is None:
        raise UsageError(
            f"--expires {text!r} is not a duration: write e.g. 90m, 24h or 7d (30 days at most)"
        )
    hours = float(found.group(1)) * _HOURS_PER_UNIT[found.group(2).lower()]
    if hours <= 0:
        raise UsageError("--expires must be longer than zero")
    return hours


def _check_qr_path(path: Path) -> str:
    """The QR file's kind; checked before the link is made, so a refusal wastes no link."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise UsageError(f"--qr-file must end in .png or .svg, not {path.name!r}")
    if path.exists():
        raise UsageError(f"{path} already exists: it is never overwritten")
    if not path.parent.is_dir():
        raise UsageError(f"there is no folder {path.parent}")
    return kind


def _write_qr(link: str, path: Path, kind: str) -> None:
    import segno

    segno.make(link, error="m").save(str(path), kind=kind, scale=8, border=4)


# --- links ------------------------------------------------------------------------------------


@link_app.command("create")
def link_create(
    label: Annotated[
        str | None, typer.Option(help="What the link is for, e.g. 'Eastside hotline'.")
    ] = None,
    network: Annotated[str | None, typer.Option(help="The network that shares it.")] = None,
    incident: Annotated[
        int | None, typer.Option("--incident", help="Attach its recordings to this incident.")
    ] = None,
    expires: Annotated[
        str, typer.Option(help="How long the link can start a recording: 90m, 24h, 7d (≤ 30d).")
    ] = "24h",
    uses: Annotated[
        int, typer.Option(help="How many recordings the link may start (from any device).")
    ] = 1,
    webhook: Annotated[
        list[str] | None,
        typer.Option("--webhook", help="Alert this URL when a recording starts (repeatable)."),
    ] = None,
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="Alert this address when a recording starts (repeatable)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="The server's public address (default: TESTIGO_PUBLIC_URL)."
        ),
    ] = None,
    qr: Annotated[bool, typer.Option("--qr", help="Print the link's QR code here.")] = False,
    qr_file: Annotated[
        Path | None, typer.Option("--qr-file", help="Write the QR code to a .png or .svg file.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a capture link; the link (with its token) is printed only this once."""
    from testigo.capture import service

    hours = parse_expiry(expires)
    base = (base_url or service.public_url() or "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise UsageError(
            "phones need the server's public address: set TESTIGO_PUBLIC_URL or pass "
            "--base-url https://…"
        )
    qr_kind = _check_qr_path(qr_file) if qr_file is not None else ""
    with vault_session() as vault:
        made = service.create_token(
            vault,
            actor=load_settings().actor,
            label=label,
            network=network,
            hours=hours,
            webhooks=webhook,
            emails=email,
            incident_id=incident,
            uses=uses,
        )
    link = service.capture_link(base, made.token)
    if qr_file is not None:
        _write_qr(link, qr_file, qr_kind)
    if as_json:
        emit_json(
            {
                "id": made.id,
                "token": made.token,
                "link": link,
                "expires_at": made.expires_at,
                "uses": uses,
                "incident_id": incident,
                "label": label,
                "network": network,
                "qr_file": str(qr_file) if qr_file else None,
            }
        )
        return
    recordings = "1 recording" if uses == 1 else f"{uses} recordings"
    out.print(f"Capture link {made.id} (starts {recordings}, until {made.expires_at}):")
    sys.stdout.write(link + "\n")
    if qr:
        import segno

        segno.make(link, error="m").terminal(out=sys.stdout, compact=True)
    if qr_file is not None:
        out.print(f"QR code written to {escape(str(qr_file))}")
    err.print("The link is shown only now: the vault keeps only a hash of its token.")


@link_app.command("list")
def link_list(as_json: JsonOption = False) -> None:
    """Capture links, newest first: active, used, expired or revoked."""
    from testigo.capture import service

    with vault_session() as vault:
        rows = service.list_tokens(vault)
    if as_json:
        emit_json({"links": rows})
        return
    if not rows:
        out.print("No capture links yet: `testigo capture link create`.")
        return
    table = Table("link", "state", "label", "network", "used", "expires (UTC)", "incident")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["state"],
            escape(r["label"] or ""),
            escape(r["network"] or ""),
            f"{r['used']}/{r['uses']}",
            r["expires_at"][:16].replace("T", " "),
            str(r["incident_id"] or ""),
        )
    out.print(table)


@link_app.command("revoke")
def link_revoke(
    link_id: Annotated[
        int, typer.Argument(help="The link's number (`testigo capture link list`).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Stop a link from starting recordings; recordings it already started go on. Ledgered."""
    from testigo.capture import service

    with vault_session() as vault:
        row = service.revoke_token(vault, link_id, actor=load_settings().actor)
    if as_json:
        emit_json(row)
    else:
        out.print(f"Capture link {row['id']} revoked at {row['revoked_at']}.")


# --- captures ---------------------------------------------------------------------------------


def _capture_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("status", "started (UTC)", "saved up to", "chunks", "incident", "item", "link")
    table.columns[0].no_wrap = True
    table.add_column("capture", no_wrap=True)
    for c in rows:
        link = c["link"] or {}
        table.add_row(
            c["status"],
            c["started_at"][:16].replace("T", " "),
            c["saved_up_to"],
            str(c["chunks"]),
            str(c["incident_id"] or ""),
            str(c["item_id"] or ""),
            escape(link.get("label") or str(link.get("id", ""))),
            c["id"],
        )
    return table


@capture_app.command("list")
def capture_list(
    status: Annotated[
        str | None,
        typer.Option(help=f"Only these: {', '.join(STATUS_GROUPS)} (ended = closed in any way)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Captures, newest first (200 at most), with how much is saved."""
    from testigo.capture import views

    if status is not None and status not in STATUS_GROUPS:
        raise UsageError(f"--status must be one of {', '.join(STATUS_GROUPS)}, not {status!r}")
    with vault_session() as vault:
        rows = views.list_sessions(vault)
    if status is not None:
        rows = [c for c in rows if c["status"] in STATUS_GROUPS[status]]
    if as_json:
        emit_json({"captures": rows})
        return
    if not rows:
        out.print("No captures." if status is None else f"No {status} captures.")
        return
    out.print(_capture_table(rows))


@capture_app.command("show")
def capture_show(
    capture_id: Annotated[str, typer.Argument(help="The capture's id.")],
    as_json: JsonOption = False,
) -> None:
    """One capture: status, saved up to, chain head, signed chunks, its recording item."""
    from testigo.capture import views

    with vault_session() as vault:
        _, data = views.session_detail(vault, capture_id)
    if as_json:
        emit_json(data)
        return
    for key in (
        "id",
        "status",
        "started_at",
        "saved_up_to",
        "chunks",
        "bytes",
        "signed_chunks",
        "last_chunk_at",
        "ended_at",
        "chain_head",
        "incident_id",
        "item_id",
    ):
        out.print(f"{key.replace('_', ' ') + ':':15} {escape(str(data[key]))}")


@capture_app.command("attach")
def capture_attach(
    capture_id: Annotated[str, typer.Argument(help="The capture's id.")],
    incident: Annotated[int, typer.Argument(help="The incident's number.")],
    as_json: JsonOption = False,
) -> None:
    """Attach a capture (and its recording, once assembled) to an incident. Ledgered."""
    from testigo.capture import recording, views

    with vault_session() as vault:
        recording.attach_to_incident(vault, capture_id, incident, actor=load_settings().actor)
        _, data = views.session_detail(vault, capture_id)
    if as_json:
        emit_json(data)
    else:
        out.print(f"Capture {capture_id} is attached to incident {incident}.")


def _print_closed(done: Any) -> None:
    item = f"item {done.item_id}" if done.item_id is not None else "no chunk received"
    out.print(
        f"  {done.public_id}: {done.status}, {done.chunks} chunks, {done.size:,} bytes, {item}"
    )


@capture_app.command("close")
def capture_close(
    capture_id: Annotated[str, typer.Argument(help="The capture's id.")],
    as_json: JsonOption = False,
) -> None:
    """Close a capture whose device is gone: what was received becomes a partial recording."""
    from testigo.capture import recording

    with vault_session() as vault:
        done = recording.close(vault, capture_id, status="abandoned", actor=load_settings().actor)
    if as_json:
        emit_json(done.to_dict())
        return
    out.print(f"Capture {capture_id} is closed.")
    _print_closed(done)


@capture_app.command("close-idle")
def close_idle(
    after: Annotated[
        float | None,
        typer.Option(
            help="Seconds of silence (default: TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS, 600).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Close, as interrupted, every open capture that has sent nothing for a while.

    `testigo serve` does this by itself; this is for servers run otherwise, or to do it now.
    """
    from testigo.capture import recording
    from testigo.config import capture_idle_close_seconds

    if after is not None and after <= 0:
        raise UsageError("--after must be a number of seconds above zero")
    if after is None and capture_idle_close_seconds() <= 0:
        raise UsageError(
            "closing silent captures is off (TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS=0): "
            "pass --after SECONDS"
        )
    with vault_session() as vault:
        sweep = recording.close_idle(vault, idle_seconds=after, actor=load_settings().actor)
    if as_json:
        emit_json(sweep.to_dict())
    else:
        count = len(sweep.closed)
        out.print(
            f"Closed {count} capture{'s' if count != 1 else ''} silent for "
            f"{sweep.idle_seconds:g} s or more."
        )
        for done in sweep.closed:
            _print_closed(done)
        for public_id, problem in sweep.failed.items():
            err.print(f"[red]could not close[/red] {public_id}: {escape(problem)}")
    if sweep.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `testigo capture ...` to the `testigo` app."""
    app.add_typer(capture_app, name="capture")

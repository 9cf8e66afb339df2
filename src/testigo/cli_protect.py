"""`testigo redact`, `testigo faces`, `testigo c2pa show`: public copies and their credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

c2pa_app = typer.Typer(help="C2PA Content Credentials in media files.", no_args_is_help=True)


def _item_id(ref: str) -> int:
    from testigo.cli import vault_session
    from testigo.vault.proofs import resolve_item

    with vault_session() as vault, vault.reading() as session:
        return int(resolve_item(session, ref).id)


def redact(
    item: Annotated[str, typer.Argument(help="Item id or SHA-256 (prefix of 8+ digits).")],
    faces: Annotated[
        str,
        typer.Option(help="all, none, or the track ids to hide: 'tracks 1,3' or '1,3'."),
    ] = "all",
    box: Annotated[
        list[str] | None,
        typer.Option("--box", help="Hide x,y,w,h (pixels) from start to end: '10,20,64,64@1-4.5'."),
    ] = None,
    mute: Annotated[
        list[str] | None,
        typer.Option("--mute", help="Silence start-end (seconds or m:ss), e.g. '12.5-14'."),
    ] = None,
    say: Annotated[
        list[str] | None,
        typer.Option(
            "--transcript-phrase",
            help="Silence where this phrase is said (needs --transcript).",
        ),
    ] = None,
    transcript: Annotated[
        Path | None,
        typer.Option(help="A JSON list of {start, end, text} segments or words."),
    ] = None,
    bleep: Annotated[bool, typer.Option("--bleep", help="Bleep instead of silence.")] = False,
    keep_metadata: Annotated[
        bool, typer.Option("--keep-metadata", help="Keep GPS, device and owner tags.")
    ] = False,
    style: Annotated[str, typer.Option("--style", help="blur, pixelate or mask.")] = "blur",
    background: Annotated[
        bool,
        typer.Option(
            "--background", help="Queue it as a job (see `testigo jobs`) instead of waiting."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Store a redacted public copy of ITEM: a new item, signed with C2PA, ledgered."""
    import json

    from testigo.cli import emit_json, err, out, vault_session
    from testigo.config import load_settings
    from testigo.errors import UsageError
    from testigo.protect.audio import TimeRange, ranges_from_transcript
    from testigo.protect.service import redact_item

    ranges: list[TimeRange] = [TimeRange.parse(m) for m in mute or []]
    if say:
        if transcript is None:
            raise UsageError("--transcript-phrase needs --transcript FILE")
        try:
            segments = json.loads(transcript.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the transcript {transcript}: {exc}") from exc
        if isinstance(segments, dict):
            segments = segments.get("segments", [])
        ranges += ranges_from_transcript(segments, say)
    item_id = _item_id(item)
    show = not as_json and err.is_terminal
    last = [-1]

    def progress(fraction: float, message: str | None) -> None:
        percent = int(fraction * 100)
        if show and percent // 10 != last[0] // 10:
            err.print(f"{percent:3d}% {message or ''}")
        last[0] = percent

    if background:
        from testigo.jobs import queue

        with vault_session() as vault:
            job = queue.enqueue(
                vault,
                "redact",
                item_id,
                params={
                    "faces": faces,
                    "boxes": box or [],
                    "mute": [f"{r.start}-{r.end}" for r in ranges],
                    "bleep": bleep,
                    "strip_metadata": not keep_metadata,
                    "kind": style,
                    "actor": load_settings().actor,
                },
                force=True,
                actor=load_settings().actor,
            )
        if as_json:
            emit_json(job.to_dict())
        else:
            out.print(
                f"Redaction queued as job {job.id}: follow it with `testigo jobs show {job.id}`"
            )
        return
    with vault_session() as vault:
        result = redact_item(
            vault,
            item_id,
            faces=faces,
            boxes=box or [],
            mute=ranges,
            bleep=bleep,
            strip_metadata=not keep_metadata,
            kind=style,
            actor=load_settings().actor,
            progress=progress,
        )
    if as_json:
        emit_json(result.to_dict())
        return
    params = result.params
    out.print(f"Redacted copy stored as item [bold]{result.item_id}[/bold] ({result.media_type})")
    out.print(f"  sha256:    {result.sha256}")
    out.print(f"  original:  item {result.original_item_id} ({result.original_sha256[:16]}…)")
    faces_info = params.get("faces", {})
    if faces_info.get("tracks_found") is not None:
        out.print(
            f"  faces:     {faces_info['mode']}, tracks found {faces_info['tracks_found']}, "
            f"detector run on {faces_info['frames_detected']} of {faces_info['frames']} frames"
        )
    removed = params.get("metadata", {}).get("removed", {})
    out.print(f"  metadata:  removed {sum(len(v) for v in removed.values())} tag(s)")
    out.print(
        f"  C2PA:      signed by {params['c2pa']['signer']}; ledger entry {result.ledger_seq}"
    )


def faces_command(
    item: Annotated[str, typer.Argument(help="Item id or SHA-256 of a video.")],
    frames: Annotated[
        bool, typer.Option("--frames", help="Include every frame's box in the JSON.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the face tracks of a video, with times and a thumbnail, to choose which to hide."""
    from rich.table import Table

    from testigo.cli import emit_json, out, vault_session
    from testigo.config import load_settings
    from testigo.protect.service import list_item_faces

    item_id = _item_id(item)
    settings = load_settings()
    thumbs = settings.home / "faces" / f"item-{item_id}"
    with vault_session() as vault:
        tracks = list_item_faces(vault, item_id, thumbnails=thumbs)
    data = tracks.to_dict()
    if not frames:
        for track in data["tracks"]:
            track["frames"] = len(track["frames"])
    if as_json:
        emit_json({"item_id": item_id, **data})
        return
    table = Table("track", "from", "to", "detections", "best score", "thumbnail")
    for t in tracks.tracks:
        table.add_row(
            str(t.track_id),
            f"{t.start:.2f}s",
            f"{t.end:.2f}s",
            str(t.detections),
            f"{t.best_score:.2f}",
            t.thumbnail or "",
        )
    out.print(table)
    out.print(
        f"{len(tracks.tracks)} track(s); detector run on {tracks.frames_detected} of "
        f"{tracks.frame_count} frames. Hide some with: testigo redact {item} --faces tracks 1,2"
    )


@c2pa_app.command("show")
def c2pa_show(
    target: Annotated[str, typer.Argument(help="A file, or an item id / SHA-256 in the vault.")],
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Read the item's file again, not the stored summary.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show the C2PA Content Credentials of a file or item: signer, actions, ingredients, validity.

    For an item, the summary the `c2pa` analysis step stored at ingest; a file (or an item not
    read yet, or with --fresh) is read and checked now. Nothing is stored.
    """
    from testigo.cli import emit_json, vault_session
    from testigo.config import load_settings
    from testigo.protect.c2pa_step import read_file_summary
    from testigo.protect.service import item_c2pa_summary

    path = Path(target)
    if path.is_file():
        summary = {**read_file_summary(path, load_settings(), media_type=None), "source": "file"}
    else:
        item_id = _item_id(target)
        with vault_session() as vault:
            summary = item_c2pa_summary(vault, item_id, fresh=fresh)
    if as_json:
        emit_json(summary)
        return
    _print_c2pa(summary)


def _print_c2pa(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    from testigo.cli import out

    if not summary.get("present"):
        out.print("No C2PA manifest (no Content Credentials).")
        return
    status = summary.get("status")
    colour = {"trusted": "green", "valid": "yellow"}.get(str(status), "red")
    label = escape(str(summary.get("active_manifest") or ""))
    out.print(f"C2PA manifest {label}: [bold {colour}]{escape(str(status))}[/bold {colour}]")
    if summary.get("read_at"):
        out.print(f"  read at ingest: {summary['read_at']} (ledger entry {summary['ledger_seq']})")
    if summary.get("reason"):
        out.print(f"  why: {escape(str(summary['reason']))}")
    if summary.get("remote_url"):
        out.print(f"  manifest kept at: {escape(str(summary['remote_url']))} (not fetched)")
    signer = summary.get("signer") or {}
    if signer.get("common_name") or signer.get("issuer"):
        out.print(
            f"  signed by: {escape(str(signer.get('common_name')))} "
            f"({escape(str(signer.get('issuer')))}), {escape(str(signer.get('alg')))}"
            + (f", at {escape(str(summary['signed_at']))}" if summary.get("signed_at") else "")
        )
    if summary.get("claim_generator"):
        out.print(f"  made with: {escape(str(summary['claim_generator']))}")
    if summary.get("trust_note"):
        out.print(f"  note: {escape(str(summary['trust_note']))}")
    for action in summary.get("actions") or []:
        out.print(
            f"  action: {escape(str(action.get('action')))} "
            f"{escape(str(action.get('description') or ''))}"
        )
    for ingredient in summary.get("ingredients") or []:
        linked = f" = item {ingredient['item_id']}" if ingredient.get("item_id") else ""
        out.print(
            f"  ingredient: {escape(str(ingredient.get('title')))} "
            f"[{escape(str(ingredient.get('relationship')))}]{linked}"
        )
    for failure in summary.get("failures") or []:
        out.print(
            f"  [red]✗[/red] {escape(str(failure.get('code')))}: "
            f"{escape(str(failure.get('explanation') or ''))}"
        )


def register(app: typer.Typer) -> None:
    """Add the protection commands to the `testigo` app."""
    app.command("redact")(redact)
    app.command("faces")(faces_command)
    app.add_typer(c2pa_app, name="c2pa")

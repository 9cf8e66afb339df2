"""`testigo redact`, `testigo faces`, `testigo c2pa show`: public copies and their credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Read and check the C2PA manifest a file carries (nothing is stored)."""
    from testigo.cli import emit_json, out, vault_session
    from testigo.config import load_settings
    from testigo.protect.c2pa_sign import read_c2pa
    from testigo.protect.service import read_item_c2pa

    path = Path(target)
    if path.is_file():
        info = read_c2pa(path, load_settings())
    else:
        item_id = _item_id(target)
        with vault_session() as vault:
            info = read_item_c2pa(vault, item_id)
    if as_json:
        emit_json(info)
        return
    if info is None:
        out.print("No C2PA manifest.")
        return
    out.print(f"C2PA manifest {info['active_manifest']}: [bold]{info['validation_state']}[/bold]")
    sig = info["signature"]
    out.print(f"  signed by: {sig.get('common_name')} ({sig.get('issuer')}), {sig.get('alg')}")
    if info["trust_note"]:
        out.print(f"  note: {info['trust_note']}")
    for ingredient in info["ingredients"]:
        out.print(
            f"  ingredient: {ingredient.get('title')} [{ingredient.get('relationship')}] "
            f"{ingredient.get('description') or ''}"
        )
    for action in info["actions"]:
        description = (action.get("parameters") or {}).get("description", "")
        out.print(f"  action: {action.get('action')} {description}")
    for failure in info["validation_failures"]:
        out.print(f"  [red]✗[/red] {failure}")


def register(app: typer.Typer) -> None:
    """Add the protection commands to the `testigo` app."""
    app.command("redact")(redact)
    app.command("faces")(faces_command)
    app.add_typer(c2pa_app, name="c2pa")

"""`testigo blobs sync-mirror`: compare the blob store with its mirror and bring them in step."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from testigo.cli import JsonOption, _progress, emit_json, err, out, vault_session
from testigo.errors import UsageError

blobs_app = typer.Typer(help="The blob store and its mirror (TESTIGO_BLOBS_MIRROR_URL).")


@blobs_app.command("sync-mirror")
def sync_mirror_command(
    check: Annotated[
        bool, typer.Option("--check", help="Only compare and report; copy nothing.")
    ] = False,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Look for missing copies only; do not re-hash either store."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy every referenced blob the mirror lacks (or holds altered) from the primary store, and
    every one the primary lacks back from the mirror. Exits 1 while the two are not in step."""
    from testigo.db.models import EvidenceItem
    from testigo.vault.mirror import MirroredBlobStore, sync_mirror

    with vault_session() as vault:
        if not isinstance(vault.blobs, MirroredBlobStore):
            raise UsageError(
                "no mirror is configured: set TESTIGO_BLOBS_MIRROR_URL to a second folder or "
                "s3://bucket/prefix"
            )
        with vault.reading() as session:
            blobs = [
                (digest, size)
                for digest, size in session.execute(
                    select(EvidenceItem.sha256, EvidenceItem.size).order_by(EvidenceItem.id)
                )
            ]
        with _progress(not as_json and err.is_terminal) as progress:
            task = progress.add_task("comparing copies", total=len(blobs))
            report = sync_mirror(
                vault.blobs,
                blobs,
                deep=not quick,
                repair=not check,
                progress=lambda _digest: progress.advance(task),
            )
        mirror_url = vault.blobs.mirror.url
    # After a repair, what matters is that nothing is left undone; a check asks for step itself.
    in_step = report.in_step if check else not (report.failed or report.unreachable)
    if as_json:
        emit_json(
            {
                "mirror": mirror_url,
                "in_step": in_step,
                "checked": report.checked,
                "missing_on_mirror": report.missing_on_mirror,
                "altered_on_mirror": report.altered_on_mirror,
                "missing_on_primary": report.missing_on_primary,
                "copied_to_mirror": report.copied_to_mirror,
                "copied_to_primary": report.copied_to_primary,
                "failed": [{"sha256": d, "reason": r} for d, r in report.failed],
                "unreachable": report.unreachable,
            }
        )
    else:
        out.print(f"Mirror {mirror_url}: {report.checked} referenced blob(s) compared")
        if report.unreachable:
            out.print(f"  [red]✗[/red] the mirror cannot be reached: {report.unreachable}")
        for label, digests in (
            ("missing from the mirror", report.missing_on_mirror),
            ("altered in the mirror", report.altered_on_mirror),
            ("missing or altered in the primary store", report.missing_on_primary),
        ):
            if digests:
                out.print(f"  {len(digests)} {label}")
        if not check:
            out.print(
                f"  {len(report.copied_to_mirror)} copied to the mirror, "
                f"{len(report.copied_to_primary)} copied back to the primary store"
            )
        for digest, reason in report.failed:
            out.print(f"  [red]✗[/red] {digest[:16]}…: {reason}")
    if not in_step:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add these commands to the `testigo` app."""
    app.add_typer(blobs_app, name="blobs")

"""`testigo backup`, `testigo verify-backup` and `testigo restore`: online copies of the vault
that can be checked where they lie and restored into an empty home (docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from testigo.cli import JsonOption, _progress, emit_json, err, out
from testigo.config import load_settings
from testigo.vault.backup import DEFAULT_KEEP, CheckReport

DestArgument = Annotated[
    str, typer.Argument(help="A folder (on another disk or machine) or s3://bucket/prefix.")
]
CopyOption = Annotated[
    str | None,
    typer.Option("--copy", help="A dated copy (see --list) instead of the newest one."),
]


def backup(
    dest: DestArgument,
    keep: Annotated[
        int, typer.Option(help="How many dated database copies to keep (older ones removed).")
    ] = DEFAULT_KEEP,
    check: Annotated[
        bool, typer.Option("--check", help="Do not back up: verify the backup at DEST.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up the vault while it runs: a consistent database copy, new blobs, keys, manifest."""
    if check:
        verify_backup(dest, as_json=as_json)
        return
    from testigo.vault.backup import backup_vault

    with _progress(not as_json and err.is_terminal) as progress:
        task = progress.add_task("copying new blobs", total=None)
        report = backup_vault(
            load_settings(), dest, keep=keep, progress=lambda n: progress.advance(task, n)
        )
    if as_json:
        emit_json(report.to_dict())
        return
    out.print(f"Backup {report.stamp} written to [bold]{report.dest}[/bold]")
    out.print(
        f"  database:  {report.database_kind} copy {report.database_file} "
        f"({report.database_size:,} bytes, sha256 {report.database_sha256})"
    )
    out.print(
        f"  ledger:    {report.tree_size} entries, newest checkpoint at size "
        f"{report.checkpoint_size}"
    )
    out.print(
        f"  blobs:     {report.blobs} ({report.blob_bytes:,} bytes); {report.blobs_copied} new "
        f"copied ({report.bytes_copied:,} bytes)"
    )
    if report.removed_copies:
        out.print(f"  removed older copies: {', '.join(report.removed_copies)}")


def verify_backup(
    src: DestArgument,
    copy: CopyOption = None,
    no_blobs: Annotated[
        bool, typer.Option("--no-blobs", help="Skip re-hashing the backed-up files.")
    ] = False,
    pin: Annotated[
        str | None, typer.Option(help="Require the ledger key to have this SHA-256 fingerprint.")
    ] = None,
    list_copies: Annotated[
        bool, typer.Option("--list", help="List the complete copies the backup holds.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check a backup where it lies, read-only: manifest, database copy, ledger, blobs."""
    if list_copies:
        from testigo.vault.restore import copies

        found = copies(src)
        if as_json:
            emit_json(found)
            return
        for row in found:
            out.print(
                f"{row['stamp']}  {row['tree_size']} entries, {row['blobs']} blobs  "
                f"{row['database']}"
            )
        return
    from testigo.vault.restore import check_backup

    with _progress(not as_json and err.is_terminal) as progress:
        task = progress.add_task("re-hashing backed-up files", total=None)
        report = check_backup(
            src,
            stamp=copy,
            check_blobs=not no_blobs,
            pin=pin,
            progress=lambda n: progress.advance(task, n),
        )
    _print_check(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _print_check(report: CheckReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
        return
    status = "[green]INTACT[/green]" if report.ok else "[red]PROBLEMS FOUND[/red]"
    out.print(f"Backup {report.stamp} in {report.source}: {status}")
    out.print(
        f"  {report.database_kind} copy: {report.tree_size} ledger entries, "
        f"{report.checkpoints_checked} signed checkpoint(s) checked with key "
        f"{report.key_fingerprint}"
    )
    out.print(
        f"  {report.blobs_checked} backed-up file(s) re-hashed ({report.bytes_hashed:,} bytes)"
    )
    for note in report.notes:
        out.print(f"  note: {note}")
    for problem in report.problems:
        out.print(f"  [red]✗[/red] {problem}")


def restore(
    src: DestArgument,
    copy: CopyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into an empty home (TESTIGO_HOME / TESTIGO_DATABASE_URL)."""
    from testigo.vault.restore import restore_backup

    with _progress(not as_json and err.is_terminal) as progress:
        task = progress.add_task("restoring blobs", total=None)
        report = restore_backup(
            load_settings(), src, stamp=copy, progress=lambda n: progress.advance(task, n)
        )
    if as_json:
        emit_json(report.to_dict())
        return
    out.print(f"Restored backup {report.stamp} into [bold]{report.home}[/bold]")
    out.print(f"  database:  {report.database} ({report.tree_size} ledger entries)")
    out.print(
        f"  blobs:     {report.blobs}, {report.blobs_copied} copied ({report.bytes_copied:,} bytes)"
    )
    if report.needs_upgrade:
        out.print("  the backup is of an older schema: run `testigo init` to upgrade it")
    out.print("Check it with `testigo verify`.")


def register(app: typer.Typer) -> None:
    """Add these commands to the `testigo` app."""
    app.command("backup")(backup)
    app.command("verify-backup")(verify_backup)
    app.command("restore")(restore)

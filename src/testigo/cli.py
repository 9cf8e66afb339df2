"""The `testigo` command: thin commands over the services, human output or `--json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import select

from testigo.config import load_settings
from testigo.errors import TestigoError, UsageError
from testigo.vault.service import Vault, init_vault, open_vault

app = typer.Typer(
    name="testigo",
    help="Capture, preserve, verify and share evidence of enforcement encounters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log_app = typer.Typer(
    help="The tamper-evident ledger: entries, checkpoints, proofs.", no_args_is_help=True
)
incident_app = typer.Typer(
    help="Incidents that evidence and sources belong to.", no_args_is_help=True
)
app.add_typer(log_app, name="log")
app.add_typer(incident_app, name="incident")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextmanager
def vault_session() -> Iterator[Vault]:
    vault = open_vault(load_settings())
    try:
        yield vault
    finally:
        vault.dispose()


@app.command()
def init(as_json: JsonOption = False) -> None:
    """Create the vault (database, blob store, ledger key), or upgrade it. Safe to repeat."""
    settings = load_settings()
    report = init_vault(settings)
    if as_json:
        emit_json({k: str(v) if isinstance(v, Path) else v for k, v in report.__dict__.items()})
        return
    out.print(f"Vault ready in [bold]{report.home}[/bold]")
    out.print(f"  database:  {report.database_url}")
    out.print(f"  blobs:     {report.blobs_url}")
    if report.blobs_mirror_url:
        out.print(f"  mirror:    {report.blobs_mirror_url}")
    out.print(f"  log:       {report.origin}")
    state = "created" if report.created_key else "existing"
    out.print(f"  key:       {state}, fingerprint {report.fingerprint}")
    out.print(f"  verifier:  {report.public_key}")


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursively).")],
    incident: Annotated[int | None, typer.Option(help="Attach to this incident id.")] = None,
    acquired_from: Annotated[
        str | None, typer.Option("--acquired-from", help="Who or where the files came from.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the acquisition.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Store files in the vault: hashed while copied, stored once, every receipt ledgered."""
    from testigo.vault.ingest import (
        Acquired,
        Candidate,
        IngestResult,
        discover,
        ingest_paths,
        vault_paths,
    )

    settings = load_settings()
    with vault_session() as vault:
        found, refused = discover(paths, exclude=vault_paths(vault))
        total = sum(c.size for c in found)
        show = not as_json and err.is_terminal
        with _progress(show) as progress:
            overall = progress.add_task(f"{len(found)} file(s)", total=total)
            current: dict[str, TaskID] = {}

            def on_start(candidate: Candidate) -> Callable[[int], None]:
                task = None
                if candidate.size >= 64 * 1024 * 1024:
                    task = progress.add_task(candidate.path.name[:40], total=candidate.size)
                    current["task"] = task

                def advance(n: int) -> None:
                    progress.advance(overall, n)
                    if task is not None:
                        progress.advance(task, n)

                return advance

            def on_done(candidate: Candidate, outcome: object) -> None:
                task = current.pop("task", None)
                if task is not None:
                    progress.remove_task(task)
                if show and isinstance(outcome, IngestResult):
                    mark = "duplicate" if outcome.duplicate else "stored"
                    progress.console.print(f"{mark}: {candidate.path} {outcome.sha256[:16]}…")

            report = ingest_paths(
                vault,
                paths,
                Acquired(
                    actor=settings.actor,
                    acquired_from=acquired_from,
                    note=note,
                    incident_id=incident,
                ),
                on_start=on_start,
                on_done=on_done,
                candidates=(found, refused),
            )
    if as_json:
        emit_json(report.to_dict())
    else:
        table = Table("item", "sha256", "size", "type", "flags", title="Ingested")
        for r in report.ingested:
            flags = ", ".join(r.flags + (["duplicate"] if r.duplicate else []))
            table.add_row(str(r.item_id), r.sha256, f"{r.size:,}", r.media_type, flags)
        if report.ingested:
            out.print(table)
            out.print(f"Ledger signed at size {report.checkpoint_size}.")
        for refusal in report.refused:
            err.print(f"[red]refused[/red] {refusal.path}: {refusal.reason}")
    if report.refused:
        raise typer.Exit(2)


@app.command()
def verify(
    bundle: Annotated[
        Path | None,
        typer.Argument(help="A bundle (folder or .zip) to check; without it, the whole vault."),
    ] = None,
    pin: Annotated[
        str | None, typer.Option(help="Require the ledger key to have this SHA-256 fingerprint.")
    ] = None,
    tsa_root: Annotated[
        Path | None,
        typer.Option("--tsa-root", help="PEM root certificate(s) of the timestamp authority."),
    ] = None,
    no_blobs: Annotated[
        bool, typer.Option("--no-blobs", help="Skip re-hashing stored files.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the vault, or a bundle using nothing but the bundle."""
    if bundle is not None:
        _verify_bundle(bundle, pin, tsa_root, as_json)
        return
    from testigo.vault.verify import verify_vault

    with vault_session() as vault, _progress(not as_json and err.is_terminal) as progress:
        task = progress.add_task("re-hashing stored files", total=None)
        report = verify_vault(
            vault,
            pin=pin,
            check_blobs=not no_blobs,
            progress=lambda n: progress.advance(task, n),
            on_blob_total=lambda total: progress.update(task, total=total),
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        status = "[green]INTACT[/green]" if report.ok else "[red]PROBLEMS FOUND[/red]"
        out.print(f"Vault verification: {status}")
        out.print(
            f"  {report.blobs_checked} stored file(s) re-hashed ({report.bytes_hashed:,} bytes)\n"
            f"  {report.entries_checked} ledger entries and {report.nodes_checked} tree nodes "
            f"rebuilt; root {report.root}\n"
            f"  {report.checkpoints_checked} signed checkpoint(s) checked with key "
            f"{report.key_fingerprint}"
        )
        if report.mirror_url:
            out.print(f"  {report.mirror_checked} mirror cop(ies) re-hashed in {report.mirror_url}")
        for note in report.notes:
            out.print(f"  note: {note}")
        for problem in report.problems:
            out.print(f"  [red]✗[/red] {problem}")
    if not report.ok:
        raise typer.Exit(1)


def _verify_bundle(path: Path, pin: str | None, tsa_root: Path | None, as_json: bool) -> None:
    from testigo.share.verify_bundle import verify_bundle

    report = verify_bundle(path, pin=pin, tsa_roots=tsa_root)
    if as_json:
        emit_json(report.to_dict())
    else:
        verdict = "[green]HOLDS[/green]" if report.ok else "[red]DOES NOT HOLD[/red]"
        out.print(f"Bundle {path}: {verdict}")
        if report.key_fingerprint:
            out.print(f"  log key fingerprint {report.key_fingerprint}")
        for check in report.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            out.print(f"  {mark} {check.name}: {check.detail}")
        for stamp in report.timestamps:
            out.print(
                f"  timestamp: checkpoint {stamp['checkpoint_size']} existed by {stamp['time']} "
                f"({stamp['tsa']})"
            )
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
def export(
    incident: Annotated[int | None, typer.Argument(help="The incident to export.")] = None,
    out_path: Annotated[
        Path, typer.Option("--out", help="Destination folder or .zip file.")
    ] = Path("bundle"),
    public: Annotated[
        bool, typer.Option("--public", help="Only redacted copies and public fields.")
    ] = False,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Export all incidents as csv or json instead.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a court-ready bundle for an incident, or the public dataset of all incidents."""
    with vault_session() as vault:
        if dataset is not None:
            from testigo.share.dataset import export_dataset

            summary = export_dataset(vault, out_path, fmt=dataset)
            if as_json:
                emit_json(summary)
            else:
                out.print(f"{summary['rows']} incident(s) written to {summary['path']}")
            return
        if incident is None:
            raise UsageError("name the incident to export, or use --dataset csv|json")
        from testigo.share.bundle import export_incident

        with _progress(not as_json and err.is_terminal) as progress:
            task = progress.add_task("exporting", total=None)
            result = export_incident(
                vault,
                incident,
                out_path,
                public=public,
                actor=load_settings().actor,
                progress=lambda msg: progress.update(task, description=msg[:60]),
            )
    if as_json:
        emit_json(result.to_dict())
    else:
        kind = "public bundle" if public else "bundle"
        out.print(
            f"Wrote {kind} {result.path}: {len(result.files)} files, {result.total_bytes:,} bytes "
            f"of evidence, {result.entries} ledger entries proven at size {result.checkpoint_size}"
            + (f", {result.timestamps} timestamp(s)" if result.timestamps else "")
        )


@log_app.command("show")
def log_show(
    start: Annotated[int, typer.Option("--from", help="First entry number.")] = 0,
    limit: Annotated[int, typer.Option(help="How many entries.")] = 50,
    entry_type: Annotated[
        str | None, typer.Option("--type", help="Only entries of this type.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only entries about this subject (sha256:…, incident:N).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List ledger entries."""
    from testigo.db.models import LedgerEntry, LedgerSubject

    if limit < 1 or limit > 10_000 or start < 0:
        raise UsageError("--from must be >= 0 and --limit between 1 and 10000")
    with vault_session() as vault, vault.reading() as session:
        query = select(LedgerEntry).where(LedgerEntry.seq >= start)
        if entry_type:
            query = query.where(LedgerEntry.entry_type == entry_type)
        if subject:
            query = query.where(
                LedgerEntry.seq.in_(
                    select(LedgerSubject.seq).where(LedgerSubject.subject == subject)
                )
            )
        rows = list(session.scalars(query.order_by(LedgerEntry.seq).limit(limit)))
        entries = [
            {"seq": r.seq, "leaf_hash": bytes(r.leaf_hash).hex(), "entry": json.loads(r.body)}
            for r in rows
        ]
    if as_json:
        emit_json(entries)
        return
    table = Table("seq", "time", "type", "actor", "subjects")
    for e in entries:
        body = e["entry"]
        table.add_row(
            str(e["seq"]), body["time"], body["type"], body["actor"], "\n".join(body["subjects"])
        )
    out.print(table)


@log_app.command("checkpoint")
def log_checkpoint(as_json: JsonOption = False) -> None:
    """Sign the ledger as it is now and print the checkpoint (a C2SP signed note)."""
    from testigo.vault.proofs import checkpoint_dict

    with vault_session() as vault:
        row = vault.checkpoint()
        data = checkpoint_dict(row)
    if as_json:
        emit_json(data)
    else:
        out.print(data["note"], end="")


@log_app.command("prove")
def log_prove(
    item: Annotated[str, typer.Argument(help="Item id, SHA-256 (or 8+ digit prefix), or entry:N.")],
    as_json: JsonOption = False,
) -> None:
    """Inclusion proofs of every ledger entry about an item, against the newest checkpoint."""
    from testigo.vault.proofs import prove_item

    with vault_session() as vault:
        data = prove_item(vault, item)
    if as_json:
        emit_json(data)
    else:
        cp = data["checkpoint"]
        out.print(f"Checkpoint: size {cp['size']}, root {cp['root']}")
        for e in data["entries"]:
            mark = "[green]✓[/green]" if e["verified"] else "[red]✗[/red]"
            out.print(
                f"{mark} entry {e['seq']} ({e['entry']['type']}), leaf {e['leaf_hash']}, "
                f"proof of {len(e['proof'])} hashes"
            )
            for h in e["proof"]:
                out.print(f"    {h}")
    if not data["verified"]:
        raise typer.Exit(1)


@log_app.command("timestamp")
def log_timestamp(as_json: JsonOption = False) -> None:
    """Ask the configured timestamp authority (TESTIGO_TSA_URL) to stamp unstamped checkpoints."""
    from testigo.share.timestamps import configured_tsa
    from testigo.vault.timestamping import timestamp_missing

    if configured_tsa() is None:
        raise UsageError("no timestamp authority is configured: set TESTIGO_TSA_URL")
    with vault_session() as vault:
        vault.checkpoint()
        stamped = timestamp_missing(vault)
    data = [{"checkpoint_id": t.checkpoint_id, "gen_time": t.gen_time} for t in stamped]
    if as_json:
        emit_json(data)
    else:
        out.print(f"{len(data)} checkpoint(s) timestamped")
        for row in data:
            out.print(f"  checkpoint {row['checkpoint_id']}: {row['gen_time']}")


@log_app.command("consistency")
def log_consistency(
    old: Annotated[int, typer.Argument(help="Older tree size.")],
    new: Annotated[int, typer.Argument(help="Newer tree size.")],
    as_json: JsonOption = False,
) -> None:
    """Prove that the ledger at size NEW extends the ledger at size OLD without rewriting it."""
    from testigo.vault.proofs import prove_consistency

    with vault_session() as vault:
        data = prove_consistency(vault, old, new)
    if as_json:
        emit_json(data)
    else:
        mark = "[green]consistent[/green]" if data["verified"] else "[red]NOT consistent[/red]"
        out.print(f"{old} → {new}: {mark}")
        out.print(f"  old root {data['old_root']}\n  new root {data['new_root']}")
        for h in data["proof"]:
            out.print(f"    {h}")
    if not data["verified"]:
        raise typer.Exit(1)


@app.command()
def demo(as_json: JsonOption = False) -> None:
    """Load the fictional example incident with generated media (once)."""
    from testigo.demo import load_example

    with vault_session() as vault:
        result = load_example(vault, actor=load_settings().actor)
    if as_json:
        emit_json(
            {
                "incident_id": result.incident_id,
                "created": result.created,
                "ingest": result.report.to_dict() if result.report else None,
            }
        )
    elif result.created:
        count = len(result.report.ingested) if result.report else 0
        out.print(f"Example incident {result.incident_id} loaded with {count} generated file(s).")
    else:
        out.print(f"Example incident {result.incident_id} is already loaded.")


@incident_app.command("create")
def incident_create(
    title: Annotated[str, typer.Argument(help="A short title.")], as_json: JsonOption = False
) -> None:
    """Create an incident."""
    from testigo.records.incidents import create_incident

    with vault_session() as vault:
        summary = create_incident(vault, title, actor=load_settings().actor)
    if as_json:
        emit_json(summary.to_dict())
    else:
        out.print(f"Incident {summary.id}: {summary.title}")


@incident_app.command("list")
def incident_list(as_json: JsonOption = False) -> None:
    """List incidents, newest first."""
    from testigo.records.incidents import list_incidents

    with vault_session() as vault:
        rows = list_incidents(vault)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    table = Table("id", "title", "items", "created")
    for r in rows:
        table.add_row(str(r.id), r.title, str(r.items), r.created_at)
    out.print(table)


def _register_optional_commands() -> None:
    """Commands from other parts of the project, added when their modules are present."""
    from testigo.web.cli import register as register_web

    register_web(app)
    from testigo.cli_protect import register as register_protect

    register_protect(app)
    from testigo.cli_jobs import register as register_jobs

    register_jobs(app)
    from testigo.cli_capture import register as register_capture

    register_capture(app)
    from testigo.cli_backup import register as register_backup

    register_backup(app)
    from testigo.cli_blobs import register as register_blobs

    register_blobs(app)
    try:
        from testigo.cli_article import article_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    app.add_typer(article_app, name="article")
    from testigo.cli_records import register

    register(article_app, incident_app)


_register_optional_commands()


def _cli_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception ``name``, and Typer's own copy of it (Typer 0.2x ships Click inside)."""
    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    vendored = getattr(getattr(typer, "_click", None), "exceptions", None)
    if vendored is not None and hasattr(vendored, name):
        found.append(getattr(vendored, name))
    return tuple(found)


ABORTS: tuple[type[BaseException], ...] = (*_cli_exceptions("Abort"), typer.Abort)
USAGE_ERRORS = _cli_exceptions("ClickException")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user-caused errors are printed plainly, never as tracebacks."""
    try:
        result = app(args=argv, standalone_mode=False)
    except TestigoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        return exc.exit_code
    except ABORTS:
        err.print("aborted")
        return 130
    except USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-written was kept")
        return 130
    except BrokenPipeError:
        return 0
    if isinstance(result, int):
        return result
    return 0

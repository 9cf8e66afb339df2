"""Commands for analysis and its queue: analyze, jobs, worker, transcript, matches, reindex."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from testigo.cli import JsonOption, emit_json, err, out, vault_session
from testigo.config import load_settings
from testigo.db.models import EvidenceItem
from testigo.errors import NotFoundError, UsageError
from testigo.vault.service import Vault

jobs_app = typer.Typer(
    help="The analysis queue: list, retry and cancel jobs.", no_args_is_help=True
)
transcript_app = typer.Typer(
    help="Transcripts: show, correct a line (ledgered), import captions.", no_args_is_help=True
)

ItemArgument = Annotated[str, typer.Argument(help="Item id, or the start of its SHA-256.")]


def resolve_item(vault: Vault, ref: str) -> int:
    """An item named by id or by (a prefix of at least 8 characters of) its SHA-256."""
    ref = ref.strip().lower().removeprefix("sha256:")
    with vault.reading() as session:
        if ref.isdigit() and len(ref) < 12:
            if session.get(EvidenceItem, int(ref)) is None:
                raise NotFoundError(f"there is no item {ref}")
            return int(ref)
        if len(ref) < 8 or any(c not in "0123456789abcdef" for c in ref):
            raise UsageError(f"{ref!r} is neither an item id nor a SHA-256 prefix (8+ hex digits)")
        found = list(
            session.scalars(
                select(EvidenceItem.id).where(EvidenceItem.sha256.startswith(ref)).limit(2)
            )
        )
    if not found:
        raise NotFoundError(f"no item's SHA-256 starts with {ref}")
    if len(found) > 1:
        raise UsageError(f"more than one item's SHA-256 starts with {ref}: give more digits")
    return int(found[0])


def _job_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table("job", "item", "step", "status", "tries", "progress", "note", title=title)
    for job in rows:
        note = job["error"] or job["message"] or ""
        if job["status"] == "queued" and job["attempts"]:
            note = f"{note} (next try after {job['run_after'][:19]}Z)"
        table.add_row(
            str(job["id"]),
            str(job["item_id"] or ""),
            job["step"],
            job["status"],
            f"{job['attempts']}/{job['max_attempts']}",
            f"{round(100 * job['progress'])}%",
            note[:120],
        )
    return table


# --- analyze ----------------------------------------------------------------------------------


def analyze(
    item: Annotated[str | None, typer.Argument(help="Item id or SHA-256 prefix.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every original item.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this step (repeatable).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Queue again even if already done or queued.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Run a worker here until these jobs finish.")
    ] = False,
    threads: Annotated[int, typer.Option(help="Worker threads with --wait.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Queue analysis of an item (or --all): probe, keyframes, fingerprint, speech, OCR..."""
    from testigo.jobs import queue

    if (item is None) == (not all_items):
        raise UsageError("name one item, or use --all")
    settings = load_settings()
    with vault_session() as vault:
        items: list[tuple[int, str]]
        if all_items:
            with vault.reading() as session:
                items = [
                    (int(i), str(m))
                    for i, m in session.execute(
                        select(EvidenceItem.id, EvidenceItem.media_type)
                        .where(EvidenceItem.kind == "original")
                        .order_by(EvidenceItem.id)
                    )
                ]
        else:
            item_id = resolve_item(vault, item or "")
            with vault.reading() as session:
                row = session.get(EvidenceItem, item_id)
                assert row is not None
                items = [(row.id, row.media_type)]
        job_ids: list[int] = []
        created = 0
        for item_id, media_type in items:
            steps = list(only) if only else list(queue.steps_for_media_type(media_type))
            if not steps:
                if not all_items:
                    err.print(f"item {item_id} is {media_type}: there is nothing to analyse")
                continue
            for job, new in queue.enqueue_steps(
                vault, item_id, steps, force=force, actor=settings.actor
            ):
                job_ids.append(job.id)
                created += int(new)
        if not as_json:
            out.print(f"{created} job(s) queued, {len(job_ids) - created} already queued or done.")
        if wait and job_ids:
            _wait_for(vault, job_ids, threads=threads, show=not as_json and err.is_terminal)
        rows = [j.to_dict() for j in queue.jobs_by_id(vault, job_ids)]
    if as_json:
        emit_json({"jobs": rows})
        return
    if rows:
        out.print(_job_table(rows, "Analysis"))
    if wait and any(r["status"] == "failed" for r in rows):
        raise typer.Exit(1)


def _wait_for(vault: Vault, job_ids: list[int], *, threads: int, show: bool) -> None:
    from testigo.jobs import queue
    from testigo.jobs.models import FINISHED_STATUSES
    from testigo.jobs.worker import Worker

    wanted = set(job_ids)
    finished = threading.Event()

    def done() -> bool:
        if finished.is_set():
            return True
        rows = queue.jobs_by_id(vault, wanted)
        if all(r.status in FINISHED_STATUSES for r in rows):
            finished.set()
        return finished.is_set()

    worker = Worker(vault, threads=threads)
    thread = threading.Thread(
        target=worker.run, kwargs={"until": done, "handle_signals": False}, daemon=True
    )
    thread.start()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, disable=not show, transient=False) as progress:
            tasks: dict[int, TaskID] = {}
            while True:
                rows = queue.jobs_by_id(vault, wanted)
                for job in rows:
                    if job.id not in tasks:
                        tasks[job.id] = progress.add_task(
                            f"job {job.id} {job.step} (item {job.item_id})", total=1.0, note=""
                        )
                    note = job.status if job.status != "running" else (job.message or "")
                    if job.status == "failed":
                        note = f"failed: {(job.error or '')[:60]}"
                    complete = 1.0 if job.status in FINISHED_STATUSES else job.progress
                    progress.update(tasks[job.id], completed=complete, note=note[:70])
                if all(r.status in FINISHED_STATUSES for r in rows):
                    finished.set()
                    break
                if not thread.is_alive():
                    break
                time.sleep(0.3)
    except KeyboardInterrupt:
        err.print("stopping: running jobs go back to the queue")
        worker.stop()
        thread.join()
        raise
    worker.stop()
    thread.join()


# --- jobs -------------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    item: Annotated[str | None, typer.Option(help="Only jobs of this item.")] = None,
    step: Annotated[str | None, typer.Option(help="Only jobs of this step.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Jobs, newest first, with their status, attempts, progress and error."""
    from testigo.jobs import queue

    with vault_session() as vault:
        item_id = resolve_item(vault, item) if item else None
        rows = [
            j.to_dict()
            for j in queue.list_jobs(vault, status=status, item_id=item_id, step=step, limit=limit)
        ]
        counts = queue.status_counts(vault)
    if as_json:
        emit_json({"jobs": rows, "counts": counts})
        return
    out.print(_job_table(rows, "Jobs"))
    out.print("  ".join(f"{k}: {v}" for k, v in counts.items()))


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="Job id.")], as_json: JsonOption = False
) -> None:
    """Queue a failed or cancelled job again, with fresh attempts."""
    from testigo.jobs import queue

    with vault_session() as vault:
        job = queue.retry(vault, job_id)
    if as_json:
        emit_json(job.to_dict())
    else:
        out.print(f"job {job.id} ({job.step}, item {job.item_id}) queued again")


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="Job id.")], as_json: JsonOption = False
) -> None:
    """Cancel a queued job, or ask a running one to stop (nothing it made is kept)."""
    from testigo.jobs import queue

    with vault_session() as vault:
        job = queue.cancel(vault, job_id)
    if as_json:
        emit_json(job.to_dict())
    elif job.status == "cancelled":
        out.print(f"job {job.id} cancelled")
    else:
        out.print(f"job {job.id} is running: asked it to stop at its next check")


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[int, typer.Argument(help="Job id.")], as_json: JsonOption = False
) -> None:
    """One job in full, including its result or error."""
    from testigo.jobs import queue

    with vault_session() as vault:
        job = queue.get_job(vault, job_id).to_dict()
    if as_json:
        emit_json(job)
        return
    for key, value in job.items():
        out.print(f"{key:>16}: {value}")


@jobs_app.command("dispatch")
def jobs_dispatch() -> None:
    """Distributed mode: hand every due job to Celery (after a broker outage)."""
    from testigo.jobs.celery_app import sweep

    with vault_session() as vault:
        count = sweep(vault)
    out.print(f"{count} job(s) sent to Celery")


# --- worker -----------------------------------------------------------------------------------


def worker(
    threads: Annotated[int, typer.Option(help="Jobs run at the same time.")] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Exit when nothing is left to run now.")
    ] = False,
    step: Annotated[
        list[str] | None, typer.Option("--step", help="Only run these steps (repeatable).")
    ] = None,
) -> None:
    """Run analysis jobs in this process until stopped (SIGTERM/Ctrl-C stops gracefully)."""
    from testigo.jobs.worker import Worker

    with vault_session() as vault:
        runner = Worker(vault, threads=threads, steps=step)
        err.print(f"worker {runner.name}: {threads} thread(s); Ctrl-C to stop")
        report = runner.run(idle_exit=once)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items())) or "no jobs"
    err.print(f"worker stopped ({summary})")


# --- transcripts ------------------------------------------------------------------------------


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:06.3f}"


@transcript_app.command("show")
def transcript_show(
    item: ItemArgument,
    machine: Annotated[
        bool, typer.Option("--machine", help="The version before any correction.")
    ] = False,
    transcript: Annotated[
        int | None, typer.Option(help="Which transcript (its item id); default the newest.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The transcript of an item, with times; corrected lines are marked."""
    from testigo.jobs.transcripts import current_transcript, list_transcripts, machine_transcript

    with vault_session() as vault:
        item_id = resolve_item(vault, item)
        known = list_transcripts(vault, item_id)
        read = machine_transcript if machine else current_transcript
        lines = read(vault, item_id, transcript_item=transcript)
    if as_json:
        emit_json(
            {
                "item": item_id,
                "transcripts": [t.to_dict() for t in known],
                "lines": [line.to_dict() for line in lines],
            }
        )
        return
    if not known:
        out.print(f"item {item_id} has no transcript yet (run `testigo analyze {item_id}`)")
        return
    for line in lines:
        mark = " (corrected)" if line.edited else ""
        out.print(
            escape(f"[{_fmt(line.start)}-{_fmt(line.end)}] #{line.annotation_id}{mark} {line.text}")
        )


@transcript_app.command("edit")
def transcript_edit(
    annotation: Annotated[int, typer.Argument(help="Transcript line (annotation) id.")],
    text: Annotated[str, typer.Option("--text", help="The corrected text.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the ledger.")],
    as_json: JsonOption = False,
) -> None:
    """Correct one transcript line; the machine version is kept and the edit is ledgered."""
    from testigo.jobs.transcripts import edit_transcript_line

    settings = load_settings()
    with vault_session() as vault:
        line = edit_transcript_line(vault, annotation, text, settings.actor, reason)
    if as_json:
        emit_json(line.to_dict())
    else:
        out.print(f"line {annotation} corrected: new line #{line.annotation_id}")


@transcript_app.command("import")
def transcript_import(
    item: ItemArgument,
    file: Annotated[Path, typer.Argument(help="Caption file (.srt or .vtt).")],
    as_json: JsonOption = False,
) -> None:
    """Import captions (SubRip or WebVTT) as a transcript of the item; the file is kept too."""
    from testigo.jobs.transcripts import MAX_CAPTION_BYTES, import_captions

    settings = load_settings()
    try:
        if file.stat().st_size > MAX_CAPTION_BYTES:
            raise UsageError(f"{file}: a caption file over 20 MB is not plausible")
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read it ({exc.strerror})") from exc
    with vault_session() as vault:
        item_id = resolve_item(vault, item)
        info = import_captions(vault, item_id, data, file.name, settings.actor)
    if as_json:
        emit_json(info.to_dict())
    else:
        out.print(
            f"{info.lines} caption line(s) imported for item {item_id} "
            f"(caption file stored as item {info.transcript_item})"
        )


# --- matches ----------------------------------------------------------------------------------


def matches(item: ItemArgument, as_json: JsonOption = False) -> None:
    """Other videos in the vault with the same footage: same recording, clip of, or contains."""
    from testigo.jobs.results import annotations_for

    with vault_session() as vault:
        item_id = resolve_item(vault, item)
        rows = annotations_for(vault, item_id, kinds=["match"])
    newest: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        newest[int(row.data["other_item"])] = {"annotation": row.id, **row.data}
    found = sorted(newest.values(), key=lambda m: (-float(m.get("score", 0)), m["other_item"]))
    if as_json:
        emit_json({"item": item_id, "matches": found})
        return
    if not found:
        out.print(f"no other video in the vault shares footage with item {item_id}")
        return
    table = Table("other item", "relationship", "here", "there", "mirrored", "score")
    for m in found:
        table.add_row(
            str(m["other_item"]),
            m["relationship"],
            f"{_fmt(m['start'])}-{_fmt(m['end'])}",
            f"{_fmt(m['other_start'])}-{_fmt(m['other_end'])}",
            "yes" if m.get("mirrored") else "no",
            f"{m.get('score', 0):.2f}",
        )
    out.print(table)


def reindex() -> None:
    """Rebuild the fingerprint index under $TESTIGO_HOME/index from fingerprints in the vault."""
    from testigo.jobs.matchindex import rebuild_index

    with vault_session() as vault:
        count = rebuild_index(vault)
    out.print(f"match index rebuilt: {count} video(s)")


def register(app: typer.Typer) -> None:
    """Add these commands to the `testigo` app."""
    app.command("analyze")(analyze)
    app.command("worker")(worker)
    app.command("matches")(matches)
    app.command("reindex")(reindex)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(transcript_app, name="transcript")

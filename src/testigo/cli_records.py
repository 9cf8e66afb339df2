"""`testigo article import` and `testigo incident show|people|timeline|claims|edit|merge-people`.

Thin commands over :mod:`testigo.records`; every command takes ``--json`` and prints the same data
the web pages show.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from testigo.config import load_settings
from testigo.errors import UsageError

if TYPE_CHECKING:
    from testigo.records.batch import ArticleInput
    from testigo.vault.service import Vault

out = Console(highlight=False, soft_wrap=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
MAX_INPUT = 64 * 1024 * 1024


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _vault() -> AbstractContextManager[Vault]:
    from testigo.cli import vault_session

    return vault_session()


def _read_input(source: str) -> tuple[bytes, str | None]:
    if source == "-":
        data = sys.stdin.buffer.read(MAX_INPUT + 1)
        name = None
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"no such file: {source}")
        with path.open("rb") as handle:
            data = handle.read(MAX_INPUT + 1)
        name = path.name
    if len(data) > MAX_INPUT:
        raise UsageError(f"the input is over {MAX_INPUT:,} bytes; nothing was stored")
    return data, name


def article_import(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Article files, folders (their .txt/.html/.htm files, recursively), "
            "an http(s) URL, or '-' for stdin."
        ),
    ],
    incident: Annotated[
        int | None, typer.Option("--incident", help="Add to this incident instead of matching.")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="Force 'text/html' or 'text/plain'.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Source kind: article, official_statement, witness_account, ..."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, help="Processes extracting articles of a batch (0: none)."
        ),
    ] = 2,
    as_json: JsonOption = False,
) -> None:
    """Store articles and add what they say to incidents (matched, given, or new).

    One file, URL or '-' is imported on its own; several files or a folder are a batch: each
    article is its own all-or-nothing import, and one that is refused does not stop the others.
    """
    if len(sources) == 1 and not Path(sources[0]).is_dir():
        _import_one(sources[0], incident, content_type, kind, as_json)
        return
    if "-" in sources:
        raise UsageError("'-' (stdin) can only be imported on its own")
    _import_batch(sources, incident, content_type, kind, workers, as_json)


def _import_one(
    source: str, incident: int | None, content_type: str | None, kind: str | None, as_json: bool
) -> None:
    from testigo.records.fetch import fetch_url, is_url
    from testigo.records.importer import import_article

    url = fetched_at = None
    if is_url(source):
        fetched = fetch_url(source)
        data, name, url, fetched_at = fetched.data, None, fetched.url, fetched.fetched_at
        content_type = content_type or fetched.content_type
    else:
        data, name = _read_input(source)
    with _vault() as vault:
        result = import_article(
            vault,
            data,
            content_type=content_type,
            filename=name,
            url=url,
            incident_id=incident,
            actor=load_settings().actor,
            fetched_at=fetched_at,
            kind=kind,
        )
        vault.checkpoint()
    if as_json:
        _emit(result.to_dict())
        return
    how = (
        "already imported into"
        if result.duplicate
        else "new"
        if result.incident_created
        else "joined"
        if result.joined
        else "added to"
    )
    out.print(f"Source {result.source_id} ({how}) incident {result.incident_id}")
    out.print("  created: " + ", ".join(f"{k} {v}" for k, v in result.created.items()))
    out.print(
        f"  claims: {result.claims.get('corroborated', 0)} corroborated, "
        f"{result.claims.get('contradicted', 0)} contradicted; "
        f"incident status {result.incident_status}"
    )
    for warning in result.warnings:
        out.print(f"  [yellow]warning:[/yellow] {warning}")


def _batch_inputs(sources: list[str], content_type: str | None) -> list[ArticleInput]:
    from testigo.records.batch import ArticleInput, find_articles
    from testigo.records.fetch import fetch_url, is_url

    inputs: list[ArticleInput] = []
    for source in sources:
        if is_url(source):
            fetched = fetch_url(source)
            inputs.append(
                ArticleInput(
                    name=source,
                    data=fetched.data,
                    content_type=content_type or fetched.content_type,
                    url=fetched.url,
                    fetched_at=fetched.fetched_at,
                )
            )
        else:
            inputs.extend(
                replace(a, content_type=content_type) if content_type else a
                for a in find_articles([source])
            )
    return inputs


def _import_batch(
    sources: list[str],
    incident: int | None,
    content_type: str | None,
    kind: str | None,
    workers: int,
    as_json: bool,
) -> None:
    from testigo.records.batch import BatchItem, import_articles

    inputs = _batch_inputs(sources, content_type)
    if not inputs:
        raise UsageError("no .txt, .html or .htm files were found in: " + ", ".join(sources))
    err = Console(stderr=True, highlight=False)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        _vault() as vault,
        Progress(*columns, console=err, disable=not err.is_terminal, transient=as_json) as bar,
    ):
        task = bar.add_task("importing", total=len(inputs), failed=0)
        failures = 0

        def advance(item: BatchItem) -> None:
            nonlocal failures
            if not item.ok:
                failures += 1
                if not as_json:
                    bar.console.print(f"[red]refused:[/red] {item.name}: {item.error}")
            bar.update(task, advance=1, failed=failures)

        summary = import_articles(
            vault,
            inputs,
            workers=workers,
            actor=load_settings().actor,
            incident_id=incident,
            kind=kind,
            progress=advance,
        )
        vault.checkpoint()
    data = summary.to_dict()
    if as_json:
        _emit(data)
    else:
        out.print(
            f"{data['articles']} articles in {data['seconds']:.1f} s: {data['imported']} imported "
            f"({data['incidents_created']} new incidents, {data['joined']} joined), "
            f"{data['duplicates']} already imported, {data['failed']} refused"
        )
    if summary.failed:
        raise typer.Exit(code=1)


def _cite(c: dict[str, Any]) -> str:
    if "start" in c:
        return f"[dim]source {c.get('source')} @{c['start']}-{c['end']}[/dim]"
    return ""


def incident_show(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")], as_json: JsonOption = False
) -> None:
    """The whole record: people, agencies, places, legal actions, timeline, sources, claims."""
    from testigo.records.record import incident_record

    with _vault() as vault:
        record = incident_record(vault, incident_id)
    if as_json:
        _emit(record)
        return
    inc = record["incident"]
    out.print(f"[bold]Incident {inc['id']}: {inc['title']}[/bold]")
    out.print(
        f"  status {inc['status']}, {inc['confidentiality']}; when {inc['start_time'] or '?'} "
        f"({inc['time_precision'] or 'unknown'}); where {inc['place'] or '?'}"
    )
    for s in record["sources"]:
        out.print(f"  source {s['id']}: {s['kind']} {s['outlet'] or ''} {s['title'] or ''}")
    _people(record["people"])
    for o in record["organizations"]:
        parent = f", part of {o['parent']}" if o["parent"] else ""
        out.print(f"  agency: {o['name']} ({o['kind']}{parent})")
    for p in record["places"]:
        where = f"{p['admin1'] or ''} ({p['latitude']}, {p['longitude']})"
        out.print(f"  place ({p['role']}): {p['name']}, {where}")
    for a in record["legal_actions"]:
        shown = {True: "shown", False: "NOT shown", None: ""}[a["shown_to_subject"]]
        out.print(f"  legal: {a['kind']} {a['issued_on'] or ''} {shown} {_cite(a['citation'])}")
    _timeline(record["timeline"])
    _claims(record["claims"])


def _people(people: list[dict[str, Any]]) -> None:
    table = Table("id", "name", "roles", "age", "minor", "sensitivity", title="People")
    for p in people:
        roles = ", ".join(sorted({r["role"] for r in p["roles"]}))
        table.add_row(
            str(p["id"]),
            p["name"] or f"({p['description']})",
            roles,
            str(p["age"] or ""),
            "yes" if p["minor"] else "",
            p["sensitivity"],
        )
    out.print(table)


def _timeline(events: list[dict[str, Any]]) -> None:
    table = Table("source", "kind", "when", "what", title="Timeline")
    for e in events:
        when = e["clock_time"] or e["occurred_on"] or ""
        if e["media_offset_seconds"] is not None:
            when += f" +{int(e['media_offset_seconds'] // 60)} min into recording"
        table.add_row(str(e["source"]), e["kind"], when, e["description"])
    out.print(table)


def _claims(claims: list[dict[str, Any]]) -> None:
    table = Table("fact", "status", "accounts", title="Claims")
    for c in claims:
        accounts = "\n".join(
            f"source {a['source']}: {a['stance']} {json.dumps(a['value'], ensure_ascii=False)}"
            + (f" ({a['speaker']})" if a["speaker"] else "")
            for a in c["accounts"]
        )
        marks = {
            "corroborated": "[green]corroborated[/green]",
            "contradicted": "[red]contradicted[/red]",
        }
        mark = marks.get(c["status"], c["status"])
        table.add_row(c["key"], mark, accounts)
    out.print(table)


def incident_people(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")], as_json: JsonOption = False
) -> None:
    """People in an incident with their roles, ages, minor flag and sensitivity."""
    from testigo.records.record import incident_record

    with _vault() as vault:
        people = incident_record(vault, incident_id)["people"]
    if as_json:
        _emit(people)
    else:
        _people(people)


def incident_timeline(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")], as_json: JsonOption = False
) -> None:
    """What happened, in reported order, each step with its citation."""
    from testigo.records.record import incident_record

    with _vault() as vault:
        events = incident_record(vault, incident_id)["timeline"]
    if as_json:
        _emit(events)
    else:
        _timeline(events)


def incident_claims(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")], as_json: JsonOption = False
) -> None:
    """Every fact with each source's account side by side: corroborated or contradicted."""
    from testigo.records.record import incident_record

    with _vault() as vault:
        claims = incident_record(vault, incident_id)["claims"]
    if as_json:
        _emit(claims)
    else:
        _claims(claims)


def incident_edit(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")],
    field: Annotated[str, typer.Option("--field", help="title, summary, status, ...")],
    value: Annotated[str, typer.Option("--value", help="The new value ('' to clear).")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the ledger.")],
    as_json: JsonOption = False,
) -> None:
    """Change one field of an incident; the old value and the reason go to the ledger."""
    from testigo.records.incidents import update_incident

    with _vault() as vault:
        summary = update_incident(
            vault, incident_id, field, value, reason=reason, actor=load_settings().actor
        )
    if as_json:
        _emit(summary.to_dict())
    else:
        out.print(f"Incident {incident_id}: {field} set to {value!r}")


RECORD_KINDS = ("event", "person", "legal")


def _record_value(field: str, raw: str) -> object:
    """Command-line text to a field value: '' clears; shown_to_subject takes yes/no/true/false."""
    if field != "shown_to_subject":
        return raw
    answers: dict[str, bool | None] = {"yes": True, "true": True, "no": False, "false": False}
    answers[""] = None
    if raw.strip().lower() not in answers:
        raise UsageError("shown_to_subject takes yes, no or '' (not stated)")
    return answers[raw.strip().lower()]


def incident_edit_record(
    incident_id: Annotated[int, typer.Argument(help="Incident id.")],
    kind: Annotated[str, typer.Argument(help="event, person or legal (a legal action).")],
    record_id: Annotated[int, typer.Argument(help="Id of the event, person or legal action.")],
    changes: Annotated[
        list[str], typer.Option("--set", help="FIELD=VALUE, repeatable ('FIELD=' clears).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the ledger.")],
    as_json: JsonOption = False,
) -> None:
    """Correct an event, a person or a legal action of an incident; each changed field is a
    ledger entry with the old value, the new one and the reason."""
    from testigo.records import edits

    if kind not in RECORD_KINDS:
        raise UsageError(f"the kind must be one of: {', '.join(RECORD_KINDS)} (got {kind!r})")
    values: dict[str, object] = {}
    for change in changes:
        field, sep, raw = change.partition("=")
        if not sep or not field.strip():
            raise UsageError(f"write each change as FIELD=VALUE (got {change!r})")
        values[field.strip()] = _record_value(field.strip(), raw)
    edit = edits.EDITORS["legal_action" if kind == "legal" else kind]
    with _vault() as vault:
        result = edit(
            vault, incident_id, record_id, values, reason=reason, actor=load_settings().actor
        )
    if as_json:
        _emit(result.to_dict())
    elif result.changed:
        out.print(f"{kind.capitalize()} {record_id}: changed {', '.join(result.changed)}")
    else:
        out.print(f"{kind.capitalize()} {record_id}: nothing changed")


def incident_merge_people(
    keep: Annotated[int, typer.Argument(help="Person id to keep.")],
    merge: Annotated[int, typer.Argument(help="Person id to merge into it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why they are one person.")],
    as_json: JsonOption = False,
) -> None:
    """Merge two records of one person; ledgered with the actor and the reason."""
    from testigo.records.people import merge_people

    with _vault() as vault:
        result = merge_people(vault, keep, merge, actor=load_settings().actor, reason=reason)
    if as_json:
        _emit(result.to_dict())
    else:
        out.print(f"Person {merge} merged into {keep} (ledger entry {result.ledger_seq})")


def register(article_app: typer.Typer, incident_app: typer.Typer) -> None:
    """Add the record commands to the `article` and `incident` command groups."""
    article_app.command("import")(article_import)
    incident_app.command("show")(incident_show)
    incident_app.command("people")(incident_people)
    incident_app.command("timeline")(incident_timeline)
    incident_app.command("claims")(incident_claims)
    incident_app.command("edit")(incident_edit)
    incident_app.command("edit-record")(incident_edit_record)
    incident_app.command("merge-people")(incident_merge_people)

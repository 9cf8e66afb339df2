"""`testigo article ...`: read a news article and show what can be learned from it.

``extract`` prints the extraction without storing anything; ``--json`` gives the machine form
documented in docs/extraction.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from testigo.errors import TestigoError
from testigo.extract import ArticleExtraction, extract_article

article_app = typer.Typer(
    name="article",
    help="Extract people, agencies, places, dates and quotes from news articles.",
    no_args_is_help=True,
)


@article_app.callback()
def article_callback() -> None:
    """Extract people, agencies, places, dates and quotes from news articles."""


def _read(file: str) -> tuple[bytes, str | None]:
    if file == "-":
        return sys.stdin.buffer.read(), None
    path = Path(file)
    if not path.is_file():
        raise TestigoError(f"No such file: {file}")
    return path.read_bytes(), path.name


def _show(result: ArticleExtraction, console: Console) -> None:
    console.print(f"[bold]{result.title or '(no title)'}[/bold]")
    facts = Table.grid(padding=(0, 2))
    facts.add_row("outlet", result.outlet or "-")
    facts.add_row("language", result.language)
    facts.add_row("published", result.published.value if result.published else "-")
    incident = result.incident_date
    facts.add_row(
        "incident date",
        f"{incident.value} ({incident.precision}, from '{incident.text}')" if incident else "-",
    )
    loc = result.location
    place = ", ".join(x for x in (loc.city, loc.state, loc.country) if x) or "-"
    if loc.latitude is not None and loc.longitude is not None:
        place += f"  ({loc.latitude:.4f}, {loc.longitude:.4f})"
    facts.add_row("place", place)
    facts.add_row("agencies", "; ".join(result.agencies) or "-")
    force = {True: "yes", False: "no (stated)", None: "not described"}[result.use_of_force]
    facts.add_row("use of force", force)
    facts.add_row("facility", result.detention_facility.text if result.detention_facility else "-")
    console.print(facts)
    if result.people:
        people = Table(title="People")
        for column in ("name", "title", "affiliation", "age", "role"):
            people.add_column(column)
        for p in result.people:
            people.add_row(p.name, p.title or "", p.affiliation or "", str(p.age or ""), p.role)
        console.print(people)
    if result.quotes:
        quotes = Table(title="Quotes")
        quotes.add_column("speaker")
        quotes.add_column("kind")
        quotes.add_column("text")
        for q in result.quotes:
            quotes.add_row(
                q.speaker or "?", q.kind, q.text if len(q.text) < 120 else q.text[:117] + "..."
            )
        console.print(quotes)
    for label, items in (("Legal", result.legal), ("Injuries", result.injuries)):
        if items:
            console.print(f"[bold]{label}[/bold]")
            for fact in items:
                console.print(f"  - [{fact.kind}] {fact.text}")
    for media in result.media:
        console.print(
            f"[bold]Media[/bold]: {media.kind} on {media.platform or '?'}"
            f", {media.duration or 'length not stated'}, {media.views or 'views not stated'}"
        )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@article_app.command("extract")
def extract_command(
    file: Annotated[str, typer.Argument(help="Article file (HTML or text), or '-' for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the extraction as JSON.")] = False,
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="Force 'text/html' or 'text/plain'.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Where the article was published.")
    ] = None,
) -> None:
    """Extract facts from an article and print them; nothing is stored."""
    console = Console()
    try:
        data, filename = _read(file)
        result = extract_article(data, content_type=content_type, url=url, filename=filename)
    except TestigoError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=exc.exit_code) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    _show(result, console)

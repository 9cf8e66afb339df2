"""`testigo serve`, `testigo user ...`, `testigo token ...`: the web app from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from testigo.config import load_settings
from testigo.errors import NotFoundError
from testigo.vault.service import open_vault
from testigo.web.models import ROLES

out = Console(highlight=False, soft_wrap=True)
user_app = typer.Typer(help="Web app accounts: create users, change roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    bootstrap: Annotated[
        bool,
        typer.Option(
            "--bootstrap",
            help="Create the vault, the example incident and (once) an admin account first.",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    jobs: Annotated[
        int,
        typer.Option(
            help="Analysis job threads run inside the server (0: leave jobs to `testigo worker`)."
        ),
    ] = 1,
) -> None:
    """Serve the web app and the JSON API (http://HOST:PORT, OpenAPI at /api/v1/openapi.json)."""
    import uvicorn

    settings = load_settings()
    if bootstrap:
        from testigo.web.bootstrap import bootstrap as run_bootstrap

        result = run_bootstrap(settings)
        if result.example_incident_id is not None:
            out.print(f"Example incident: #{result.example_incident_id}")
        if result.admin_password:
            out.print(
                f"Admin account [bold]{result.admin_name}[/bold], password "
                f"[bold]{result.admin_password}[/bold] (shown only this once)"
            )
    # Start-up is done in order, in this thread, before any thread of ours exists: the libraries
    # imported late, then the app (when this process serves it), then the job threads.
    from testigo.preload import preload_libraries

    preload_libraries()
    target: Any = "testigo.web.asgi:app"
    if workers == 1:
        from testigo.web.app import create_app

        target = create_app(settings)
    job_worker = None
    job_vault = None
    if jobs > 0:
        # Embedded mode: analysis jobs run in threads of this process, on the same database.
        from testigo.jobs.worker import Worker

        job_vault = open_vault(settings)
        job_worker = Worker(job_vault, threads=jobs)
        job_worker.start_background()
        out.print(f"Analysis jobs: {jobs} thread(s) in this process")
    out.print(f"Serving on http://{host}:{port}")
    try:
        _run_server(uvicorn, target, host, port, workers)
    finally:
        if job_worker is not None:
            job_worker.stop()
        if job_vault is not None:
            job_vault.dispose()


def _run_server(uvicorn: Any, target: Any, host: str, port: int, workers: int) -> None:
    uvicorn.run(
        target,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
    )


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="The user name.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "viewer",
) -> None:
    """Create a user; the generated password is printed once."""
    from testigo.web.accounts import create_user

    settings = load_settings()
    vault = open_vault(settings)
    try:
        user, password = create_user(vault, name, role, actor=settings.actor)
    finally:
        vault.dispose()
    out.print(f"User {user.name} ({user.role}) created. Password (shown only once): {password}")


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    from testigo.web.accounts import list_users

    vault = open_vault(load_settings())
    try:
        for user in list_users(vault):
            state = " (disabled)" if user.disabled else ""
            out.print(f"{user.id}\t{user.name}\t{user.role}{state}")
    finally:
        vault.dispose()


@user_app.command("set-role")
def user_set_role(
    name: Annotated[str, typer.Argument(help="The user name.")],
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "",
) -> None:
    """Change a user's role (ledgered; ends their sessions)."""
    from testigo.web.accounts import find_user, update_user

    settings = load_settings()
    vault = open_vault(settings)
    try:
        with vault.reading() as session:
            user = find_user(session, name)
        if user is None:
            raise NotFoundError(f"there is no user called {name}")
        update_user(vault, user.id, actor=settings.actor, role=role, reason=reason or None)
    finally:
        vault.dispose()
    out.print(f"{name} is now {role}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="Whose token it is.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "script",
) -> None:
    """Issue an API token; it is printed once and only its SHA-256 is stored."""
    from testigo.web.accounts import create_token, find_user

    settings = load_settings()
    vault = open_vault(settings)
    try:
        with vault.reading() as session:
            row = find_user(session, user)
        if row is None:
            raise NotFoundError(f"there is no user called {user}")
        _, token = create_token(vault, row.id, name, actor=settings.actor)
    finally:
        vault.dispose()
    out.print(token)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")

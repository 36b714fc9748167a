"""``hanoinet officer ...``: accounts of the people who use the node (operator commands)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hanoinet.cli.common import DataOption, err
from hanoinet.node.officers import Role, add_officer
from hanoinet.node.settings import load_settings

app = typer.Typer(help="Officer accounts and their API tokens.", no_args_is_help=True)


@app.command("add")
def add(
    data: Path = DataOption,
    name: str = typer.Option(..., help="full name"),
    role: str = typer.Option(..., help=f"one of: {', '.join(r.value for r in Role)}"),
    desk: str = typer.Option(..., help="desk the officer works at, e.g. 247"),
) -> None:
    """Create an officer and print their personal API token (shown once; only its hash is stored)."""
    from hanoinet.db.database import Database

    settings = load_settings(data)
    database = Database(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    database.migrate()
    with database.transaction() as uow:
        officer, token = add_officer(uow.session, name=name, role=role, desk=desk, desks=settings.desk_ids)
    database.dispose()
    err.print(f"Officer {officer.id} ({officer.name}, {officer.role}, desk {officer.desk}) created. "
              "Token (shown once, give it to the officer privately):")
    sys.stdout.write(token + "\n")

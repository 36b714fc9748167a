"""``hanoinet officer ...``: accounts of the people who use the node (operator commands)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer
from rich.table import Table

from hanoinet.cli.common import DataOption, node_zone, open_database, time_column
from hanoinet.cli.console import err, out, when
from hanoinet.node.roles import Role

app = typer.Typer(help="Officer accounts and their API tokens.", no_args_is_help=True)


@app.command("add")
def add(
    data: Path = DataOption,
    name: str = typer.Option(..., help="full name"),
    role: str = typer.Option(..., help=f"one of: {', '.join(r.value for r in Role)}"),
    desk: str = typer.Option(..., help="desk the officer works at, e.g. 247"),
    email: str | None = typer.Option(None, help="where duty alerts reach the officer (docs/alerts.md)"),
) -> None:
    """Create an officer and print their personal API token (shown once; only its hash is stored)."""
    from hanoinet.node.officers import add_officer
    from hanoinet.node.settings import load_settings

    settings = load_settings(data)
    database = open_database(data)
    with database.transaction() as uow:
        officer, token = add_officer(uow.session, name=name, role=role, desk=desk, desks=settings.desk_ids,
                                     email=email)
    database.dispose()
    err.print(f"Officer {officer.id} ({officer.name}, {officer.role}, desk {officer.desk}) created. "
              "Token (shown once, give it to the officer privately):")
    sys.stdout.write(token + "\n")


@app.command("list")
def list_(data: Path = DataOption) -> None:
    """Officers of this node, with their role, desk, e-mail address and whether they are disabled."""
    from hanoinet.node.officers import list_officers

    database = open_database(data)
    zone = node_zone(data)
    with database.transaction(readonly=True) as uow:
        table = Table("id", "name", "role", "desk", "e-mail", time_column("created"), time_column("disabled"))
        for o in list_officers(uow.session):
            table.add_row(str(o.id), o.name, o.role, o.desk, o.email or "", when(o.created_at, zone, sep="\n"),
                          when(o.disabled_at, zone, sep="\n"))
    database.dispose()
    out.print(table)


@app.command("disable")
def disable(data: Path = DataOption, officer_id: int = typer.Option(..., "--id", help="the officer's id")) -> None:
    """Disable an officer; their token is refused from now on."""
    from hanoinet.node.officers import disable_officer

    database = open_database(data)
    with database.transaction() as uow:
        officer = disable_officer(uow.session, officer_id)
        name = officer.name
    database.dispose()
    out.print(f"Officer {officer_id} ({name}) is disabled; their token no longer works.")


@app.command("token")
def token(data: Path = DataOption, officer_id: int = typer.Option(..., "--id", help="the officer's id")) -> None:
    """Give an officer a new API token (a lost one): the old token stops working, the new one is shown once."""
    from hanoinet.node.officers import reissue_token

    database = open_database(data)
    with database.transaction() as uow:
        officer, value = reissue_token(uow.session, officer_id, actor=f"operator:{getpass.getuser()}")
        name = officer.name
    database.dispose()
    err.print(f"Officer {officer_id} ({name}): the old token no longer works. "
              "New token (shown once, give it to the officer privately):")
    sys.stdout.write(value + "\n")

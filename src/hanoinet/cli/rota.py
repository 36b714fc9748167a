"""``hanoinet rota ...``: who is on duty at a desk, always through the node's API."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption, time_column
from hanoinet.cli.console import err, out, print_json, when

app = typer.Typer(help="Duty rotas: who is alerted, in which order (through the running node's API).",
                  no_args_is_help=True)


@app.command("add")
def add(
    desk: str = typer.Option(..., help="desk id, e.g. 247"),
    officer: int = typer.Option(..., help="the officer's id (see `hanoinet officer list`)"),
    starts: str = typer.Option(..., "--from", help="start, the desk's local time: '2026-11-24 22:00'"),
    ends: str = typer.Option(..., "--to", help="end, the desk's local time: '2026-11-25 06:00'"),
    order: int = typer.Option(1, help="1: called first, 2: next, ..."),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Put an officer on duty at a desk (supervisors and admins). Times are in the desk's time zone."""
    entry = ApiClient(node, token).call("POST", "/api/v1/rota", json={
        "desk": desk, "officer_id": officer, "from": starts, "to": ends, "order": order})
    from hanoinet.clock import time_zone

    zone = time_zone(entry["timezone"])
    out.print(f"rota entry {entry['id']}: {entry['officer']} on duty at desk {entry['desk']}, called "
              f"{entry['order']}\n  from {when(entry['from'], zone)}\n  to   {when(entry['to'], zone)}")
    for warning in entry["warnings"]:
        err.print(f"[bold yellow]warning:[/] {warning}")


@app.command("list")
def list_(
    desk: str | None = typer.Option(None, help="desk id; default: your desk"),
    at: str | None = typer.Option(None, help="as at this time, RFC 3339 with its offset, e.g. "
                                                  "2026-11-24T23:00:00+01:00; default: now"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Entries running or to come, in the desk's time and UTC, marking who is on duty now."""
    params: dict[str, Any] = {k: v for k, v in {"desk": desk, "at": at}.items() if v}
    rota = ApiClient(node, token).call("GET", "/api/v1/rota", params=params)
    if as_json:
        print_json(rota)
        return
    from hanoinet.clock import time_zone

    # Each bound in the desk's time above UTC, so the table fits a terminal of 80 columns.
    zone = time_zone(rota["timezone"])
    table = Table("id", "officer", "order", time_column("from"), time_column("to"), "now",
                  title=f"Rota of desk {rota['desk']} ({rota['timezone']}) at {when(rota['at'], zone)}")
    for e in rota["entries"]:
        table.add_row(str(e["id"]), f"{e['officer']} ({e['officer_id']})", str(e["order"]),
                      when(e["from"], zone, sep="\n"), when(e["to"], zone, sep="\n"),
                      "ON DUTY" if e["on_duty"] else "")
    out.print(table)
    on_duty = ", ".join(c["officer"] for c in rota["on_duty"])
    out.print(f"On duty, in call order: {on_duty}" if on_duty else
              "[bold red]Nobody reachable is on duty:[/] pages go to the supervisors at once.")


@app.command("remove")
def remove(
    entry_id: int = typer.Argument(..., help="the entry's id (see `hanoinet rota list`)"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Remove a rota entry (supervisors and admins)."""
    result = ApiClient(node, token).call("DELETE", f"/api/v1/rota/{entry_id}")
    out.print(f"rota entry {result['removed']} of desk {result['desk']} removed")

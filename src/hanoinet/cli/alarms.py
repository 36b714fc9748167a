"""``hanoinet alarms``: list the node's alarms, acknowledge or clear one (through the node's API)."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption
from hanoinet.cli.console import out, print_json, when

app = typer.Typer(
    help="Alarms of the node: list them (the default), acknowledge (`ack`) or clear one. Admins and supervisors "
         "see every alarm; duty officers and central-authority officers their desk's.",
    invoke_without_command=True,
)

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "warning": "yellow"}
_STATE_STYLE = {"open": "bold", "acknowledged": "", "cleared": "dim"}


@app.callback()
def list_(
    ctx: typer.Context,
    state: list[str] = typer.Option([], "--state", help="open, acknowledged or cleared (repeat; default: the "
                                    "open and acknowledged ones)"),
    severity: str | None = typer.Option(None, help="only this severity: critical, high, warning"),
    code: str | None = typer.Option(None, help="only this code, e.g. directory_expired"),
    desk: str | None = typer.Option(None, help="only the alarms of this desk"),
    limit: int = typer.Option(100, help="at most this many, newest first"),
    as_json: bool = typer.Option(False, "--json", help="the API's JSON, with each alarm's detail"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Alarms not yet cleared, newest first (or those of --state)."""
    if ctx.invoked_subcommand is not None:
        return
    params: dict[str, Any] = {"limit": limit, "state": state}
    params.update({k: v for k, v in (("severity", severity), ("code", code), ("desk", desk)) if v})
    client = ApiClient(node, token)
    rows: list[dict[str, Any]] = client.call("GET", "/api/v1/alarms", params=params)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no {' or '.join(state) if state else 'open or acknowledged'} alarms")
        return
    zone = client.zone()
    # The desk goes with the alarm's code: a desk column would leave the message too little of 80 columns.
    table = Table("id", "raised", "state", Column("alarm · desk", ratio=1, min_width=24, overflow="fold"),
                  box=box.SIMPLE_HEAD)
    for r in rows:
        alarm = Text(r["code"], "bold")
        alarm.append(f" {r['severity']}", _SEVERITY_STYLE.get(r["severity"], ""))
        alarm.append(f" · {r['desk'] or 'node'}")
        alarm.append(f"\n{r['message']}")
        table.add_row(str(r["id"]), when(r["at"], zone, sep="\n"), Text(_state(r), _STATE_STYLE.get(r["state"], "")),
                      alarm)
    out.print(table, soft_wrap=False)  # wrapped to the terminal: messages are long
    counted = {s: sum(1 for r in rows if r["state"] == s) for s in ("open", "acknowledged", "cleared")}
    out.print(", ".join(f"{n} {s}" for s, n in counted.items() if n)
              + (f" (the newest {limit}; --limit for more)" if len(rows) == limit else ""))


def _state(row: dict[str, Any]) -> str:
    """The state, and who took it there: ``acknowledged`` over ``by Lan``."""
    step = row["cleared"] or row["acknowledged"]
    return f"{row['state']}\nby {step['by']['name'] or step['by']['id']}" if step else row["state"]


@app.command("ack")
def acknowledge(
    alarm_id: int = typer.Argument(..., metavar="ID", help="the alarm's id, as listed"),
    reason: str | None = typer.Option(None, help="what you are doing about it (optional), e.g. \"calling FRA\""),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Say you are on an alarm: it is no longer counted as open, but stays listed until cleared."""
    row = ApiClient(node, token).call("POST", f"/api/v1/alarms/{alarm_id}/acknowledge", json={"reason": reason})
    out.print(Text(f"alarm {row['id']} ({row['code']}) acknowledged"))


@app.command("clear")
def clear(
    alarm_id: int = typer.Argument(..., metavar="ID", help="the alarm's id, as listed"),
    reason: str = typer.Option(..., help="what was done, e.g. \"directory version 8 imported\""),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Say an alarm is dealt with, and why (admins and supervisors). Kept, with the reason, in the audit trail."""
    row = ApiClient(node, token).call("POST", f"/api/v1/alarms/{alarm_id}/clear", json={"reason": reason})
    out.print(Text(f"alarm {row['id']} ({row['code']}) cleared: {row['cleared']['reason']}"))

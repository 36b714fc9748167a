"""``hanoinet case show CASE``: one case, everything in it, through the node's API (docs/mla.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer
from rich.table import Column, Table

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption, time_column
from hanoinet.cli.console import out, print_json, when

app = typer.Typer(help="Cases: everything filed under a case reference, across both States.", no_args_is_help=True)

#: A case holds personal data: reading it needs a reason, kept in the node's access log (docs/privacy.md).
ReasonOption = typer.Option(..., "--reason", help="why you read it (required): the request you answer, the case "
                            "you work on; kept in the access log with your name (docs/privacy.md)")


def _reason(given: str) -> str:
    from hanoinet.privacy.reasons import check_reason

    return check_reason(given, add="--reason TEXT")


@app.command("show")
def show(case: str = typer.Argument(..., help="the case reference"), reason: str = ReasonOption,
         as_json: bool = typer.Option(False, "--json"), node: str | None = NodeUrlOption,
         token: str | None = TokenOption) -> None:
    """The case's requests (and those linked to them), evidence with its custody, packages and consents."""
    why = _reason(reason)
    client = ApiClient(node, token)
    c = client.call("GET", f"/api/v1/cases/{quote(case, safe='')}", params={"reason": why})
    if as_json:
        print_json(c)
        return
    zone = client.zone()
    out.print(f"[bold]Case {c['case']}[/]")
    # References, ids and hashes never wrap (they are copied into other commands); other columns fold.
    requests = Table(Column("ref\ncase", no_wrap=True), Column("kind", overflow="fold"),
                     Column("with\nstate", overflow="fold"), Column("clocks", overflow="fold"),
                     title=f"Requests ({len(c['requests'])})")
    for r in c["requests"]:
        direction = "IN from" if r["side"] == "requested" else "OUT to"
        marks = " CONFIDENTIAL" * r["confidential"] + " DO-NOT-NOTIFY-USER" * r["do_not_notify"]
        clocks = "\n".join(f"{k['name'].replace('_', ' ')}: {k['status']}"
                           + (f", due {when(k['due'], zone)}" if k["due"] else "") for k in r["clocks"])
        requests.add_row(f"{r['ref']}\n{r['case'] or ''}", f"{r['kind_title']} (Art. {r['article']}){marks}\n"
                         f"[dim]{r['linked']}[/]", f"{direction} {r['other']}\n{r['state']}", clocks)
    out.print(requests)
    evidence = Table(Column("file\nsha256", no_wrap=True), Column("name, origin, purpose", overflow="fold"),
                     Column("custody (newest)", overflow="fold"), title=f"Evidence ({len(c['evidence'])})")
    for f in c["evidence"]:
        received = f["received"]
        origin = f"from {received['sender']} for {received['case']}" if received else f"ours ({f['origin']})"
        retention = f["retention"]["until"]
        state = "SHREDDED " + when(f["shredded_at"], zone) if f["shredded"] else \
            f"kept until {when(retention, zone)}" if retention else "no retention end"
        about = [f["name"], origin, *([f"purpose: {received['purpose']}"] if received and received["purpose"] else []),
                 state]
        custody = f["custody"]
        events = [f"{e['action']} {e['actor'] or '(redacted)'} {when(e['at'], zone)}" for e in custody["latest"]]
        events.append(f"{custody['count']} record(s)")
        evidence.add_row(f"{f['id']}\n{f['sha256'][:32]}\n{f['sha256'][32:]}", "\n".join(about), "\n".join(events))
    out.print(evidence)
    packages = Table(Column("package", no_wrap=True), Column("with", overflow="fold"),
                     Column("status", overflow="fold"), time_column("when"), title=f"Packages ({len(c['packages'])})")
    for p in c["packages"]:
        verified = "" if p["verified"] is None else "\nverified" if p["verified"] else "\nnot verified yet"
        packages.add_row(p["package"], f"{p['direction']} {'to' if p['direction'] == 'sent' else 'from'} "
                         f"{p['peer']}\n{p['here']}/{p['files']} file(s)", f"{p['status']}{verified}",
                         when(p["created_at"], zone, sep="\n"))
    out.print(packages)
    consents = Table(Column("consent request", no_wrap=True), Column("use", overflow="fold"),
                     Column("status", overflow="fold"), time_column("asked"), title=f"Consents ({len(c['consents'])})")
    for k in c["consents"]:
        consents.add_row(k["request"], f"{k['direction']} {'to' if k['direction'] == 'sent' else 'from'} "
                         f"{k['peer']}\n{k['use']}: {k['target']}", k["status"],
                         when(k["requested_at"], zone, sep="\n"))
    out.print(consents)
    _more(c["more"])


def _more(more: dict[str, Any]) -> None:
    cut = [name for name, is_more in more.items() if is_more]
    if cut:
        out.print(f"[bold yellow]More {', '.join(cut)} than shown[/] (the oldest are shown); the others are in "
                  "`hanoinet evidence list`, `hanoinet evidence offers` and `hanoinet evidence consent list`")

"""``hanoinet privacy ...``: the personal-data safeguards (Art. 36), through the node's API (docs/privacy.md).

``access-log`` shows who read which personal data, when and why; ``check-access-log`` checks that none of it
was removed or changed.
"""

from __future__ import annotations

from typing import Any

import typer

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption
from hanoinet.cli.console import out, print_json, when

app = typer.Typer(help="Personal-data safeguards (Art. 36): the access log (docs/privacy.md).", no_args_is_help=True)


@app.command("access-log")
def access_log(
    reason: str = typer.Option(..., "--reason", help="why you read the log (required): it is personal data too, "
                               "and your query is recorded in it"),
    officer: str | None = typer.Option(None, "--officer", help="only this officer's reads: an id (3) or an actor "
                                       "(officer:3, operator:LOGIN)"),
    kind: str | None = typer.Option(None, "--kind", help="only reads of this kind: request, evidence_file, "
                                    "access_log"),
    item: str | None = typer.Option(None, "--item", help="only reads of this item: a request's reference, an "
                                    "evidence file's id"),
    case: str | None = typer.Option(None, "--case", help="only reads of this case's items"),
    since: str | None = typer.Option(None, "--since", help="only reads at or after this time (RFC 3339, e.g. "
                                     "2026-12-07T08:00:00+07:00)"),
    until: str | None = typer.Option(None, "--until", help="only reads before this time (RFC 3339)"),
    before: int | None = typer.Option(None, "--before", min=1, help="only rows older than this one: the number "
                                      "the previous page ends with"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="rows per page"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Who read which personal data, when and why, newest first (admins and supervisors)."""
    from hanoinet.privacy.reasons import check_reason

    params: dict[str, Any] = {"reason": check_reason(reason, add="--reason TEXT"), "limit": limit}
    for name, value in (("officer", officer), ("kind", kind), ("item", item), ("case", case), ("since", since),
                        ("until", until), ("before", before)):
        if value is not None:
            params[name] = value
    client = ApiClient(node, token)
    page = client.call("GET", "/api/v1/access-log", params=params)
    if as_json:
        print_json(page)
        return
    zone = client.zone()
    entries = page["entries"]
    out.print(f"{len(entries)} read(s), newest first")
    # One block per read, one value per line: references, reasons and times are never cut at 80 columns.
    for e in entries:
        out.print(f"\n#{e['seq']}  {when(e['at'], zone, precision='second')}", markup=False)
        item = f"{e['kind'].replace('_', ' ')} {e['item']}" + (f" (case {e['case']})" if e["case"] else "")
        for label, value in (("who", f"{e['name']} ({e['actor']})"), ("read", item), ("why", e["reason"]),
                             ("via", e["via"])):
            out.print(f"  {label:<5} {value}", markup=False)
    if page["before"] is not None:
        out.print(f"\nolder reads: the same command with --before {page['before']}", markup=False)


@app.command("check-access-log")
def check_access_log(
    anchor: str | None = typer.Option(None, "--anchor", help="a head you recorded earlier: the check fails if that "
                                      "row is no longer in the log"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Check that no row of the access log was removed or changed (exit 1 if one was); prints the head to keep."""
    params = {"anchor": anchor} if anchor is not None else {}
    report = ApiClient(node, token).call("GET", "/api/v1/access-log/chain", params=params)
    if as_json:
        print_json(report)
    else:
        out.print(f"{report['rows']} row(s); {'INTACT' if report['intact'] else 'BROKEN'}", markup=False)
        if report["anchored"] is not None:
            out.print("the anchor is in the log" if report["anchored"] else
                      "the anchor is NOT in the log: rows were removed since you recorded it, or the log was rebuilt",
                      markup=False)
        for b in report["breaks"]:
            out.print(f"  row {b['seq']}: {b['problem']}", markup=False)
        out.print(f"head (keep it, to check later with --anchor):\n  {report['head']}", markup=False)
    if not report["intact"]:
        raise typer.Exit(1)


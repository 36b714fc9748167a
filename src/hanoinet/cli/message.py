"""``hanoinet message ...`` and ``whoami``: officer commands, always through the node's API."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption
from hanoinet.cli.console import out, print_json
from hanoinet.errors import ValidationError

app = typer.Typer(help="Send and read messages (through the running node's API).", no_args_is_help=True)


@app.command("send")
def send(
    to: str = typer.Option(..., help="recipient address STATE/DESK, e.g. FRA/247"),
    subject: str = typer.Option("", help="subject (note.text)"),
    text: str = typer.Option("", help="text (note.text)"),
    kind: str = typer.Option("note.text", help="message kind"),
    body: str = typer.Option("", help="the body as JSON, for kinds other than note.text"),
    case: str | None = typer.Option(None, help="case reference"),
    language: str = typer.Option("en", help="language of the text (BCP 47)"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Send a message from your desk; prints its id. Follow delivery with `message show ID`."""
    try:
        content: dict[str, Any] = json.loads(body) if body else {"subject": subject, "text": text,
                                                                  "language": language}
    except ValueError as exc:
        raise ValidationError(f"--body is not JSON: {exc}", hint='write it like --body \'{"field": "value"}\'') \
            from None
    result = ApiClient(node, token).call("POST", "/api/v1/messages",
                                         json={"to": to, "kind": kind, "body": content, "case": case})
    out.print(f"queued {result['message_id']} to {result['to']} ({result['status']})")


@app.command("list")
def list_(
    direction: str = typer.Option("all", help="in, out or all"),
    status: str | None = typer.Option(None, help="outbox status: pending, delivered, refused, undeliverable"),
    as_json: bool = typer.Option(False, "--json"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Messages of your desk, newest first."""
    params: dict[str, Any] = {"direction": direction}
    if status:
        params["status"] = status
    rows = ApiClient(node, token).call("GET", "/api/v1/messages", params=params)
    if as_json:
        print_json(rows)
        return
    table = Table("dir", "id", "kind", "from", "to", "case", "status")
    for r in rows:
        table.add_row(r["direction"], r["message_id"], r["kind"], r["from"], r["to"], r["case"] or "",
                      r.get("status", "received"))
    out.print(table)


@app.command("show")
def show(message_id: str, node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """One message with its body and receipt."""
    print_json(ApiClient(node, token).call("GET", f"/api/v1/messages/{message_id}"))


def whoami(node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """The officer behind the token."""
    print_json(ApiClient(node, token).call("GET", "/api/v1/me"))

"""``hanoinet ledger ...``: the custody log's status, one record, and proofs a court can check offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from hanoinet.cli.common import ApiClient, NodeUrlOption, TokenOption
from hanoinet.cli.console import out, print_json
from hanoinet.errors import ValidationError

app = typer.Typer(help="The custody log: status, records, proofs (docs/ledger.md).", no_args_is_help=True)
event_app = typer.Typer(help="Custody records.", no_args_is_help=True)
app.add_typer(event_app, name="event")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json"), node: str | None = NodeUrlOption,
           token: str | None = TokenOption) -> None:
    """Size, events waiting, the newest checkpoint, and the key that signs it."""
    s = ApiClient(node, token).call("GET", "/api/v1/ledger")
    if as_json:
        print_json(s)
        return
    table = Table("log", "size", "waiting", "checkpoint", "signed at", show_header=True)
    cp = s["checkpoint"]
    table.add_row(s["origin"], str(s["size"]), str(s["queued"]), f"{cp['size']} / {cp['root']}" if cp else "none",
                  cp["signed_at"] if cp else "")
    out.print(table)
    out.print(f"verifier key: {s['verifier_key']}")
    out.print("newest checkpoint cosigned by: " + (", ".join(s["cosigned_by"]) or "no witness yet"))
    if s["witnessing"]:
        watched = Table("we witness", "size", "last checked")
        for w in s["witnessing"]:
            watched.add_row(w["peer"], str(w["size"]), w["checked_at"])
        out.print(watched)


@event_app.command("show")
def show(index: int, node: str | None = NodeUrlOption, token: str | None = TokenOption) -> None:
    """One custody record, with its inclusion proof in the newest checkpoint."""
    print_json(ApiClient(node, token).call("GET", f"/api/v1/ledger/entries/{index}"))


@app.command("prove")
def prove(
    index: int = typer.Option(..., "--index", help="the entry's index"),
    to: Path = typer.Option(Path("-"), "--out", help="file to write the proof bundle to (default: stdout)"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """A proof bundle for one entry: record, checkpoint, key and inclusion proof, for `ledger verify-proof`."""
    bundle = ApiClient(node, token).call("GET", f"/api/v1/ledger/entries/{index}")
    text = json.dumps(bundle, indent=2, sort_keys=True) + "\n"
    if str(to) == "-":
        out.print(text, end="", markup=False, highlight=False)
    else:
        to.write_text(text, encoding="utf-8")
        out.print(f"wrote the proof of entry {index} in a tree of {bundle['size']} to {to}")


@app.command("verify-proof")
def verify_proof(
    file: Path = typer.Argument(..., help="a proof bundle written by `hanoinet ledger prove`"),
    key: list[str] = typer.Option([], "--key", help="trusted verifier key of the log (repeat); recommended"),
    witness: list[str] = typer.Option([], "--witness", help="verifier key of a witness you trust (repeat)"),
    min_witnesses: int = typer.Option(0, "--min-witnesses", min=0,
                                      help="how many of those witnesses must have cosigned the checkpoint"),
) -> None:
    """Check a proof bundle offline: signed checkpoint, record hash, inclusion proof. Exit 0 only if it holds."""
    from hanoinet.ledger.bundle import verify_bundle  # with pydantic and pycountry: only here, not at start-up

    try:
        bundle = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{file} is not a proof bundle (JSON): {exc}") from None
    if not isinstance(bundle, dict):
        raise ValidationError(f"{file} is not a proof bundle (a JSON object)")
    verified = verify_bundle(bundle, key, witnesses=witness, min_witnesses=min_witnesses)
    what = verified.event.action if verified.event else "a redacted record"
    out.print(f"[green]verified[/]: entry {verified.index} ({what}) is in {verified.checkpoint.origin} at size "
              f"{verified.checkpoint.size}")
    if verified.witnessed_before is not None:
        from hanoinet.clock import show_instant

        logged = show_instant(datetime.fromtimestamp(verified.witnessed_before, UTC), precision="second")
        names = ", ".join(c.name for c in verified.cosignatures)
        out.print(f"cosigned by {names}: the record was in the log no later than {logged}")
    if not verified.pinned:
        out.print("[yellow]note:[/] checked against the key the bundle names; pass --key with the log's key "
                  "from the directory or a witness to know it is that State's log")

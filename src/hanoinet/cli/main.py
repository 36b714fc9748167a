"""Entry point of the ``hanoinet`` command."""

from __future__ import annotations

from pathlib import Path

import typer

from hanoinet.cli import (
    alarms,
    case,
    directory,
    evidence,
    hashes,
    ledger,
    message,
    node,
    officer,
    privacy,
    request,
    rota,
    takedown,
    victims,
)
from hanoinet.cli.console import guarded

app = typer.Typer(
    name="hanoinet", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="A State's node for cooperation under the UN Convention against Cybercrime.",
)
app.add_typer(node.app, name="node")
app.add_typer(officer.app, name="officer")
app.add_typer(directory.app, name="directory")
app.add_typer(message.app, name="message")
app.add_typer(rota.app, name="rota")
app.add_typer(request.app, name="request")
app.add_typer(case.app, name="case")
app.add_typer(ledger.app, name="ledger")
app.add_typer(evidence.app, name="evidence")
app.add_typer(hashes.app, name="hashes")
app.add_typer(hashes.platform_app, name="platform")
app.add_typer(victims.app, name="victims")
app.add_typer(takedown.app, name="takedown")
app.add_typer(alarms.app, name="alarms")
app.add_typer(privacy.app, name="privacy")


#: Commands that read only the files they are given and log nothing: they are spared importing structlog, a
#: noticeable part of the start-up of `hanoinet verify` (docs/evidence.md, "Performance").
_LOGS_NOTHING = frozenset({"verify"})


@app.callback()
def _logs_to_stderr(ctx: typer.Context) -> None:
    # Runs before every command, once the command line is parsed (never for --help, which needs no logs):
    # logs go to stderr so that stdout carries only what a command prints (tokens, cards, JSON).
    # No traceback with local values, no secret (hanoinet.logs); `serve` reconfigures with debug_tracebacks.
    if ctx.invoked_subcommand in _LOGS_NOTHING:
        return
    from hanoinet import logs

    logs.configure(debug=False)


app.command("verify")(evidence.verify)
app.command("match")(hashes.match)
app.command("serve")(node.serve)
app.command("whoami")(message.whoami)


@app.command("demo")
def demo(
    folder: Path = typer.Option(Path("demo-data"), "--dir", help="where the nodes live (wiped first)"),
    keep: bool = typer.Option(False, "--keep", help="leave the nodes running; print their URLs and tokens"),
    as_json: bool = typer.Option(False, "--json", help="print only the final JSON line"),
) -> None:
    """Three States' nodes on loopback follow a ransomware attack on a hospital (Art. 41-43)."""
    from hanoinet.demo.scenario import run as play

    raise SystemExit(play(folder, keep=keep, as_json=as_json))


def run() -> None:
    """Run the CLI, turning every domain error into a message and exit status 2."""
    guarded(app)

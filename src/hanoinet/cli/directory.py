"""``hanoinet directory ...``: the Secretariat's register (init, add, revoke, publish, serve) and import on nodes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hanoinet.cli.common import (
    ApiClient,
    NodeUrlOption,
    TokenOption,
    out,
    passphrase_for_existing_keys,
    passphrase_for_new_keys,
    print_json,
)
from hanoinet.errors import ConfigurationError, ValidationError

app = typer.Typer(help="The directory of member States (trust list).", no_args_is_help=True)

WorkspaceOption = typer.Option(..., "--dir", envvar="HANOINET_AUTHORITY_DIR", help="the Secretariat's workspace")


@app.command("init")
def init(
    folder: Path = WorkspaceOption,
    name: str = typer.Option("UNODC Secretariat", help="name of the authority"),
    insecure_plaintext_keys: bool = typer.Option(False, "--insecure-plaintext-keys",
                                                 help="store the authority key unencrypted (demonstrations only)"),
) -> None:
    """Create the Secretariat's authority key; publish its fingerprint for nodes to pin."""
    from hanoinet.network.authority import AuthorityWorkspace

    fingerprint = AuthorityWorkspace(folder).init(name, passphrase_for_new_keys(insecure_plaintext_keys))
    out.print(f"Authority key created in {folder}. Fingerprint (publish it; nodes pin it): [bold]{fingerprint}[/]")


@app.command("add")
def add(card: Path = typer.Argument(..., help="a member card from `hanoinet node card`, or - for stdin"),
        folder: Path = WorkspaceOption) -> None:
    """Verify a State's self-signed member card and accept it for the next version."""
    from hanoinet.network.authority import AuthorityWorkspace

    try:
        text = sys.stdin.read() if str(card) == "-" else card.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the card {card}: {exc}",
                              hint="pass the file written by `hanoinet node card`") from None
    accepted = AuthorityWorkspace(folder).add_card(text)
    out.print(f"Accepted the card of {accepted.state} ({accepted.name}) with {len(accepted.keys)} keys")


@app.command("revoke")
def revoke(
    folder: Path = WorkspaceOption,
    state: str = typer.Option(..., help="the member whose key is compromised"),
    kid: str = typer.Option(..., help="the key id"),
    since: str = typer.Option("", help="RFC 3339 instant the compromise began (default: now)"),
) -> None:
    """Mark a member's key as compromised; publish to make it take effect."""
    from hanoinet.clock import now, parse_instant
    from hanoinet.network.authority import AuthorityWorkspace

    AuthorityWorkspace(folder).revoke(state, kid, parse_instant(since, field="--since") if since else now())
    out.print(f"{state} key {kid} marked compromised. Run `hanoinet directory publish` now.")


@app.command("publish")
def publish(
    folder: Path = WorkspaceOption,
    valid_days: int = typer.Option(30, help="days until this version expires"),
) -> None:
    """Sign the next directory version with every accepted card."""
    from datetime import timedelta

    from hanoinet.network.authority import AuthorityWorkspace

    workspace = AuthorityWorkspace(folder)
    if not 1 <= valid_days <= 3650:
        raise ValidationError("--valid-days must be between 1 and 3650",
                              hint="a directory is re-published well before it expires; 30 days is usual")
    compact = workspace.publish(passphrase_for_existing_keys(workspace.is_encrypted()),
                                valid_for=timedelta(days=valid_days))
    out.print(f"Published version {workspace.current_version()} with {len(workspace.members())} members "
              f"({len(compact)} bytes) to {folder / 'directory.jws'}")


@app.command("serve")
def serve(
    folder: Path = WorkspaceOption,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8400, help="port"),
) -> None:
    """Publish the newest version at /directory and the public key at /authority.jwk (static files).

    In production put this behind the Secretariat's HTTPS web server, or serve the two files from it.
    """
    from hanoinet.network.authority import AuthorityWorkspace, directory_server

    server = directory_server(AuthorityWorkspace(folder), host, port)
    out.print(f"Serving {folder} at http://{host}:{server.server_port}/directory")
    server.serve_forever()


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="a signed directory (directory.jws)"),
    data: Path | None = typer.Option(None, "--data", "-d", help="import into a stopped node's data directory"),
    node: str | None = NodeUrlOption,
    token: str | None = TokenOption,
) -> None:
    """Give a node a directory version by hand; it is verified against the pinned authority key first.

    With --data (operator, node stopped) it goes straight into the data directory; otherwise it is sent to
    the running node's API with an admin officer's token.
    """
    try:
        compact = file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {file}: {exc}") from None
    if data is not None:
        from hanoinet.cli.node import open_node
        from hanoinet.network.directory_sync import import_directory

        opened = open_node(data)
        directory, new = import_directory(opened, compact, source=str(file), actor="operator")
        opened.close()
        out.print(f"Directory version {directory.version} {'imported' if new else 'already held'} "
                  f"({len(directory.members())} members)")
        return
    result = ApiClient(node, token).call("POST", "/api/v1/directory", content=compact.encode(),
                                         headers={"content-type": "application/jose"})
    print_json(result)

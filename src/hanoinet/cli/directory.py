"""``hanoinet directory ...``: the Secretariat's register (init, add, revoke, publish, serve), import on nodes, and
the members as a node sees them (list, show)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from hanoinet.cli.common import (
    ApiClient,
    NodeUrlOption,
    TokenOption,
    passphrase_for_existing_keys,
    passphrase_for_new_keys,
)
from hanoinet.cli.console import out, print_json
from hanoinet.errors import ConfigurationError, NotFound, ValidationError

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
    since: str = typer.Option("", help="when the compromise began, RFC 3339 with its offset, e.g. "
                                         "2026-12-07T22:10:00+01:00 (default: now)"),
) -> None:
    """Mark a member's key as compromised; publish to make it take effect."""
    from hanoinet.clock import now, parse_rfc3339
    from hanoinet.network.authority import AuthorityWorkspace

    AuthorityWorkspace(folder).revoke(state, kid, parse_rfc3339(since, field="--since") if since else now())
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


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json"), node: str | None = NodeUrlOption,
          token: str | None = TokenOption) -> None:
    """The member States of the directory your node trusts: desks and endpoints (`directory show STATE` for more)."""
    directory = ApiClient(node, token).call("GET", "/api/v1/directory")
    if as_json:
        print_json(directory)
        return
    members = directory["members"]
    out.print(f"Directory version {directory['version']}: {len(members)} member(s), expires "
              f"{directory['expires_at']}", markup=False)
    # One block per member, one value per line: an endpoint can be 60 characters, and nothing here is ever cut.
    for member in members:
        out.print(f"\n{member['state']}  {member['name']}", markup=False)
        out.print(f"     {member['endpoint']}", markup=False)
        out.print("     desks: " + ", ".join(f"{member['state']}/{desk['id']}" for desk in member["desks"]),
                  markup=False)


@app.command("show")
def show(state: str = typer.Argument(..., help="the member State, ISO 3166-1 alpha-3 (e.g. FRA)"),
         as_json: bool = typer.Option(False, "--json"), node: str | None = NodeUrlOption,
         token: str | None = TokenOption) -> None:
    """One member State: endpoint, desks with languages and phones, key fingerprints, declarations."""
    directory = ApiClient(node, token).call("GET", "/api/v1/directory")
    wanted = state.upper()
    member = next((m for m in directory["members"] if m["state"] == wanted), None)
    if member is None:
        raise NotFound(f"{wanted} is not a member in directory version {directory['version']}",
                       hint="members: " + ", ".join(m["state"] for m in directory["members"]),
                       code="unknown_state")
    if as_json:
        print_json(member)
        return
    for line in _member_lines(member, directory["version"]):
        out.print(line, markup=False)


def _member_lines(member: dict[str, Any], version: int) -> list[str]:
    """A member's entry as lines that never cut a fingerprint or an address (one item per line)."""
    lines = [f"{member['state']}  {member['name']}  (directory version {version})",
             f"endpoint     {member['endpoint']}",
             f"signed on    {member['signed_on'] or '-'}",
             f"ratified on  {member['ratified_on'] or '-'}",
             "", "Desks (address STATE/DESK):"]
    for desk in member["desks"]:
        lines.append(f"  {member['state']}/{desk['id']}  {desk['name']}")
        lines.append(f"    languages: {', '.join(desk['languages'])}")
        if desk["fallback_phones"]:
            lines.append(f"    fallback phones: {', '.join(desk['fallback_phones'])}")
    lines += ["", "Keys (fingerprint: RFC 7638 thumbprint):"]
    for key in member["keys"]:
        use = "signing" if key["use"] == "sig" else "encryption"
        lines.append(f"  {key['kid']}  {use}")
        lines.append(f"    valid {key['not_before']} to {key['not_after']}")
        if key["compromised_since"]:
            lines.append(f"    COMPROMISED since {key['compromised_since']}")
    lines += ["", "Declarations and reservations:" if member["declarations"] else "No declarations or reservations."]
    for declaration in member["declarations"]:
        lines.append(f"  Art. {declaration['article']}  {declaration['kind']}: {declaration['effect']}")
        if declaration["text"]:
            lines.append(f"    {declaration['text']}")
    return lines

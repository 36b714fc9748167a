"""``hanoinet node ...`` and ``hanoinet serve``: create, describe, run, back up a node (operator commands)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hanoinet.cli.common import DataOption, passphrase_for_existing_keys, passphrase_for_new_keys
from hanoinet.cli.console import err, out, print_json
from hanoinet.errors import ConfigurationError, ValidationError

# The node, its ORM and the network clients are imported inside the commands that use them, so that
# `hanoinet --help` and `hanoinet verify` start without them (tests/cli/test_startup.py).
if TYPE_CHECKING:
    from hanoinet.ledger import witnessing
    from hanoinet.node.node import Node

app = typer.Typer(help="Create and operate this State's node.", no_args_is_help=True)


def open_node(data: Path) -> Node:
    """Open a node's data directory, asking for the key passphrase if needed."""
    from hanoinet.node.keyring import keys_encrypted
    from hanoinet.node.node import Node

    return Node.open(data, passphrase_for_existing_keys(keys_encrypted(data)))


def _read_authority(path: Path, fingerprint: str | None, yes: bool) -> dict[str, str]:
    from hanoinet.crypto.keys import thumbprint

    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
        found = thumbprint(jwk)
    except (OSError, ValueError, KeyError) as exc:
        raise ValidationError(f"{path} is not a public JWK: {exc}") from None
    if fingerprint is not None:
        if fingerprint != found:
            raise ValidationError(
                f"the authority key in {path} has fingerprint {found}, not {fingerprint}",
                hint="get the fingerprint from the Secretariat through a separate channel and check the file",
            )
        return dict(jwk)
    out.print(f"Secretariat authority key fingerprint: [bold]{found}[/]")
    if yes:
        return dict(jwk)
    if not sys.stdin.isatty():
        raise ValidationError("the authority key fingerprint must be confirmed",
                              hint="pass --authority-fingerprint with the value the Secretariat published")
    if not typer.confirm("Does this match the fingerprint the Secretariat published?"):
        raise ValidationError("authority key not confirmed; nothing was pinned")
    return dict(jwk)


@app.command("init")
def init(
    data: Path = DataOption,
    state: str = typer.Option(..., help="ISO 3166-1 alpha-3 code of this State, e.g. VNM"),
    name: str = typer.Option(..., help="name of the node's operator, e.g. 'Viet Nam - Ministry of Public Security'"),
    endpoint: str = typer.Option(..., help="public base URL peers reach, e.g. https://hanoinet.example.gov:8401"),
    desk: list[str] = typer.Option(["247", "CA"], help="desks of this node (repeat)"),
    language: list[str] = typer.Option(["en"], help="languages the desks accept, BCP 47 (repeat)"),
    phone: list[str] = typer.Option([], help="24/7 fallback phone, +country number (repeat)"),
    authority_key: Path | None = typer.Option(None, help="the Secretariat's public key file (authority.jwk)"),
    authority_fingerprint: str | None = typer.Option(None, help="expected fingerprint of that key"),
    directory_url: str = typer.Option("", help="URL to poll for new directory versions"),
    yes: bool = typer.Option(False, "--yes", help="accept the shown authority fingerprint without asking"),
    insecure_plaintext_keys: bool = typer.Option(False, "--insecure-plaintext-keys",
                                                 help="store private keys unencrypted (demonstrations only)"),
) -> None:
    """Create a node: keys, configuration and database in DATA."""
    from hanoinet.network.directory import Desk
    from hanoinet.node.setup import DEFAULT_DESK_NAMES, init_node
    from hanoinet.states import state_name

    authority = _read_authority(authority_key, authority_fingerprint, yes) if authority_key else None
    desks = [Desk(id=d, name=DEFAULT_DESK_NAMES.get(d, f"Desk {d}"), languages=language, fallback_phones=phone)
             for d in desk]
    passphrase = passphrase_for_new_keys(insecure_plaintext_keys)
    node = init_node(data, state=state, name=name, endpoint=endpoint, desks=desks, passphrase=passphrase,
                     authority=authority, directory_url=directory_url)
    out.print(f"Node for [bold]{state_name(state)} ({state})[/] created in {data}")
    for key in node.keyring.keys:
        out.print(f"  {'signing' if key.pair.use == 'sig' else 'encryption'} key {key.pair.kid}")
    out.print("Next: `hanoinet node card` and send the card to the Secretariat; `hanoinet officer add`; "
              "`hanoinet serve`.")
    node.close()


@app.command("card")
def card(
    data: Path = DataOption,
    as_json: bool = typer.Option(False, "--json", help="print the readable card instead of the signed JWS"),
) -> None:
    """Print this node's public member card (signed), to send to the Secretariat."""
    node = open_node(data)
    if as_json:
        print_json(node.card().model_dump(mode="json"))
    else:
        sys.stdout.write(node.signed_card() + "\n")
    node.close()


@app.command("pin-authority")
def pin(
    key_file: Path = typer.Argument(..., help="the Secretariat's public key file (authority.jwk)"),
    data: Path = DataOption,
    fingerprint: str | None = typer.Option(None, help="expected fingerprint"),
    yes: bool = typer.Option(False, "--yes"),
) -> None:
    """Pin (or re-pin) the Secretariat's authority key."""
    from hanoinet.node.node import repin_authority
    from hanoinet.node.settings import load_settings

    load_settings(data)
    found = repin_authority(data, _read_authority(key_file, fingerprint, yes), actor="operator")
    out.print(f"Pinned authority key {found}. Import a directory signed by it (`hanoinet directory import`).")


@app.command("authority")
def authority(data: Path = DataOption) -> None:
    """Print the fingerprint of the Secretariat's authority key this node pins (to verify packages against)."""
    from hanoinet.node.pinned import pinned_fingerprint

    fingerprint = pinned_fingerprint(data)
    # stdout carries the fingerprint alone, for scripts: FP=$(hanoinet node authority --data DIR)
    sys.stdout.write(fingerprint + "\n")
    if err.is_terminal:
        err.print(f"The Secretariat's authority key pinned by the node in {data}. Verify a package against it: "
                  f"hanoinet verify PACKAGE --trust {fingerprint}")


@app.command("rotate-keys")
def rotate_keys(data: Path = DataOption) -> None:
    """Add a new signing and encryption key pair; old keys stay until they expire."""
    from datetime import timedelta

    from hanoinet.clock import now
    from hanoinet.node.keyring import Keyring, keys_encrypted
    from hanoinet.node.settings import load_settings

    settings = load_settings(data)
    encrypted = keys_encrypted(data)
    passphrase = passphrase_for_existing_keys(encrypted)
    ring = Keyring.load(data, passphrase)
    ring = ring.rotate(data, passphrase if encrypted else None, now=now(),
                       lifetime=timedelta(days=settings.key_lifetime_days))
    for key in ring.keys[-2:]:
        out.print(f"new {'signing' if key.pair.use == 'sig' else 'encryption'} key {key.pair.kid}")
    out.print("Send the new card (`hanoinet node card`) to the Secretariat. A running node loads the new keys "
              "by itself (no restart); it keeps signing with the old key until every directory version a peer "
              "may still use lists the new one (docs/operations.md section 5).")


@app.command("backup")
def backup(data: Path = DataOption, to: Path = typer.Option(..., "--out", help="archive to write (.tar.gz)")) -> None:
    """Back up configuration, keys, the SQLite database and blobs into one archive."""
    from hanoinet.node import backup as backups

    names = backups.backup(data, to)
    out.print(f"Wrote {to} ({len(names)} files). Keep it as safely as the node itself: it holds the keys.")


@app.command("restore")
def restore(
    archive: Path = typer.Argument(..., help="archive written by `node backup`"),
    data: Path = DataOption,
    accept_rewind: str = typer.Option("", "--accept-rewind", metavar="REASON",
                                      help="keep a restored custody log its witnesses do not vouch for, with the "
                                           "reason (recorded and alarmed)"),
) -> None:
    """Restore a backup into a new, empty data directory, then check the custody log against the witnesses.

    A backup is older than the log the other States have seen: if any of them holds a larger checkpoint of
    this node's log, the restored node would rewind history, so the restore is undone unless the operator
    accepts it explicitly.
    """
    import asyncio
    import shutil

    from hanoinet.ledger import witnessing
    from hanoinet.node import backup as backups

    names = backups.restore(archive, data)
    node = open_node(data)
    try:
        check = asyncio.run(_ask_witnesses(node))
        held = ", ".join(f"{peer} {size}" for peer, size in sorted(check.witnessed.items())) or "none"
        out.print(f"custody log restored at size {check.size}; witnesses hold: {held}"
                  + (f"; unreachable: {', '.join(check.unreachable)}" if check.unreachable else ""))
        if check.rewinds or not check.witnessed:
            if not accept_rewind:
                node.close()
                shutil.rmtree(data)
                why = "witnesses hold a larger log" if check.rewinds else "no witness could be asked"
                raise ConfigurationError(
                    f"the restore was undone: {why}, so the restored node could rewind its custody log",
                    hint="restore a newer backup, reach the witnesses, or accept it with --accept-rewind "
                         "\"REASON\" (recorded in the audit trail and raised as a critical alarm)",
                )
            witnessing.record_override(node, check, accept_rewind)
            out.print("[yellow]accepted against the witnesses: recorded and alarmed[/]")
    finally:
        node.close()
    out.print(f"Restored {len(names)} files into {data}")


async def _ask_witnesses(node: Node) -> witnessing.RestoreCheck:
    import httpx

    from hanoinet.ledger import witnessing

    async with httpx.AsyncClient(timeout=10) as client:
        return await witnessing.check_restore(node, client)



def serve(
    data: Path = DataOption,
    host: str | None = typer.Option(None, help="address to listen on (default: the endpoint's host)"),
    port: int | None = typer.Option(None, help="port (default: the endpoint's port)"),
    tls_cert: Path | None = typer.Option(None, help="TLS certificate chain (PEM)"),
    tls_key: Path | None = typer.Option(None, help="TLS private key (PEM)"),
    behind_tls_proxy: bool = typer.Option(False, "--behind-tls-proxy",
                                          help="plain HTTP on a non-loopback address, for a TLS-terminating proxy"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Run the node: federation and officer APIs, delivery worker, directory polling."""
    from urllib.parse import urlsplit

    import uvicorn

    from hanoinet import logs
    from hanoinet.api.app import create_app
    from hanoinet.node.settings import is_loopback_host

    node = open_node(data)
    logs.configure(debug=node.settings.debug_tracebacks)
    parts = urlsplit(node.settings.endpoint)
    bind_host = host or parts.hostname or "127.0.0.1"
    bind_port = port or parts.port or (443 if parts.scheme == "https" else 80)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigurationError("--tls-cert and --tls-key go together")
    if tls_cert is None and not is_loopback_host(bind_host) and not behind_tls_proxy:
        raise ConfigurationError(
            f"refusing plain HTTP on {bind_host}: only loopback addresses may serve without TLS",
            hint="pass --tls-cert/--tls-key, or --behind-tls-proxy if a proxy terminates TLS in front",
        )
    if node.directory is None:
        err.print("[bold yellow]warning:[/] no directory yet: peers cannot be checked until one is imported")
    uvicorn.run(
        create_app(node), host=bind_host, port=bind_port, log_level=log_level,
        ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
        timeout_keep_alive=30,
    )

"""``hanoinet hashes ...``, ``hanoinet platform ...`` and ``hanoinet match``: the hash bank at the node.

Operator commands on the data directory (``--data``), like ``hanoinet officer``: the operator is the node, and
the node holds the hashes. Platforms use the API (docs/hashbank.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hanoinet.cli.common import DataOption, node_zone, open_database, operator_actor, time_column, transaction
from hanoinet.cli.console import err, out, print_json, when
from hanoinet.errors import ValidationError

# The bank, its ORM and numpy are imported inside the commands, so that other commands start without them.
if TYPE_CHECKING:
    from hanoinet.hashbank import bank

app = typer.Typer(help="The hash bank: add, withdraw, list and count entries (docs/hashbank.md).",
                  no_args_is_help=True)
platform_app = typer.Typer(help="Online platforms that read the bank's feed and ask for matches.",
                           no_args_is_help=True)

_HASH_WITH_QUALITY = re.compile(r"^(?P<hash>[^:]+):(?P<quality>[0-9]{1,3})$")
CategoryOption = typer.Option(..., "--category", help="art14: child sexual abuse material; art16: intimate "
                              "images shared without consent")
ActorOption = typer.Option(None, "--actor", help="who does this, for the audit trail (default: operator:<login>)")
JsonOption = typer.Option(False, "--json", help="print JSON")



def _new_hash(argument: str, quality: int | None, category: str) -> bank.NewHash:
    """A hash (``HASH`` with --quality, or ``HASH:QUALITY``) or an image file, hashed here."""
    from hanoinet.hashbank import bank, kinds, pdq

    path = Path(argument)
    if path.is_file():
        result = pdq.hash_image(path.read_bytes())
        return bank.NewHash(hash=kinds.PDQ.format(result.code), quality=result.quality, category=category)
    given = _HASH_WITH_QUALITY.fullmatch(argument)
    if given is not None:
        return bank.NewHash(hash=given["hash"], quality=given["quality"], category=category)
    if quality is None:
        raise ValidationError(f"{argument[:80]!r} is neither an image file nor a hash with its quality",
                              hint="write HASH:QUALITY (e.g. ...9b22:100), pass --quality, or give an image file",
                              code="bad_hash")
    return bank.NewHash(hash=argument, quality=quality, category=category)


@app.command("add")
def add(
    items: list[str] = typer.Argument(..., help="PDQ hashes (HASH or HASH:QUALITY) or image files to hash"),
    category: str = CategoryOption,
    quality: int | None = typer.Option(None, "--quality", help="quality of hashes given without one"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
    as_json: bool = JsonOption,
) -> None:
    """Add entries to the bank; every member State's node receives them. Prints each new entry's id."""
    from hanoinet.hashbank import bank
    from hanoinet.node.settings import load_settings

    settings = load_settings(data)
    new = [_new_hash(item, quality, bank.check_category(category)) for item in items]
    with transaction(data) as uow:
        added = bank.add(uow.session, settings.state, new, actor=operator_actor(actor))
    if as_json:
        print_json([e.as_json(with_hash=True) for e in added])
        return
    for entry in added:
        out.print(f"{entry.entry_id}  {entry.kind} {entry.hash}  quality {entry.quality}  {entry.category}")
    err.print(f"{len(added)} entr{'y' if len(added) == 1 else 'ies'} added; the node sends them to every member "
              "State while it runs.")


@app.command("withdraw")
def withdraw(
    entries: list[str] = typer.Argument(..., help="ids of this State's entries"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Withdraw this State's entries: they stop matching here at once and on every node once it is told."""
    from hanoinet.hashbank import bank
    from hanoinet.node.settings import load_settings

    settings = load_settings(data)
    with transaction(data) as uow:
        withdrawn = bank.withdraw(uow.session, settings.state, entries, actor=operator_actor(actor))
    for entry in withdrawn:
        out.print(f"{entry.entry_id}  withdrawn")


@app.command("list")
def list_(
    data: Path = DataOption,
    origin: str | None = typer.Option(None, "--origin", help="only entries of this State (e.g. VNM)"),
    status: str | None = typer.Option(None, "--status", help="active or withdrawn"),
    category: str | None = typer.Option(None, "--category", help="art14 or art16"),
    after: int = typer.Option(0, "--after", help="page on: the last row number shown"),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000),
    show_hashes: bool = typer.Option(False, "--show-hashes", help="print the hashes too"),
    as_json: bool = JsonOption,
) -> None:
    """Entries in the order this node recorded them."""
    from hanoinet.hashbank import bank

    if status is not None and status not in ("active", "withdrawn"):
        raise ValidationError(f"status {status!r} is not active or withdrawn", code="bad_status")
    with transaction(data, readonly=True) as uow:
        found = bank.entries(uow.session, origin=origin, status=status, category=category, after=after,
                             limit=limit)
    if as_json:
        print_json([{"row": e.row, **e.as_json(with_hash=show_hashes)} for e in found])
        return
    # Plain aligned lines, never truncated: ids and hashes are copied from here into other commands.
    zone = node_zone(data)
    submitted = [when(e.submitted_at, zone) for e in found]
    width = max(map(len, submitted), default=0)
    out.print(f"{'row':>8}  {'id':36}  origin  category  quality  {'status':9}  {'submitted':{width}}"
              + ("  hash" if show_hashes else ""))
    for e, at in zip(found, submitted, strict=True):
        out.print(f"{e.row:>8}  {e.entry_id:36}  {e.origin:6}  {e.category or '':8}  {e.quality or 0:>7}  "
                  f"{e.status:9}  {at:{width}}" + (f"  {e.hash}" if show_hashes else ""))


@app.command("stats")
def stats(data: Path = DataOption, as_json: bool = JsonOption) -> None:
    """How many entries the bank holds, by status, origin and category."""
    from hanoinet.hashbank import bank

    with transaction(data, readonly=True) as uow:
        counts = bank.statistics(uow.session)
    if as_json:
        print_json(counts)
        return
    out.print(f"active {counts['active']}, withdrawn {counts['withdrawn']}; change log at {counts['log']['seq']}")
    for name, count in counts["active_by_category"].items():
        out.print(f"  {bank.CATEGORIES[name]}: {count} active")
    for origin, by_status in counts["by_origin"].items():
        out.print(f"  from {origin}: {by_status['active']} active, {by_status['withdrawn']} withdrawn")


def match(
    items: list[str] = typer.Argument(..., help="image files, or PDQ hashes (64 hexadecimal characters)"),
    data: Path = DataOption,
    as_json: bool = JsonOption,
) -> None:
    """Check images or hashes against the bank; exit 0 when nothing matches, 1 when something does."""
    from hanoinet.hashbank import match as matching
    from hanoinet.hashbank import pdq
    from hanoinet.hashbank.matcher import Matcher
    from hanoinet.node.settings import load_settings

    queries = [matching.Item(ref=item, image=Path(item).read_bytes()) if Path(item).is_file()
               else matching.Item(ref=item, hashes=[item]) for item in items]
    settings = load_settings(data)
    database = open_database(data)
    try:
        matcher = Matcher(database, settings.data_dir / "hashbank")
        matcher.open()
        results = matching.match(database, matcher, queries)
    finally:
        database.dispose()
    found = any(r.hits for r in results)
    if as_json:
        print_json([{"ref": r.ref, "hashes": r.hashes, "quality": r.quality,
                     "matches": [{"entry": h.entry.entry_id, "category": h.entry.category, "origin": h.entry.origin,
                                  "distance": h.distance, "variant": pdq.DIHEDRAL_ORDER[h.variant]}
                                 for h in r.hits]} for r in results])
    else:
        for r in results:
            out.print(f"{r.ref}: {len(r.hits)} match{'es' if len(r.hits) != 1 else ''}")
            for h in r.hits:
                out.print(f"  {h.entry.entry_id}  distance {h.distance}  {h.entry.category}  from {h.entry.origin}"
                          f"  ({pdq.DIHEDRAL_ORDER[h.variant]})")
    raise SystemExit(1 if found else 0)


@platform_app.command("add")
def platform_add(
    name: str = typer.Argument(..., help="the platform's name, e.g. 'Example Photos Ltd'"),
    email: str | None = typer.Option(None, "--email", help="its trust-and-safety contact"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Register a platform and print its token (shown once; only its hash is stored)."""
    from hanoinet.hashbank import platforms

    with transaction(data) as uow:
        row, token = platforms.register(uow.session, name=name, email=email, actor=operator_actor(actor))
        name = row.name
    err.print(f"Platform {name!r} registered. Token (shown once, give it to the platform privately):")
    sys.stdout.write(token + "\n")


@platform_app.command("token")
def platform_token(name: str = typer.Argument(...), data: Path = DataOption, actor: str | None = ActorOption) -> None:
    """Issue a platform a new token; the old one stops working at once."""
    from hanoinet.hashbank import platforms

    with transaction(data) as uow:
        token = platforms.new_token(uow.session, name, actor=operator_actor(actor))
    err.print(f"New token for {name!r} (shown once):")
    sys.stdout.write(token + "\n")


@platform_app.command("disable")
def platform_disable(name: str = typer.Argument(...), data: Path = DataOption,
                     actor: str | None = ActorOption) -> None:
    """Disable a platform; its token is refused from now on."""
    from hanoinet.hashbank import platforms

    with transaction(data) as uow:
        platforms.disable(uow.session, name, actor=operator_actor(actor))
    out.print(f"Platform {name!r} is disabled; its token no longer works.")


@platform_app.command("list")
def platform_list(data: Path = DataOption) -> None:
    """Registered platforms."""
    from hanoinet.hashbank import platforms

    zone = node_zone(data)
    with transaction(data, readonly=True) as uow:
        table = Table("id", "name", "e-mail", time_column("registered"), time_column("disabled"))
        for p in platforms.listed(uow.session):
            table.add_row(str(p.id), p.name, p.email or "", when(p.created_at, zone, sep="\n"),
                          when(p.disabled_at, zone, sep="\n"))
    out.print(table)

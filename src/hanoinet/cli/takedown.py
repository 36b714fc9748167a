"""``hanoinet takedown ...``: the review of platforms' match reports, quarantines and missed deadlines.

Operator commands on the data directory (``--data``), like ``hanoinet hashes``; reviewers with an account use
the API (docs/takedown.md). Deciding on a report may tell the entry's origin State what its victim should
see, so ``review`` and ``overdue --escalate`` open the node with its keys.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hanoinet.cli.common import DataOption, node_zone, open_database, operator_actor
from hanoinet.cli.console import err, out, print_json, when
from hanoinet.cli.hashes import ActorOption, JsonOption
from hanoinet.cli.node import open_node
from hanoinet.errors import ValidationError
from hanoinet.hashbank.takedown_rules import MAX_LIST

# The takedown service and its ORM are imported inside the commands, so that other commands start without them.
if TYPE_CHECKING:
    from hanoinet.hashbank.takedown import Report

app = typer.Typer(help="Takedown: review platforms' matches, lift quarantines, escalate missed deadlines "
                  "(docs/takedown.md).", no_args_is_help=True)

NoteOption = typer.Option(None, "--note", help="why, for the audit trail")


def _print(reports: list[Report], at: datetime, zone: tzinfo) -> None:
    # Plain aligned lines, never truncated: ids are copied from here into `review` and `release`.
    out.print(f"{'id':>8}  {'platform':20}  {'entry':36}  category  origin  distance  trust  quarantined  "
              f"{'action':12}  {'review':11}  due")
    for r in reports:
        due = when(r.due_at, zone)
        late = "  OVERDUE" if r.overdue(at) else ""
        out.print(f"{r.id:>8}  {r.platform[:20]:20}  {r.entry.entry_id:36}  {r.entry.category or '':8}  "
                  f"{r.entry.origin:6}  {r.distance:>8}  {r.standing.trust:5.3f}  "
                  f"{'yes' if r.standing.quarantined else 'no':11}  {r.action.value:12}  {r.review.value:11}  "
                  f"{due}{late}")


@app.command("reviews")
def reviews(
    data: Path = DataOption,
    status: str = typer.Option("pending", "--status", help="pending, quarantined or overdue"),
    after: int = typer.Option(0, "--after", min=0, help="page on: the last id shown"),
    limit: int = typer.Option(100, "--limit", min=1, max=MAX_LIST),
    as_json: bool = JsonOption,
) -> None:
    """Match reports waiting for review (pending), quarantined ones, or confirmed ones past their deadline."""
    from hanoinet.clock import now
    from hanoinet.hashbank import takedown

    at = now()
    database = open_database(data)
    try:
        with database.transaction(readonly=True) as uow:
            found = takedown.queue(uow.session, status, at, after=after, limit=limit)
    finally:
        database.dispose()
    if as_json:
        print_json([r.as_json(at, reviewer=True) for r in found])
        return
    _print(found, at, node_zone(data))


@app.command("review")
def review(
    report_id: int = typer.Argument(..., help="the report's id, from `hanoinet takedown reviews`"),
    confirm: bool = typer.Option(False, "--confirm", help="the match is removal-worthy: notify the platform"),
    reject: bool = typer.Option(False, "--reject", help="the match is a false positive"),
    note: str | None = NoteOption,
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Confirm a match (the platform gets a notice with a deadline) or reject it (a false positive)."""
    from hanoinet.hashbank import takedown

    if confirm == reject:
        raise ValidationError("say either --confirm or --reject", hint="--confirm: the platform must act; "
                              "--reject: the match is a false positive, which lowers the entry's trust",
                              code="bad_decision")
    node = open_node(data)
    try:
        with node.db.transaction() as uow:
            made = takedown.review(node, uow, report_id, decision="confirm" if confirm else "reject",
                                   actor=operator_actor(actor), note=note)
    finally:
        node.close()
    if made.due_at is not None:
        out.print(f"report {made.id} confirmed: {made.platform} must act by {when(made.due_at, node_zone(data))}"
                  + (" (already removed)" if made.resolved_at is not None else ""))
    else:
        out.print(f"report {made.id} rejected; entry {made.entry.entry_id} trust {made.standing.trust:.3f}"
                  + (", quarantined" if made.standing.quarantined else ""))


@app.command("release")
def release(
    entry: str = typer.Argument(..., help="the quarantined entry's id"),
    note: str | None = NoteOption,
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Lift an entry's quarantine: its quarantined reports go back to pending review."""
    from hanoinet.hashbank import takedown

    database = open_database(data)
    try:
        with database.transaction() as uow:
            standing, moved = takedown.release(uow, entry, actor=operator_actor(actor), note=note)
    finally:
        database.dispose()
    out.print(f"entry {entry} released (trust {standing.trust:.3f}); {moved} report(s) pending review again")


@app.command("overdue")
def overdue(
    data: Path = DataOption,
    escalate: bool = typer.Option(False, "--escalate", help="escalate those not escalated yet now, as the "
                                  "running node does every 30 s"),
    as_json: bool = JsonOption,
) -> None:
    """Confirmed matches whose platform missed its deadline."""
    from hanoinet.clock import now
    from hanoinet.hashbank import takedown

    at = now()
    if escalate:
        node = open_node(data)
        try:
            with node.db.transaction() as uow:
                escalated = takedown.escalate_overdue(node, uow, at)
        finally:
            node.close()
        err.print(f"{len(escalated)} report(s) escalated to the 24/7 desk")
    reviews(data=data, status="overdue", after=0, limit=MAX_LIST, as_json=as_json)

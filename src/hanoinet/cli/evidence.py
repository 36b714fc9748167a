"""``hanoinet evidence ...`` and ``hanoinet verify``: ingest, list, seal and shred evidence; verify packages.

The ``evidence`` commands work on the node's data directory (``--data``), as the examiner at the node does;
``verify`` needs nothing but the package (docs/evidence.md).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Column, Table

from hanoinet.cli.common import DataOption, node_zone, operator_actor
from hanoinet.cli.console import err, out, print_json, when
from hanoinet.errors import ValidationError

# The node, the ORM and the evidence service are imported inside the commands that use them: `verify` needs
# none of them and a court's machine should not wait for them (tests/cli/test_startup.py).
if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import tzinfo

    from rich.progress import Progress

    from hanoinet.evidence.service import EvidenceItem
    from hanoinet.node.node import Node
    from hanoinet.privacy.access import Item

app = typer.Typer(help="Evidence: ingest, list, seal into packages, shred (docs/evidence.md).", no_args_is_help=True)

ActorOption = typer.Option(None, "--actor", help="who does this, as recorded in the custody log "
                           "(default: operator:<login name>)")
#: What the command `evidence offers` suggests puts where the officer writes why they read the package.
EXPORT_REASON = "<why you read it>"
ReasonOption = typer.Option(..., "--reason", help="why you read the files (required): the request you answer, "
                            "the case you work on; kept in the access log (docs/privacy.md)")



def _reason(given: str) -> str:
    from hanoinet.privacy.reasons import check_reason

    return check_reason(given, add="--reason TEXT")


def _record_reads(node: Node, written: Path, actor: str, reason: str, command: str, items: Iterable[Item] = (),
                  *, received_package: str | None = None) -> None:
    """Record the reads of the files just written to ``written`` in the access log; if that fails, remove them.

    The package is written by services that commit their own transactions, so the reads are recorded in one of
    their own, once the file is complete: a package is never left behind unrecorded.
    """
    from hanoinet.privacy import access

    try:
        with node.db.transaction() as uow:
            read = [*items, *(access.received_files(uow.session, received_package) if received_package else ())]
            reader = access.Reader.operator(actor)
            access.record_many(uow.session, [access.Read(reader=reader, kind=i.kind, item=i.ref, case=i.case,
                                                         reason=reason, via=command) for i in read])
    except BaseException:
        written.unlink(missing_ok=True)
        raise


def _sender_end(given: str | None) -> datetime | None:
    """A ``--retain-until`` as typed, checked: an instant after now, or None."""
    from hanoinet.clock import now, parse_rfc3339
    from hanoinet.privacy.retention import check_sender

    return check_sender(parse_rfc3339(given, field="--retain-until") if given is not None else None, at=now())


def _progress() -> Progress:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    # On stderr, and only on a terminal: scripts and logs get the result lines alone.
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)


@app.command("add")
def add(
    files: list[Path] = typer.Argument(..., help="files to ingest (each is read once)"),
    case: str = typer.Option(..., "--case", help="the case reference; the case is opened on first use"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
    desk: str | None = typer.Option(None, "--desk", help="the desk the files belong to (default: the node's first "
                                    "desk); only its officers handle them"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hash, encrypt and store files durably, and record their custody; prints each file's SHA-256."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService

    for path in files:
        if not path.is_file():
            raise ValidationError(f"{path} is not a readable file", hint="give paths of regular files",
                                  code="not_a_file")
    node = open_node(data)
    try:
        service = EvidenceService(node)
        desk = service.desk(desk)  # an unknown desk is refused before any file is read
        added = []
        with _progress() as bar:
            for path in files:
                task = bar.add_task(path.name, total=os.path.getsize(path))
                item = service.ingest_path(path, case=case, actor=operator_actor(actor), desk=desk,
                                           progress=partial(bar.advance, task))
                added.append(item)
                if not as_json:
                    out.print(f"{item.sha256}  {item.size:>15,}  {item.name}  (id {item.id})")
    finally:
        node.close()
    if as_json:
        print_json([i.as_json() for i in added])


@app.command("list")
def list_files(
    case: str | None = typer.Option(None, "--case", help="only this case"),
    data: Path = DataOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Evidence files held by the node."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService

    node = open_node(data)
    try:
        items = EvidenceService(node).list(case)
    finally:
        node.close()
    if as_json:
        print_json([i.as_json() for i in items])
        return
    # One block per file, one value per line: a file id (what `evidence shred ID` and `--file ID` take) and a
    # SHA-256 are too long to share an 80-column row with anything else, and are never cut or folded.
    zone = node_zone(data)
    out.print(f"{len(items)} evidence file(s)")
    for i in items:
        out.print(f"\n{i.id}  {'shredded' if i.shredded_at else 'stored'}", markup=False)
        for label, value in (("case", i.case), ("desk", i.desk or "none (held before desks were recorded)"),
                             ("name", i.name), ("size", f"{i.size:,} bytes"), ("sha256", i.sha256),
                             ("ingested", when(i.ingested_at, zone)), ("retention", _retention(i, zone))):
            out.print(f"  {label:<9} {value}", markup=False)
        if i.received is not None:  # its use is limited to what it was given for (docs/privacy.md)
            out.print(f"  {'from':<9} {i.received.sender}, package {i.received.package or 'unknown'}", markup=False)
            out.print(f"  {'given for':<9} case {i.received.case}: {i.received.purpose or 'purpose not recorded'}",
                      markup=False)
            for condition in i.received.conditions:
                out.print(f"  {'condition':<9} {condition}", markup=False)


def _retention(item: EvidenceItem, zone: tzinfo) -> str:
    """When a file's retention ends and whose period it is, as people read it."""
    from hanoinet.clock import now

    if item.retain_until is None:
        return "no period set"
    whose = "domestic period" if item.retention_set_by == "domestic" else f"period set by {item.origin}"
    if item.shredded_at is None and item.retain_until <= now():
        return (f"ended {when(item.retain_until, zone)} ({whose}); no longer readable, shredded at the next round "
                "of the serving node's retention job")
    return f"until {when(item.retain_until, zone)} ({whose})"


@app.command("show")
def show(
    file_id: str = typer.Argument(..., help="the evidence file's id (`hanoinet evidence list`)"),
    data: Path = DataOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One evidence file: what it is, where it came from, and when its retention ends."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService

    node = open_node(data)
    try:
        item = EvidenceService(node).get(file_id)
    finally:
        node.close()
    if as_json:
        print_json(item.as_json())
        return
    zone = node_zone(data)
    rows = [("status", f"shredded {when(item.shredded_at, zone)}" if item.shredded_at else "stored"),
            ("case", item.case), ("desk", item.desk or "none (held before desks were recorded)"), ("name", item.name),
            ("size", f"{item.size:,} bytes"), ("sha256", item.sha256), ("origin", item.origin),
            ("ingested", f"{when(item.ingested_at, zone)} by {item.ingested_by}"),
            ("retention", _retention(item, zone)),
            ("sender's", when(item.sender_retain_until, zone) or "no period set"),
            ("domestic", when(item.domestic_retain_until, zone) or "no period set")]
    out.print(item.id, markup=False)
    for label, value in rows:
        out.print(f"  {label:<9} {value}", markup=False)


@app.command("retain")
def retain(
    until: str = typer.Option(..., "--until", help="when the files are to be shredded, with its offset, e.g. "
                              "2027-03-31T23:59:59+07:00; never after the sending State's end"),
    reason: str = typer.Option(..., "--reason", help="why (e.g. the domestic law that requires it)"),
    file_id: list[str] = typer.Option([], "--file", help="a file id (repeat)"),
    case: str | None = typer.Option(None, "--case", help="every file held in this case"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Set a shorter domestic retention period: the files are shredded when it ends (docs/privacy.md)."""
    from hanoinet.cli.node import open_node
    from hanoinet.clock import parse_rfc3339
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.privacy.retention import set_domestic

    end = parse_rfc3339(until, field="--until")
    node = open_node(data)
    try:
        items = set_domestic(EvidenceService(node), until=end, actor=operator_actor(actor), reason=reason,
                             file_ids=file_id or None, case=case)
    finally:
        node.close()
    zone = node_zone(data)
    for item in items:
        out.print(f"{item.id}  {item.name}: retention {_retention(item, zone)}", markup=False)


@app.command("package")
def package(
    case: str = typer.Option(..., "--case", help="the case whose files are sealed"),
    to: Path = typer.Option(..., "--out", help="the package file to write (.zip)"),
    data: Path = DataOption,
    purpose: str = typer.Option(..., "--purpose", help="what the evidence may be used for (Art. 40); e.g. the "
                                "request it answers"),
    recipient: str | None = typer.Option(None, "--recipient", help="the receiving State (ISO 3166 alpha-3)"),
    condition: list[str] = typer.Option([], "--condition", help="a further use condition (repeat)"),
    file_id: list[str] = typer.Option([], "--file", help="only this file id (repeat; default: the whole case)"),
    wait_witnesses: float = typer.Option(0.0, "--wait-witnesses", min=0,
                                         help="seconds to wait for witnesses to cosign the checkpoint"),
    min_witnesses: int = typer.Option(0, "--min-witnesses", min=0, help="cosignatures to wait for"),
    reason: str = ReasonOption,
    retain_until: str | None = typer.Option(None, "--retain-until", help="when the receiving State must have "
                                            "destroyed the data (Art. 36), with its offset, e.g. "
                                            "2027-06-30T23:59:59+02:00; default: no period"),
    actor: str | None = ActorOption,
) -> None:
    """Seal the case's files into one package a court can verify offline with `hanoinet verify`."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.package import UseConditions, seal
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.privacy.access import Item, ItemKind

    why = _reason(reason)
    node = open_node(data)
    try:
        service = EvidenceService(node)
        total = sum(i.size for i in service.list(case) if not file_id or i.id in file_id)
        with _progress() as bar:
            task = bar.add_task("sealing", total=total)
            sealed = seal(service, case=case, out=to, actor=operator_actor(actor), recipient=recipient,
                          conditions=UseConditions(purpose=purpose, conditions=tuple(condition),
                                                   retain_until=_sender_end(retain_until)),
                          file_ids=file_id or None, witness_wait=wait_witnesses, min_witnesses=min_witnesses,
                          progress=partial(bar.advance, task))
        _record_reads(node, to, operator_actor(actor), why, "hanoinet evidence package",
                      [Item(ItemKind.EVIDENCE_FILE, item.id, item.case) for _, item in sealed.files])
    finally:
        node.close()
    out.print(f"sealed {len(sealed.files)} files of case {case} into {to} (package {sealed.package_id})")
    out.print(f"checkpoint of size {sealed.checkpoint_size}; cosigned by: "
              f"{', '.join(sealed.witnesses) or 'no witness yet'}")
    for warning in sealed.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}")


@app.command("send")
def send(
    case: str = typer.Option(..., "--case", help="the case whose files are offered"),
    to: str = typer.Option(..., "--to", help="the receiving desk, STATE/DESK (e.g. VNM/247)"),
    purpose: str = typer.Option(..., "--purpose", help="what the evidence may be used for (Art. 40)"),
    condition: list[str] = typer.Option([], "--condition", help="a further use condition (repeat)"),
    file_id: list[str] = typer.Option([], "--file", help="only this file id (repeat; default: the whole case)"),
    wait_witnesses: float = typer.Option(0.0, "--wait-witnesses", min=0,
                                         help="seconds to wait for witnesses to cosign the checkpoint"),
    min_witnesses: int = typer.Option(0, "--min-witnesses", min=0, help="cosignatures to wait for"),
    desk: str | None = typer.Option(None, "--desk", help="the sending desk (default: the node's first desk)"),
    retain_until: str | None = typer.Option(None, "--retain-until", help="when the receiving State must have "
                                            "destroyed the data (Art. 36), with its offset, e.g. "
                                            "2027-06-30T23:59:59+02:00; default: no period"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Seal the case's files for another State and send the offer; its node pulls the files itself."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.package import UseConditions
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.evidence.transfer import offer

    node = open_node(data)
    try:
        offered = offer(EvidenceService(node), case=case, to=to, desk=desk or node.settings.desks[0].id,
                        actor=operator_actor(actor), conditions=UseConditions(
                            purpose=purpose, conditions=tuple(condition), retain_until=_sender_end(retain_until)),
                        file_ids=file_id or None, witness_wait=wait_witnesses, min_witnesses=min_witnesses)
    finally:
        node.close()
    out.print(f"offered {offered.files} files of case {case} to {to} (package {offered.package_id}); the offer "
              f"can be pulled until {when(offered.expires_at, node_zone(data))}")


@app.command("offers")
def offers(data: Path = DataOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Evidence offers sent and received, and how far each incoming pull is."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.transfer import list_offers

    node = open_node(data)
    try:
        listed = list_offers(node)
    finally:
        node.close()
    if as_json:
        print_json(listed)
        return
    # The package id (what `evidence export --package ID` takes) is never cut; the other columns wrap and fold.
    table = Table(Column("package", no_wrap=True), *(Column(name, overflow="fold") for name in
                                                      ("direction", "State", "case", "status", "files here",
                                                       "retain until", "error")))
    zone = node_zone(data)
    for o in listed:
        here = sum(f["here"] for f in o["files"])
        table.add_row(o["package"], o["direction"], o["peer"], o["case"], o["status"], f"{here}/{len(o['files'])}",
                      when(o["retain_until"], zone) or "no period", o["error"] or "")
    out.print(table)
    received = next((o for o in listed if o["direction"] == "in" and o["status"] == "complete"), None)
    if received is not None:
        import shlex

        target = Path(f"{received['package']}.zip")
        out.print(f"To verify the newest package received ({received['peer']}, case {received['case']}), write it "
                  "out, saying why you read it, then verify it against the Secretariat's key this node pins:")
        out.print(f"  hanoinet evidence export --package {received['package']} --out {target} "
                  f"--data {shlex.quote(str(data))} --reason {shlex.quote(EXPORT_REASON)}", markup=False)
        out.print(f"  {_verify_command(data, target)}")


@app.command("export")
def export(
    package_id: str = typer.Option(..., "--package", help="the package id of a received offer"),
    to: Path = typer.Option(..., "--out", help="the package file to write (.zip)"),
    data: Path = DataOption,
    reason: str = ReasonOption,
    actor: str | None = ActorOption,
) -> None:
    """Write a received package exactly as the sender sealed it, for `hanoinet verify` and the court."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.evidence.transfer import rebuild_package

    why = _reason(reason)
    node = open_node(data)
    try:
        rebuild_package(EvidenceService(node), package_id, to, actor=operator_actor(actor))
        _record_reads(node, to, operator_actor(actor), why, "hanoinet evidence export", received_package=package_id)
    finally:
        node.close()
    out.print(f"wrote package {package_id} to {to}; verify it against the Secretariat's key this node pins:")
    out.print(f"  {_verify_command(data, to)}")


def _verify_command(data: Path, package_file: Path) -> str:
    """The complete `hanoinet verify` command for a package, trusting the authority key the node pins."""
    import shlex

    from hanoinet.errors import ConfigurationError
    from hanoinet.node.pinned import pinned_fingerprint

    try:
        fingerprint = pinned_fingerprint(data)
    except ConfigurationError as exc:  # the package is written all the same: say how to get an anchor
        return f"(no command: {exc.message}; {exc.hint})"
    return f"hanoinet verify {shlex.quote(str(package_file))} --trust {fingerprint}"


@app.command("refile")
def refile(
    file_id: str = typer.Argument(..., help="the evidence file's id (`hanoinet evidence list`)"),
    case: str = typer.Option(..., "--case", help="the case to file it under"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """File evidence under another case; a file received from another State needs that State's consent."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService

    node = open_node(data)
    try:
        item = EvidenceService(node).refile(file_id, case=case, actor=operator_actor(actor))
    finally:
        node.close()
    out.print(f"filed {item.name} ({item.id}) under case {item.case}")


consent_app = typer.Typer(help="Consent of the originating State to use received evidence in another case or send "
                          "it on (docs/privacy.md).", no_args_is_help=True)
app.add_typer(consent_app, name="consent")


@consent_app.command("request")
def consent_request(
    file_id: list[str] = typer.Option(..., "--file", help="a received evidence file's id (repeat)"),
    case: str | None = typer.Option(None, "--case", help="the case to use the files in"),
    to: str | None = typer.Option(None, "--to", help="the State (ISO 3166-1 alpha-3) or org:NAME to send them on to"),
    reason: str = typer.Option(..., "--reason", help="why the evidence is needed for this use"),
    ask: str | None = typer.Option(None, "--ask", help="the desk to ask, STATE/DESK (default: the desk that sent "
                                   "the files)"),
    desk: str | None = typer.Option(None, "--desk", help="the asking desk (default: the node's first desk)"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Ask the State that sent the files to consent to their use in another case (--case) or their onward
    transfer (--to); the answer arrives as an envelope (`hanoinet evidence consent list`)."""
    from hanoinet.cli.node import open_node
    from hanoinet.privacy import consent
    from hanoinet.privacy.use import check_use

    if (case is None) == (to is None):
        raise ValidationError("give either --case (use in another case) or --to (onward transfer)",
                              code="bad_use")
    use = check_use("case", case) if case is not None else check_use("transfer", to or "")
    node = open_node(data)
    try:
        asked = consent.request(node, file_ids=file_id, use=use, reason=reason, actor=operator_actor(actor),
                                desk=desk or node.settings.desks[0].id, to=ask)
    finally:
        node.close()
    out.print(f"asked {asked.to} to consent to {use.describe()} of {asked.items} file(s) (request "
              f"{asked.request_id}); the answer is shown by `hanoinet evidence consent list`")


@consent_app.command("answer")
def consent_answer(
    request_id: str = typer.Argument(..., help="the consent request's id (`hanoinet evidence consent list`)"),
    grant: bool = typer.Option(..., "--grant/--refuse", help="grant or refuse the consent"),
    reason: str = typer.Option(..., "--reason", help="why (a refusal must give reasons, Art. 40)"),
    condition: list[str] = typer.Option([], "--condition", help="a condition of the consent (repeat)"),
    item: list[str] = typer.Option([], "--item", help="only the item with this SHA-256 (repeat; default: every "
                                   "item still asked)"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Grant or refuse a consent request another State sent about evidence this State gave it."""
    from hanoinet.cli.node import open_node
    from hanoinet.privacy import consent

    node = open_node(data)
    try:
        consent.answer(node, request_id, granted=grant, reason=reason, conditions=condition,
                       sha256s=item or None, actor=operator_actor(actor))
    finally:
        node.close()
    out.print(f"{'granted' if grant else 'refused'} consent request {request_id}; the answer is on its way")


@consent_app.command("list")
def consent_list(data: Path = DataOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Consent requests sent (out) and received (in), newest first, with each item's answer."""
    from hanoinet.cli.node import open_node
    from hanoinet.privacy import consent

    node = open_node(data)
    try:
        listed = consent.list_requests(node)
    finally:
        node.close()
    if as_json:
        print_json(listed)
        return
    zone = node_zone(data)
    out.print(f"{len(listed)} consent request(s)")
    for r in listed:
        use = f"use in case {r['target']}" if r["use"] == "case" else f"transfer to {r['target']}"
        way = f"to {r['peer_address']}" if r["direction"] == "out" else f"from {r['peer_address']}"
        out.print(f"\n{r['request']}  {r['direction']} {way}  {r['status']}", markup=False)
        for label, value in (("use", use), ("reason", r["reason"]), ("asked", when(r["requested_at"], zone)),
                             ("desk", r["desk"] or "none")):
            out.print(f"  {label:<7} {value}", markup=False)
        for i in r["items"]:
            out.print(f"  item    {i['sha256']}  {i['status']}", markup=False)
            if i["reason"]:
                conditions = "; ".join(i["conditions"]) or "none"
                out.print(f"          {i['answered_by']}: {i['reason']} (conditions: {conditions})", markup=False)
    pending = [r for r in listed if r["direction"] == "in" and r["status"] == "asked"]
    if pending:
        out.print(f"\nTo answer: hanoinet evidence consent answer {pending[0]['request']} --grant|--refuse "
                  "--reason TEXT", markup=False)


@app.command("shred")
def shred(
    file_id: str = typer.Argument(..., help="the evidence file's id (`hanoinet evidence list`)"),
    reason: str = typer.Option(..., "--reason", help="why (e.g. the retention limit that requires it)"),
    data: Path = DataOption,
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
    actor: str | None = ActorOption,
) -> None:
    """Destroy a file's data key and ciphertext for good; the custody log records it."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService

    node = open_node(data)
    try:
        service = EvidenceService(node)
        item = service.get(file_id)
        if not yes and not typer.confirm(f"Shred {item.name} ({item.size:,} bytes, case {item.case})? "
                                         "This cannot be undone"):
            raise typer.Exit(1)
        service.shred(file_id, actor=operator_actor(actor), reason=reason)
    finally:
        node.close()
    out.print(f"shredded {item.name} ({item.sha256}); its key is destroyed on this node. Node backup archives "
              "taken before now still hold it until they are destroyed, and copies sent to other States are theirs "
              "to shred (docs/evidence.md, \"Shredding and backups\")")


@app.command("sweep")
def sweep(
    data: Path = DataOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed; remove nothing"),
    older_than: int | None = typer.Option(None, "--older-than", min=600, help="seconds a crash's leftover must "
                                          "have been idle (default: the node's evidence_sweep_age_seconds)"),
    actor: str | None = ActorOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove what crashes, abandoned uploads and ended pulls left behind; prints what it removed."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.evidence.sweep import KINDS, Sweeper

    node = open_node(data)
    try:
        sweeper = Sweeper(EvidenceService(node), age=timedelta(seconds=older_than) if older_than else None)
        report = sweeper.sweep(dry_run=dry_run, actor=operator_actor(actor))
    finally:
        node.close()
    if as_json:
        print_json(report.as_json())
    else:
        verb = "would remove" if dry_run else "removed"
        for kind, (count, size) in report.totals().items():
            if not count:
                continue
            out.print(f"{KINDS[kind]}: {count}, {_bytes(size)} (size, idle for, name)")
            for item in (i for i in report.removed if i.kind == kind):
                out.print(f"  {_bytes(item.size):>9} {_idle(report.at - item.idle_since):>7}  {item.name}")
        total = sum(item.size for item in report.removed)
        out.print(f"{verb} {len(report.removed)} leftover(s), {_bytes(total)}" if report.removed
                  else "nothing to remove")
    for failure in report.failures:
        err.print(f"[bold red]error:[/] could not sweep {escape(str(failure))}")
    if report.failures:
        raise typer.Exit(2)


def _bytes(size: int) -> str:
    """``917 MiB``: three significant digits at most, binary units."""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1000 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.3g} {unit}"


def _idle(delta: timedelta) -> str:
    """``3d 04h``, ``2h 05m`` or ``12m``."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    return f"{days}d {hours:02d}h" if days else f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def verify(
    package_file: Path = typer.Argument(..., help="the evidence package (.zip)", readable=False),
    trust: list[str] = typer.Option([], "--trust", help="fingerprint of a key you trust, obtained outside the "
                                    "package: the Secretariat's authority key as it publishes it, or the sending "
                                    "node's signing key (repeat)"),
    data: Path | None = typer.Option(None, "--data", "-d", help="also trust the Secretariat's authority key "
                                     "pinned by the node in this data directory"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    report_file: Path | None = typer.Option(None, "--report", help="also write a report for the court (HTML)"),
) -> None:
    """Verify an evidence package offline, against a key you trust.

    Without --trust or --data, the fingerprints in HANOINET_TRUST (commas or spaces between them) are trusted.

    Exit status:
    0  VALID: every check holds and a trusted key anchors the signer.
    1  NOT VALID: a check failed, or the file cannot be read.
    2  the command could not run (an unknown option, a --trust that is not a fingerprint, a bad --data).
    3  INTACT, NOT ANCHORED: no trusted key was given; nobody has shown that the signing key is the sender's.
    4  INTACT, UNTRUSTED SIGNER: no trusted key vouches for the signing key.
    """
    from hanoinet.cli.verify import VerifyArgs, run

    raise typer.Exit(run(VerifyArgs(package_file=package_file, trust=tuple(trust), data=data, as_json=as_json,
                                    report_file=report_file)))

"""``hanoinet evidence ...`` and ``hanoinet verify``: ingest, list, seal and shred evidence; verify packages.

The ``evidence`` commands work on the node's data directory (``--data``), as the examiner at the node does;
``verify`` needs nothing but the package (docs/evidence.md).
"""

from __future__ import annotations

import getpass
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from hanoinet.cli.common import DataOption, err, out, print_json
from hanoinet.errors import ValidationError

# The node, the ORM and the evidence service are imported inside the commands that use them: `verify` needs
# none of them and a court's machine should not wait for them (tests/cli/test_startup.py).
if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(help="Evidence: ingest, list, seal into packages, shred (docs/evidence.md).", no_args_is_help=True)

ActorOption = typer.Option(None, "--actor", help="who does this, as recorded in the custody log "
                           "(default: operator:<login name>)")


def _actor(given: str | None) -> str:
    return given or f"operator:{getpass.getuser()}"


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
        added = []
        with _progress() as bar:
            for path in files:
                task = bar.add_task(path.name, total=os.path.getsize(path))
                item = service.ingest_path(path, case=case, actor=_actor(actor), progress=partial(bar.advance, task))
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
    table = Table("id", "case", "name", "size", "sha256", "ingested", "status")
    for i in items:
        table.add_row(i.id, i.case, i.name, f"{i.size:,}", i.sha256, i.ingested_at.strftime("%Y-%m-%d %H:%M:%SZ"),
                      "shredded" if i.shredded_at else "stored")
    out.print(table)


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
    actor: str | None = ActorOption,
) -> None:
    """Seal the case's files into one package a court can verify offline with `hanoinet verify`."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.package import UseConditions, seal
    from hanoinet.evidence.service import EvidenceService

    node = open_node(data)
    try:
        service = EvidenceService(node)
        total = sum(i.size for i in service.list(case) if not file_id or i.id in file_id)
        with _progress() as bar:
            task = bar.add_task("sealing", total=total)
            sealed = seal(service, case=case, out=to, actor=_actor(actor), recipient=recipient,
                          conditions=UseConditions(purpose=purpose, conditions=tuple(condition)),
                          file_ids=file_id or None, witness_wait=wait_witnesses, min_witnesses=min_witnesses,
                          progress=partial(bar.advance, task))
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
                        actor=_actor(actor), conditions=UseConditions(purpose=purpose, conditions=tuple(condition)),
                        file_ids=file_id or None, witness_wait=wait_witnesses, min_witnesses=min_witnesses)
    finally:
        node.close()
    out.print(f"offered {offered.files} files of case {case} to {to} (package {offered.package_id}); the offer "
              f"can be pulled until {offered.expires_at:%Y-%m-%d %H:%M}Z")


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
    table = Table("package", "direction", "State", "case", "status", "files here", "error")
    for o in listed:
        here = sum(f["here"] for f in o["files"])
        table.add_row(o["package"], o["direction"], o["peer"], o["case"], o["status"], f"{here}/{len(o['files'])}",
                      o["error"] or "")
    out.print(table)


@app.command("export")
def export(
    package_id: str = typer.Option(..., "--package", help="the package id of a received offer"),
    to: Path = typer.Option(..., "--out", help="the package file to write (.zip)"),
    data: Path = DataOption,
    actor: str | None = ActorOption,
) -> None:
    """Write a received package exactly as the sender sealed it, for `hanoinet verify` and the court."""
    from hanoinet.cli.node import open_node
    from hanoinet.evidence.service import EvidenceService
    from hanoinet.evidence.transfer import rebuild_package

    node = open_node(data)
    try:
        rebuild_package(EvidenceService(node), package_id, to, actor=_actor(actor))
    finally:
        node.close()
    out.print(f"wrote package {package_id} to {to}; check it with `hanoinet verify {to} --trust FINGERPRINT`")


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
        service.shred(file_id, actor=_actor(actor), reason=reason)
    finally:
        node.close()
    out.print(f"shredded {item.name} ({item.sha256}); its key is destroyed on this node. Node backup archives "
              "taken before now still hold it until they are destroyed, and copies sent to other States are theirs "
              "to shred (docs/evidence.md, \"Shredding and backups\")")


def verify(
    package_file: Path = typer.Argument(..., help="the evidence package (.zip)"),
    trust: list[str] = typer.Option([], "--trust", help="fingerprint of a trusted key: the Secretariat's "
                                    "authority key or the sending node's signing key (repeat)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    report_file: Path | None = typer.Option(None, "--report", help="also write a report for the court (HTML)"),
) -> None:
    """Verify an evidence package offline. Exit 0: every check holds; 1: something does not, or unreadable."""
    from hanoinet.evidence.report import render_html
    from hanoinet.evidence.verify import Report, verify_package

    try:
        with package_file.open("rb") as source:
            report = verify_package(source, name=package_file.name, trust=trust)
    except OSError as exc:
        report = Report(source=str(package_file))
        report.add("layout", str(package_file), False, f"cannot read the file: {exc.strerror or exc}")
    if report_file is not None:
        report_file.write_text(render_html(report), encoding="utf-8")
    if as_json:
        print_json(report.as_json())
    else:
        for check in report.checks:
            mark = "[green]ok  [/]" if check.ok else "[bold red]FAIL[/]"
            out.print(f"{mark} {check.name}: {check.subject}: {check.detail}", markup=True)
        if report.signer_fingerprint:
            out.print(f"signer: {report.signer_state}, key fingerprint {report.signer_fingerprint}"
                      + (f", anchored by trusted key {report.anchored_by}" if report.anchored_by else ""))
        if report.witnesses:
            out.print(f"witnessed by: {', '.join(report.witnesses)}; "
                      f"in the log no later than {report.witnessed_before}")
        for warning in report.warnings:
            out.print(f"[bold yellow]warning:[/] {warning}", markup=True)
        failed = sum(not c.ok for c in report.checks)
        out.print("[bold green]VALID[/]: every check holds" if report.ok else
                  f"[bold red]NOT VALID[/]: {failed} check(s) failed", markup=True)
    raise typer.Exit(0 if report.ok else 1)

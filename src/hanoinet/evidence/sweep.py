"""The evidence sweeper: removes what crashes, abandoned uploads and ended pulls leave behind.

Every ``hanoinet serve`` process runs it at start and then every ``evidence_sweep_interval_seconds``;
operators run it with ``hanoinet evidence sweep``. Several processes may share one data directory and one
database, so nothing here relies on what this process has open: a leftover is what no database row owns and
what nobody has written to for ``evidence_sweep_age_seconds``, or what a row says is over (an upload idle past
its expiry, an offer failed or complete). A blob that a file row names is never removed. What it removes, and
why each rule is safe: docs/evidence.md, section "Sweeping leftovers".
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from hanoinet.clock import format_instant, now
from hanoinet.db.models import EvidenceFile, EvidenceOffer, EvidenceOfferFile, EvidenceUpload
from hanoinet.durable import fsync_folder
from hanoinet.errors import HanoinetError
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.uploads import staging_path
from hanoinet.node import audit

log = structlog.get_logger("hanoinet.evidence.sweep")

#: What the sweeper removes, by kind, as reports and the audit trail name it.
KINDS = {
    "unfinished_write": "unfinished blob writes",
    "orphan_blob": "blobs no evidence file names",
    "expired_upload": "uploads idle past their expiry",
    "stray_staging": "upload staging files without an upload",
    "transfer": "pull files of offers failed, complete or unknown",
    "export": "package downloads left in exports/",
    "retired_kek": "key-encryption keys of retired epochs",
}
_STAGING = re.compile(r"\A([0-9a-f]{32})\.part\Z")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PACKAGE = re.compile(rf"\A{_UUID}\Z")
_PULLED = re.compile(r"\A([0-9]{1,5})\.part\Z")
_EXPORT = re.compile(rf"\A{_UUID}-[0-9a-f]{{8}}\.zip(\.partial)?\Z")
_HEX = "0123456789abcdef"
_NAMES_AUDITED = 100  # per kind in the audit record of a sweep; the counts are always whole


@dataclass(frozen=True, slots=True)
class Leftover:
    """One thing the sweeper removed (or, in a dry run, would remove)."""

    kind: str
    #: Its identifier: a blob or upload id, a package id (``<package>/<n>.part`` for one pulled file), a file name.
    name: str
    size: int
    #: When it was last written to (an upload: its last piece).
    idle_since: datetime

    def as_json(self) -> dict[str, object]:
        """For ``--json``."""
        return {"kind": self.kind, "name": self.name, "size": self.size, "idle_since": format_instant(self.idle_since)}


@dataclass(slots=True)
class SweepReport:
    """What one sweep removed, and the steps that failed (the others still ran)."""

    at: datetime
    dry_run: bool
    removed: list[Leftover] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[int, int]]:
        """``kind -> (count, bytes)`` for every kind, in the order of :data:`KINDS`."""
        totals = dict.fromkeys(KINDS, (0, 0))
        for item in self.removed:
            count, size = totals[item.kind]
            totals[item.kind] = (count + 1, size + item.size)
        return totals

    def as_json(self) -> dict[str, object]:
        """For ``--json``."""
        return {"at": format_instant(self.at), "dry_run": self.dry_run,
                "totals": {kind: {"count": c, "bytes": b} for kind, (c, b) in self.totals().items()},
                "removed": [item.as_json() for item in self.removed], "failures": self.failures}


class Sweeper:
    """Sweeps one node's evidence leftovers; see the module docstring."""

    def __init__(self, service: EvidenceService, *, age: timedelta | None = None,
                 upload_expiry: timedelta | None = None) -> None:
        settings = service.node.settings
        self.service = service
        self.node = service.node
        self.data_dir = settings.data_dir
        self.age = age if age is not None else timedelta(seconds=settings.evidence_sweep_age_seconds)
        self.upload_expiry = upload_expiry if upload_expiry is not None else \
            timedelta(seconds=settings.evidence_upload_expiry_seconds)

    def sweep(self, *, at: datetime | None = None, dry_run: bool = False, actor: str = "system") -> SweepReport:
        """Remove every leftover (``dry_run``: only list them); ``actor`` is who the audit trail names."""
        report = SweepReport(at or now(), dry_run)
        steps: list[tuple[str, Callable[[SweepReport, str], None]]] = [
            ("unfinished writes", self._unfinished), ("uploads", self._uploads), ("staging", self._stray_staging),
            ("blobs", self._orphans), ("transfers", self._transfers), ("exports", self._exports),
            ("retired keys", self._retired_keys)]
        for step, run in steps:
            try:
                run(report, actor)
            except (HanoinetError, OSError, SQLAlchemyError) as exc:
                # One failing step (an object store down, a locked database) must not stop the others.
                message = exc.message if isinstance(exc, HanoinetError) else f"{type(exc).__name__}: {exc}"
                report.failures.append(f"{step}: {message}")
                log.warning("evidence sweep step failed", step=step, error=type(exc).__name__)
        self._record(report, actor)
        return report

    def _record(self, report: SweepReport, actor: str) -> None:
        """Log counts and bytes (never names), count them in the metrics, and audit a sweep that removed things."""
        totals = {kind: counted for kind, counted in report.totals().items() if counted[0]}
        counts = {kind: count for kind, (count, _) in totals.items()}
        sizes = {f"{kind}_bytes": size for kind, (_, size) in totals.items()}
        if report.removed or report.failures:
            log.info("evidence swept", dry_run=report.dry_run, removed=len(report.removed),
                     bytes=sum(item.size for item in report.removed), failed_steps=len(report.failures),
                     **counts, **sizes)
        if report.dry_run or not report.removed:
            return
        for kind, (count, size) in totals.items():
            self.node.metrics.evidence_swept.labels(kind).inc(count)
            self.node.metrics.evidence_swept_bytes.labels(kind).inc(size)
        detail: dict[str, object] = {"totals": {kind: {"count": c, "bytes": b} for kind, (c, b) in totals.items()}}
        detail["names"] = {kind: [i.name for i in report.removed if i.kind == kind][:_NAMES_AUDITED] for kind in totals}
        with self.node.db.transaction() as uow:
            audit.record(uow.session, actor=actor, action="evidence.swept", detail=detail)

    # -- the steps -------------------------------------------------------------------------------------------

    def _unfinished(self, report: SweepReport, _actor: str) -> None:
        """Blob writes nobody has written to for ``age``: a crashed ingest's or pull's."""
        for blob in self.service.store.sweep_partial(self.age, now=report.at, dry_run=report.dry_run):
            report.removed.append(Leftover("unfinished_write", blob.id, blob.size, blob.modified))

    def _uploads(self, report: SweepReport, actor: str) -> None:
        """Uploads nothing was sent to for ``upload_expiry``: row (with its wrapped staging key) and staged pieces."""
        cutoff = report.at - self.upload_expiry
        with self.node.db.transaction(readonly=True) as uow:
            listed = uow.session.execute(select(EvidenceUpload.id, EvidenceUpload.created_at)).all()
        for upload_id, created_at in listed:
            staging = staging_path(self.data_dir, upload_id)
            if self._last_activity(staging, created_at) >= cutoff:
                continue
            size = _size(staging)
            if report.dry_run:
                report.removed.append(Leftover("expired_upload", upload_id, size,
                                               self._last_activity(staging, created_at)))
                continue
            with self.node.db.transaction() as uow:
                # Locked and looked at again: a piece appended meanwhile (it holds this lock) keeps the upload.
                row = uow.session.get(EvidenceUpload, upload_id, with_for_update=True)
                if row is None:
                    continue
                idle_since = self._last_activity(staging, row.created_at)
                if idle_since >= cutoff:
                    continue
                size = _size(staging)
                uow.session.delete(row)
                audit.record(uow.session, actor=actor, action="evidence.upload_expired", target=upload_id,
                             detail={"case": row.case_ref, "created_by": row.created_by, "size": row.size,
                                     "received": row.received, "idle_since": format_instant(idle_since)})
            staging.unlink(missing_ok=True)
            report.removed.append(Leftover("expired_upload", upload_id, size, idle_since))

    @staticmethod
    def _last_activity(staging: Path, created_at: datetime) -> datetime:
        """An upload's latest piece: the staging file's modification time (every piece syncs it), or its start."""
        try:
            modified = datetime.fromtimestamp(staging.stat().st_mtime, UTC)
        except FileNotFoundError:
            return created_at
        return max(created_at, modified)

    def _stray_staging(self, report: SweepReport, _actor: str) -> None:
        """Staging files no upload row owns: a start that crashed before its row, a cancel or completion after."""
        found = {m[1]: item for item in _files(self.data_dir / "uploads", report.at - self.age)
                 if (m := _STAGING.match(item.name))}
        if not found:
            return
        with self.node.db.transaction(readonly=True) as uow:
            owned = set(uow.session.scalars(select(EvidenceUpload.id).where(EvidenceUpload.id.in_(list(found)))))
        for upload_id, item in sorted(found.items()):
            if upload_id not in owned:
                self._remove(report, "stray_staging", item)

    def _orphans(self, report: SweepReport, _actor: str) -> None:
        """Committed blobs no file row names, idle for ``age``: an ingest or a pull that died between the blob's
        commit and its row's (their data key was never stored), or a shred that died before deleting the blob."""
        cutoff = report.at - self.age
        for digit in _HEX:  # a sixteenth of the names at a time in memory
            with self.node.db.transaction(readonly=True) as uow:
                named = set(uow.session.scalars(select(EvidenceFile.blob_id)
                                                .where(EvidenceFile.blob_id.like(f"{digit}%"))))
            candidates = [b for b in self.service.store.blobs(digit) if b.id not in named and b.modified < cutoff]
            for blob in candidates:
                with self.node.db.transaction(readonly=True) as uow:
                    # Asked again just before: a row committed since the listing keeps its blob.
                    if uow.session.scalar(select(func.count()).where(EvidenceFile.blob_id == blob.id)):
                        continue
                if not report.dry_run:
                    self.service.store.delete(blob.id)
                report.removed.append(Leftover("orphan_blob", blob.id, blob.size, blob.modified))

    def _transfers(self, report: SweepReport, _actor: str) -> None:
        """Pull folders of offers that failed or are complete (at once), or that no offer owns (after ``age``);
        and in a pull still running, the staged copy of a file already stored (after ``age``)."""
        root = self.data_dir / "transfers"
        cutoff = report.at - self.age
        for folder in _folders(root):
            with self.node.db.transaction(readonly=True) as uow:
                offer = uow.session.get(EvidenceOffer, (folder.name, "in"))
                status = offer.status if offer is not None else None
                stored = set(uow.session.scalars(select(EvidenceOfferFile.position).where(
                    EvidenceOfferFile.offer_id == folder.name, EvidenceOfferFile.direction == "in",
                    EvidenceOfferFile.file_id.is_not(None))))
            files = [(item, m) for item in _files(folder, None) if (m := _PULLED.match(item.name))]
            if status is None:
                newest = max([item.idle_since for item, _ in files] + [_modified(folder)])
                if newest >= cutoff:
                    continue
            if status == "pulling":
                files = [(item, m) for item, m in files if int(m[1]) in stored and item.idle_since < cutoff]
            for item, _ in files:
                self._remove(report, "transfer", _Found(f"{folder.name}/{item.name}", item.path, item.size,
                                                        item.idle_since))
            if status != "pulling" and not report.dry_run:
                with contextlib.suppress(FileNotFoundError):
                    try:
                        folder.rmdir()
                    except OSError as exc:
                        if exc.errno != errno.ENOTEMPTY:
                            raise  # something not the puller's is in it: left alone

    def _exports(self, report: SweepReport, _actor: str) -> None:
        """Packages rebuilt for a download and left by a crash (the only plaintext of the data directory)."""
        for item in _files(self.data_dir / "exports", report.at - self.age):
            if _EXPORT.match(item.name):
                self._remove(report, "export", item)

    def _retired_keys(self, report: SweepReport, _actor: str) -> None:
        """KEK files of retired epochs, left by a shred that stopped between its commit and their destruction."""
        retired = {epoch: _Found(path.name, path, _size(path), _modified(path))
                   for epoch, path in self.service.vault.retired_files().items()}
        epochs = set(retired) if report.dry_run else set(self.service.vault.destroy_retired()) & set(retired)
        for epoch in sorted(epochs):
            item = retired[epoch]
            report.removed.append(Leftover("retired_kek", item.name, item.size, item.idle_since))

    def _remove(self, report: SweepReport, kind: str, item: _Found) -> None:
        if not report.dry_run:
            try:
                item.path.unlink()
            except FileNotFoundError:
                return  # removed meanwhile, by its owner or another process's sweeper
            fsync_folder(item.path.parent)
        report.removed.append(Leftover(kind, item.name, item.size, item.idle_since))


@dataclass(frozen=True, slots=True)
class _Found:
    name: str
    path: Path
    size: int
    idle_since: datetime


def _files(folder: Path, older_than: datetime | None) -> list[_Found]:
    """Regular files directly in ``folder`` (none if it does not exist), last written before ``older_than``."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                modified = datetime.fromtimestamp(info.st_mtime, UTC)
                if stat.S_ISREG(info.st_mode) and (older_than is None or modified < older_than):
                    found.append(_Found(entry.name, Path(entry.path), info.st_size, modified))
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda item: item.name)


def _folders(root: Path) -> list[Path]:
    """Package folders directly in ``root`` (named by a package id; not symbolic links)."""
    try:
        with os.scandir(root) as entries:
            return sorted(Path(e.path) for e in entries if _PACKAGE.match(e.name) and e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _modified(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return datetime.min.replace(tzinfo=UTC)


async def run_sweeper(service: EvidenceService, stop: asyncio.Event, *, interval: float | None = None) -> None:
    """Background task: sweep at once, then every ``evidence_sweep_interval_seconds`` until ``stop`` (a failed
    round is logged and the next one tries again)."""
    sweeper = Sweeper(service)
    pause = interval if interval is not None else float(service.node.settings.evidence_sweep_interval_seconds)
    while not stop.is_set():
        try:
            await asyncio.to_thread(sweeper.sweep)
        except Exception:  # the loop must survive a bad round
            log.exception("evidence sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)

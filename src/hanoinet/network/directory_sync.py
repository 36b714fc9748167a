"""Accepting directory versions into a node: by file, and by polling the Secretariat's URL."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import structlog
from sqlalchemy import func, select

from hanoinet.clock import now
from hanoinet.db.models import DirectoryVersion
from hanoinet.errors import ConfigurationError, DirectoryError, HanoinetError
from hanoinet.network.directory import Directory
from hanoinet.node import audit
from hanoinet.node.node import Node

log = structlog.get_logger("hanoinet.directory")


def import_directory(node: Node, compact: str, *, source: str, actor: str = "system") -> tuple[Directory, bool]:
    """Verify and store a directory version; returns it and whether it was new.

    Refuses a bad signature, another authority, and rollback to an older version. The same version with
    different content is a forked directory: refused, and an alarm is raised.
    """
    if node.authority is None:
        raise ConfigurationError("no authority key is pinned on this node",
                                 hint="pin the Secretariat's key with `hanoinet node pin-authority`")
    with node.db.transaction() as uow:
        # Rollback is judged against what the database holds, not this process's memory: other processes of
        # the node (PostgreSQL) may have imported newer versions.
        newest = uow.session.scalar(select(func.max(DirectoryVersion.version)))
        directory = Directory.verify(compact, node.authority, held_version=newest,
                                     grace=node.settings.directory_grace)
        existing = uow.session.get(DirectoryVersion, directory.version)
        new = existing is None
        forked = existing is not None and existing.compact != directory.compact
        if new:
            uow.session.add(DirectoryVersion(version=directory.version, compact=directory.compact,
                                             imported_at=now(), source=source[:500]))
            audit.record(uow.session, actor=actor, action="directory.import", target=f"version:{directory.version}",
                         detail={"source": source})
    if forked:
        with node.db.transaction() as uow:
            audit.alarm(uow.session, code="directory_fork",
                        message=f"two different directories both claim version {directory.version}",
                        detail={"source": source})
        raise DirectoryError(
            f"directory version {directory.version} differs from the one already held with that number",
            hint="report this to the Secretariat: the authority key may be misused", code="directory_fork",
        )
    # Switch to the newest stored version (this one, or a newer one another process stored meanwhile).
    node.reload_directory()
    if new:
        log.info("directory imported", version=directory.version, source=source)
    return directory, new


def stored_versions(node: Node) -> list[int]:
    """Version numbers held, newest first."""
    with node.db.transaction(readonly=True) as uow:
        return list(uow.session.scalars(select(DirectoryVersion.version).order_by(DirectoryVersion.version.desc())))


async def poll_directory(node: Node, stop: asyncio.Event) -> None:
    """Fetch ``directory_url`` every ``directory_poll_seconds`` and import newer versions."""
    url = node.settings.directory_url
    if not url:
        return
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            try:
                response = await client.get(url)
                response.raise_for_status()
                await asyncio.to_thread(import_directory, node, response.text, source=url)
            except (httpx.HTTPError, HanoinetError) as exc:
                log.warning("directory poll failed", url=url, error=str(exc))
            directory = node.directory
            if directory is not None and directory.expired(now()):
                log.warning("directory expired: running on its grace period", version=directory.version,
                            expires_at=directory.document.expires_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=node.settings.directory_poll_seconds)

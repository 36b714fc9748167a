"""Accepting directory versions into a node: by file, and by polling the Secretariat's URL."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import structlog
from sqlalchemy import func, select

from hanoinet.clock import format_instant, now, parse_instant
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
    """Every ``directory_poll_seconds``: fetch ``directory_url`` (if set) and import a newer version, pick up
    versions other processes stored and keys added on disk, and raise an alarm once per version that has
    expired."""
    url = node.settings.directory_url
    alarmed: set[int] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            if url:
                try:
                    response = await client.get(url)
                    response.raise_for_status()
                    await asyncio.to_thread(import_directory, node, response.text, source=url)
                except (httpx.HTTPError, HanoinetError) as exc:
                    log.warning("directory poll failed", url=url, error=str(exc))
            else:
                await asyncio.to_thread(node.reload_directory)
            # Keys added by `rotate-keys` are loaded even while the directory cannot be fetched.
            await asyncio.to_thread(node.refresh_keys)
            directory = node.directory
            if directory is not None and directory.expired(now()) and directory.version not in alarmed:
                alarmed.add(directory.version)
                await asyncio.to_thread(_alarm_expired, node, directory)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=node.settings.directory_poll_seconds)


def _alarm_expired(node: Node, directory: Directory) -> None:
    end = parse_instant(directory.document.expires_at) + directory.grace
    with node.db.transaction() as uow:
        audit.alarm(
            uow.session, code="directory_expired",
            message=f"directory version {directory.version} expired at {directory.document.expires_at}; "
            f"every envelope will be refused from {format_instant(end)} unless a newer version is imported",
            detail={"version": directory.version},
        )

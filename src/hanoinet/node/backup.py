"""Backing up and restoring a node's data directory: configuration, keys, database, blobs (streamed).

The archive is a gzip-compressed tar with a ``MANIFEST.json`` listing the SHA-256 of every member, checked
on restore. Keys stay as they are on disk (encrypted when the node's keys are), so the archive is no
weaker than the data directory; keep it as carefully. An embedded SQLite database is copied with SQLite's
online backup API (consistent while the node runs); a PostgreSQL database is backed up with ``pg_dump``
by the database operator and is not part of this archive (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from hanoinet.errors import ConfigurationError, ValidationError
from hanoinet.node.settings import CONFIG_FILE, load_settings

MANIFEST = "MANIFEST.json"
#: About a hundred bytes per file: room for millions of files.
_MAX_MANIFEST = 512 << 20


def _files(data_dir: Path) -> list[Path]:
    names = [CONFIG_FILE, "authority.jwk"]
    found = [data_dir / n for n in names if (data_dir / n).exists()]
    for folder in ("keys", "blobs"):
        if (data_dir / folder).is_dir():
            found += sorted(p for p in (data_dir / folder).rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    return found


class _Hashing:
    """A file read through tarfile while its SHA-256 is computed, so every member is read once."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path) -> str:
    info = tarfile.TarInfo(name)
    with path.open("rb") as handle:
        info.size = os.fstat(handle.fileno()).st_size
        info.mode = 0o600
        reader = _Hashing(handle)
        tar.addfile(info, reader)
    return reader.sha256.hexdigest()


def backup(data_dir: Path, archive: Path) -> list[str]:
    """Write ``archive``; returns the member names. Files stream into it: memory stays small whatever the blobs."""
    settings = load_settings(data_dir)
    archive.parent.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    partial = archive.with_name(archive.name + ".partial")
    with tempfile.TemporaryDirectory() as tmp:
        copy: Path | None = None
        if settings.db_url.startswith("sqlite"):
            # The database first, then the files: every key-encryption key the copy refers to must be in the
            # archive, and a shred running now would only delete an older one.
            copy = Path(tmp) / "node.db"
            source = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"))
            target = sqlite3.connect(copy)
            with target:
                source.backup(target)
            source.close()
            target.close()
        files = {str(p.relative_to(data_dir)): p for p in _files(data_dir)}
        if copy is not None:
            files["node.db"] = copy
            _check_keks(copy, files)
        # Blobs are encrypted and do not compress: the fastest level keeps the archive's cost to the copy.
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            for name in sorted(files):
                try:
                    hashes[name] = _add(tar, name, files[name])
                except FileNotFoundError:
                    partial.unlink(missing_ok=True)
                    raise ConfigurationError(f"{name} disappeared while the backup was written (a shred or a "
                                             "cleanup ran meanwhile)", hint="run the backup again") from None
            manifest = json.dumps({"format": "hanoinet-backup/1", "state": settings.state, "files": hashes},
                                  indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(manifest))
    partial.chmod(0o600)
    partial.replace(archive)
    return sorted([*hashes, MANIFEST])


def _check_keks(database: Path, files: dict[str, Path]) -> None:
    """Every evidence KEK epoch the database copy uses is among the files to archive."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        try:
            used = {row[0] for row in conn.execute(
                "select epoch from evidence_keks where retired_at is null union "
                "select kek_epoch from evidence_files where kek_epoch is not null union "
                "select kek_epoch from evidence_uploads")}
        except sqlite3.OperationalError:  # a database from before evidence existed
            return
    missing = sorted(e for e in used if f"keys/evidence-kek-{e}.jwe" not in files)
    if missing:
        raise ConfigurationError(f"the evidence key-encryption key(s) of epoch {missing} are not in the keys folder: "
                                 "a shred ran while the backup started, or the folder is damaged",
                                 hint="run the backup again; if it fails again, check DATA/keys/")


def restore(archive: Path, data_dir: Path) -> list[str]:
    """Unpack ``archive`` into an empty ``data_dir`` after checking every member's hash.

    Members stream into a staging folder beside ``data_dir`` while they are hashed; the folder becomes
    ``data_dir`` only once every member matches the manifest (the last member).
    """
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigurationError(f"{data_dir} is not empty", hint="restore into a new, empty folder")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir.parent))
    try:
        hashes: dict[str, str] = {}
        manifest_data: bytes | None = None
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    name = member.name
                    if not member.isfile() or name.startswith("/") or ".." in Path(name).parts:
                        raise ValidationError(f"backup member {name!r} is not a plain relative file")
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    if name == MANIFEST:
                        if member.size > _MAX_MANIFEST:
                            raise ValidationError(f"{MANIFEST} is {member.size} bytes; at most {_MAX_MANIFEST}")
                        manifest_data = extracted.read()
                        continue
                    if name in hashes:
                        raise ValidationError(f"backup member {name!r} appears twice")
                    path = staging / name
                    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    digest = hashlib.sha256()
                    with path.open("wb") as out:
                        while chunk := extracted.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                        out.flush()
                        os.fsync(out.fileno())
                    path.chmod(0o600)
                    hashes[name] = digest.hexdigest()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValidationError(f"{archive} is not a readable backup: {exc}") from None
        try:
            manifest = json.loads(manifest_data or b"")
            expected: dict[str, str] = manifest["files"]
            if not isinstance(expected, dict):
                raise ValueError("'files' is not an object")
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(f"{archive} has no valid {MANIFEST}: {exc}") from None
        if set(expected) != set(hashes):
            raise ValidationError(f"{archive} members do not match its manifest",
                                  hint="the archive is incomplete or was altered; use another backup")
        for name, found in hashes.items():
            if found != expected[name]:
                raise ValidationError(f"backup member {name} does not match its SHA-256 in the manifest",
                                      hint="the archive is damaged or was altered; use another backup")
        staging.chmod(0o700)
        if data_dir.exists():
            data_dir.rmdir()
        staging.replace(data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(hashes)

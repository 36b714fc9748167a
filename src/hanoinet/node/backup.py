"""Backing up and restoring a node's data directory: configuration, keys, database, blobs.

The archive is a gzip-compressed tar with a ``MANIFEST.json`` listing the SHA-256 of every member, checked
on restore. Keys stay as they are on disk (encrypted when the node's keys are), so the archive is no
weaker than the data directory; keep it as carefully. An embedded SQLite database is copied with SQLite's
online backup API (consistent while the node runs); a PostgreSQL database is backed up with ``pg_dump``
by the database operator and is not part of this archive (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from hanoinet.errors import ConfigurationError, ValidationError
from hanoinet.node.settings import CONFIG_FILE, load_settings

MANIFEST = "MANIFEST.json"


def _files(data_dir: Path) -> list[Path]:
    names = [CONFIG_FILE, "authority.jwk"]
    found = [data_dir / n for n in names if (data_dir / n).exists()]
    for folder in ("keys", "blobs"):
        if (data_dir / folder).is_dir():
            found += sorted(p for p in (data_dir / folder).rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    return found


def backup(data_dir: Path, archive: Path) -> list[str]:
    """Write ``archive``; returns the member names."""
    settings = load_settings(data_dir)
    members: dict[str, bytes] = {str(p.relative_to(data_dir)): p.read_bytes() for p in _files(data_dir)}
    if settings.db_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "node.db"
            source = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"))
            target = sqlite3.connect(copy)
            with target:
                source.backup(target)
            source.close()
            target.close()
            members["node.db"] = copy.read_bytes()
    manifest = {"format": "hanoinet-backup/1", "state": settings.state,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())}}
    members[MANIFEST] = json.dumps(manifest, indent=2).encode()
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    archive.chmod(0o600)
    return sorted(members)


def restore(archive: Path, data_dir: Path) -> list[str]:
    """Unpack ``archive`` into an empty ``data_dir`` after checking every member's hash."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigurationError(f"{data_dir} is not empty", hint="restore into a new, empty folder")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            contents: dict[str, bytes] = {}
            for member in tar.getmembers():
                name = member.name
                if not member.isfile() or name.startswith("/") or ".." in Path(name).parts:
                    raise ValidationError(f"backup member {name!r} is not a plain relative file")
                extracted = tar.extractfile(member)
                assert extracted is not None
                contents[name] = extracted.read()
    except (tarfile.TarError, OSError) as exc:
        raise ValidationError(f"{archive} is not a readable backup: {exc}") from None
    try:
        manifest = json.loads(contents.pop(MANIFEST))
        expected: dict[str, str] = manifest["files"]
        if not isinstance(expected, dict):
            raise ValueError("'files' is not an object")
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"{archive} has no valid {MANIFEST}: {exc}") from None
    if set(expected) != set(contents):
        raise ValidationError(f"{archive} members do not match its manifest",
                              hint="the archive is incomplete or was altered; use another backup")
    for name, data in contents.items():
        if hashlib.sha256(data).hexdigest() != expected[name]:
            raise ValidationError(f"backup member {name} does not match its SHA-256 in the manifest",
                                  hint="the archive is damaged or was altered; use another backup")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data in contents.items():
        path = data_dir / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o600)
    return sorted(contents)

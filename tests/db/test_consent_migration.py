"""Migration 0015: files received before it learn their sender, package, case and purpose from their offer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from hanoinet.db import database as db_module
from hanoinet.db.database import Database

PACKAGE = "0193a1b2-7c4d-4e5f-8a6b-1c2d3e4f5a6b"
AT = "2026-11-30 10:00:00+00:00"


def _upgrade(database: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(db_module._MIGRATIONS))
    with database.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def test_a_file_received_before_the_revision_gets_what_its_offer_holds(tmp_path: Path, database_url: str) -> None:
    database = Database(database_url or f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade(database, "0012")
    described = {"id": PACKAGE, "case": "BRA-2026-0042", "use_conditions": {
        "purpose": "answer to request FRA-2026-0001", "onward_transfer": "only with consent", "conditions": ["c"]}}
    head = json.dumps({"package.json": base64.b64encode(json.dumps(described).encode()).decode()})
    with database.engine.begin() as connection:
        for file_id, origin in (("a" * 32, "BRA"), ("b" * 32, "FRA")):
            connection.execute(sa.text(
                "INSERT INTO evidence_files (id, case_ref, name, size, sha256, chunk_size, origin, ingested_at, "
                "ingested_by) VALUES (:id, 'BRA-2026-0042', 'f', 1, :sha, 65536, :origin, :at, 'x')"),
                {"id": file_id, "sha": file_id * 2, "origin": origin, "at": AT})
        connection.execute(sa.text(
            "INSERT INTO evidence_offers (id, direction, peer, case_ref, created_at, expires_at, head, signature, "
            "status, attempts) VALUES (:id, 'in', 'BRA', 'BRA-2026-0042', :at, :at, :head, 's', 'complete', 0)"),
            {"id": PACKAGE, "at": AT, "head": head})
        connection.execute(sa.text(
            "INSERT INTO evidence_offer_files (offer_id, direction, position, path, size, sha256, chunk_size, "
            "file_id) VALUES (:id, 'in', 1, 'files/0001/f', 1, :sha, 65536, :file)"),
            {"id": PACKAGE, "sha": "a" * 64, "file": "a" * 32})
    _upgrade(database, "0015")
    with database.engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(sa.text(
            "SELECT id, origin_sender, origin_package, origin_case, purpose, use_conditions FROM evidence_files"))}
    database.dispose()
    received = rows["a" * 32]
    assert (received.origin_sender, received.origin_package, received.origin_case, received.purpose) == (
        "BRA", PACKAGE, "BRA-2026-0042", "answer to request FRA-2026-0001")
    assert json.loads(received.use_conditions) == described["use_conditions"]
    own = rows["b" * 32]
    assert (own.origin_sender, own.origin_package, own.purpose, own.use_conditions) == (None, None, None, None)

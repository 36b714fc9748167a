"""received evidence keeps its sender's purpose and conditions; consent requests and answers

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

A file received from another State records who sent it (its address), the package it came in, the case it was
given for, and the purpose and use conditions its package set (docs/privacy.md, "Purpose limitation and onward
transfer"). Files received before this revision get what their offer still holds. An incoming offer records
the sending desk, to which consent requests go. Consent requests sent and received are kept with their items
and answers.
"""

import base64
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILE_COLUMNS = (("origin_sender", sa.String(length=40)), ("origin_package", sa.String(length=36)),
                 ("origin_case", sa.String(length=128)), ("purpose", sa.Text()), ("use_conditions", sa.Text()))


def upgrade() -> None:
    with op.batch_alter_table("evidence_files") as batch_op:
        for name, type_ in _FILE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("evidence_offers") as batch_op:
        batch_op.add_column(sa.Column("peer_desk", sa.String(length=16), nullable=True))
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("direction", sa.String(length=3), primary_key=True),
        sa.Column("peer", sa.String(length=3), nullable=False),
        sa.Column("peer_address", sa.String(length=40), nullable=False),
        sa.Column("desk", sa.String(length=16), nullable=True),
        sa.Column("use", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
    )
    op.create_table(
        "consent_items",
        sa.Column("request_id", sa.String(length=36), primary_key=True),
        sa.Column("direction", sa.String(length=3), primary_key=True),
        sa.Column("sha256", sa.String(length=64), primary_key=True),
        sa.Column("package", sa.String(length=36), primary_key=True),
        sa.Column("file_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("answer_reason", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
    )
    op.create_index("ix_consent_items_sha256", "consent_items", ["sha256"])
    _backfill()


def _backfill() -> None:
    """Files received before this revision: what their incoming offer holds (sender, package, case, purpose)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT f.file_id, o.id, o.peer, o.case_ref, o.head FROM evidence_offer_files f JOIN evidence_offers o "
        "ON o.id = f.offer_id AND o.direction = f.direction WHERE f.direction = 'in' AND f.file_id IS NOT NULL"))
    for file_id, package, peer, case, head in rows.all():
        try:
            conditions = json.loads(base64.b64decode(json.loads(head)["package.json"]))["use_conditions"]
            purpose = str(conditions["purpose"])
            kept = json.dumps(conditions, sort_keys=True)
        except (ValueError, KeyError, TypeError):
            purpose, kept = None, None
        bind.execute(sa.text(
            "UPDATE evidence_files SET origin_sender = :sender, origin_package = :package, origin_case = :case, "
            "purpose = :purpose, use_conditions = :conditions WHERE id = :id"),
            {"sender": peer, "package": package, "case": case, "purpose": purpose, "conditions": kept,
             "id": file_id})


def downgrade() -> None:
    op.drop_index("ix_consent_items_sha256", table_name="consent_items")
    op.drop_table("consent_items")
    op.drop_table("consent_requests")
    with op.batch_alter_table("evidence_offers") as batch_op:
        batch_op.drop_column("peer_desk")
    with op.batch_alter_table("evidence_files") as batch_op:
        for name, _ in reversed(_FILE_COLUMNS):
            batch_op.drop_column(name)

"""evidence belongs to a desk: the desk of evidence files, uploads and offers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Officers see and handle the evidence of their own desk only (docs/authorisation.md). A file is filed at the
desk of the officer who ingested or uploaded it, or at the desk a received offer was addressed to; an offer at
the desk that sent it or that it was addressed to. Rows held before this revision record no desk: only
supervisors and admins, who read every desk, see them. Custody links get an index by entry, by which a
custody record is traced to its file (and so to its desk).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("evidence_files", "evidence_uploads", "evidence_offers")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("desk", sa.String(length=16), nullable=True))
    op.create_index("ix_evidence_custody_entry", "evidence_custody", ["entry"])


def downgrade() -> None:
    op.drop_index("ix_evidence_custody_entry", table_name="evidence_custody")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("desk")

"""retention periods of evidence: the sending State's, the receiving State's domestic one, and the end kept

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08

A file holds the end of the period the sending State set in the package's use conditions
(``sender_retain_until``), the end of a shorter domestic period set here (``domestic_retain_until``) and the
earlier of the two (``retain_until``, indexed: the retention job asks which files are due by it). An incoming
offer keeps the sender's end until its files are stored. Rows held before this revision have no period: they
are kept until shredded by hand, as before (docs/privacy.md, "Retention").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILE_COLUMNS = ("sender_retain_until", "domestic_retain_until", "retain_until")


def upgrade() -> None:
    with op.batch_alter_table("evidence_files") as batch_op:
        for name in _FILE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_evidence_files_retain_until", "evidence_files", ["retain_until"])
    with op.batch_alter_table("evidence_offers") as batch_op:
        batch_op.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_offers") as batch_op:
        batch_op.drop_column("retain_until")
    op.drop_index("ix_evidence_files_retain_until", table_name="evidence_files")
    with op.batch_alter_table("evidence_files") as batch_op:
        for name in reversed(_FILE_COLUMNS):
            batch_op.drop_column(name)

"""four eyes on outgoing requests; clocks of the Art. 40 procedure paged once

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08

A draft keeps the supervisor's approval of its contents (four eyes, docs/requests.md), which travels in its
``send``; editing the draft clears it. ``procedure_paged`` lists the clocks of the Art. 40 procedure (an
overdue consultation reply, an overdue requested deadline) the desk was already paged for, so each pages once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("approval", sa.Text(), nullable=True))
        batch.add_column(sa.Column("procedure_paged", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("procedure_paged")
        batch.drop_column("approval")

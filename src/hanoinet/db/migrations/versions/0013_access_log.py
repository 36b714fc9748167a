"""access log: every read of personal data by an officer, append-only and chained

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

The database itself refuses to change or remove a row (docs/privacy.md, "Access log"): on SQLite, triggers
that abort an UPDATE or a DELETE; on PostgreSQL, one trigger function raised before an UPDATE or a DELETE of
any row and before a TRUNCATE. Whoever can drop a trigger can still remove rows; the chain of digests makes that
detectable, not impossible.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The message both databases give, which hanoinet.privacy.access recognises in tests and an operator in logs.
REFUSAL = "access_log is append-only"

_SQLITE = [
    f"CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: UPDATE refused'); END",
    f"CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: DELETE refused'); END",
]
_POSTGRESQL = [
    "CREATE FUNCTION access_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
    "FOR EACH ROW EXECUTE FUNCTION access_log_refuse()",
    "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse()",
]


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("item_kind", sa.String(length=32), nullable=False),
        sa.Column("item_ref", sa.String(length=200), nullable=False),
        sa.Column("case_ref", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=200), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_access_log_actor", "access_log", ["actor", "seq"])
    op.create_index("ix_access_log_item", "access_log", ["item_ref", "seq"])
    op.create_index("ix_access_log_case", "access_log", ["case_ref", "seq"])
    op.create_index("ix_access_log_at", "access_log", ["at"])
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("access_log")  # its indexes and triggers go with it
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION access_log_refuse()")

"""takedown trust by source: who called an entry's matches false positives, and each platform's reports in
the flood window

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

``false_positives`` becomes the number of sources in ``false_positive_sources`` (each platform whose match of
the entry was rejected, and 0 for this node's reviewers if they rejected one), and each platform's reports in
the current flood window are kept in ``window_platforms`` (docs/takedown.md, section 3). Existing rows are
recomputed from the match reports.
"""

import json
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REVIEWERS = 0


def upgrade() -> None:
    with op.batch_alter_table("hash_trust") as batch_op:
        batch_op.add_column(sa.Column("false_positive_sources", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("window_platforms", sa.Text(), nullable=False, server_default="{}"))
    bind = op.get_bind()
    sources: dict[int, set[int]] = defaultdict(set)
    for entry_row, platform_id, reviewed_by in bind.execute(sa.text(
            "SELECT entry_row, platform_id, reviewed_by FROM match_reports WHERE review = 'rejected'")):
        sources[entry_row].add(platform_id)
        if reviewed_by != f"platform:{platform_id}":  # rejected by a reviewer, not by the platform itself
            sources[entry_row].add(_REVIEWERS)
    windows: dict[int, dict[str, int]] = defaultdict(dict)
    for entry_row, platform_id, count in bind.execute(sa.text(
            "SELECT t.entry_row, r.platform_id, count(*) FROM hash_trust t JOIN match_reports r "
            "ON r.entry_row = t.entry_row AND r.reported_at >= t.window_start "
            "GROUP BY t.entry_row, r.platform_id")):
        windows[entry_row][str(platform_id)] = count
    update = sa.text("UPDATE hash_trust SET false_positives = :fp, false_positive_sources = :sources, "
                     "window_reports = :reports, window_platforms = :platforms WHERE entry_row = :row")
    for (row,) in bind.execute(sa.text("SELECT entry_row FROM hash_trust")).all():
        found, window = sorted(sources.get(row, ())), windows.get(row, {})
        bind.execute(update, {"fp": len(found), "sources": json.dumps(found), "reports": sum(window.values()),
                              "platforms": json.dumps(window, sort_keys=True), "row": row})
    with op.batch_alter_table("hash_trust") as batch_op:
        batch_op.alter_column("false_positive_sources", server_default=None)
        batch_op.alter_column("window_platforms", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("hash_trust") as batch_op:
        batch_op.drop_column("window_platforms")
        batch_op.drop_column("false_positive_sources")

"""Sign-in conveniences: "keep me signed in" limits on the session row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:05:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no backfill: every existing session keeps the configured limits, as before.
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idle_seconds", sa.Integer(), nullable=True, comment="kept signed in: its own idle limit"))
        batch_op.add_column(
            sa.Column("absolute_seconds", sa.Integer(), nullable=True, comment="kept signed in: its own absolute limit")
        )


def downgrade():
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("absolute_seconds")
        batch_op.drop_column("idle_seconds")

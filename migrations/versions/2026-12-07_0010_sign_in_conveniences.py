"""Sign-in conveniences: "keep me signed in" limits on the session row; the browsers and networks seen;
the browsers trusted to skip the second factor.

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
    op.create_table(
        "seen_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device_digest", sa.String(length=64), nullable=False, comment="SHA-256 of the device cookie's random id"),
        sa.Column("network", sa.String(length=64), nullable=False, comment="coarse: the IPv4 /24 or IPv6 /48, never the address"),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False, comment="pruned 180 days after"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_seen_device_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_device")),
        sa.UniqueConstraint("user_id", "device_digest", "network", name=op.f("uq_seen_device_user_id")),
    )
    with op.batch_alter_table("seen_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_device_last_seen_at"), ["last_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_seen_device_user_id"), ["user_id"], unique=False)
    op.create_table(
        "trusted_browser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False, comment="SHA-256 of the cookie value"),
        sa.Column("user_agent", sa.String(length=120), nullable=False, comment="browser and system, as shown to the person"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_trusted_browser_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_browser")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_trusted_browser_token_digest")),
    )
    with op.batch_alter_table("trusted_browser", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_browser_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trusted_browser_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("trusted_browser", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_browser_user_id"))
        batch_op.drop_index(batch_op.f("ix_trusted_browser_expires_at"))
    op.drop_table("trusted_browser")
    with op.batch_alter_table("seen_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_device_user_id"))
        batch_op.drop_index(batch_op.f("ix_seen_device_last_seen_at"))
    op.drop_table("seen_device")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("absolute_seconds")
        batch_op.drop_column("idle_seconds")

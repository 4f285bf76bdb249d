"""private_key_jwt: remember each client assertion's jti until it expires (single use).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:11:13.220985

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_used_client_assertion",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_used_client_assertion_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_oauth_used_client_assertion")),
    )
    with op.batch_alter_table("oauth_used_client_assertion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_used_client_assertion_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("oauth_used_client_assertion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_used_client_assertion_expires_at"))

    op.drop_table("oauth_used_client_assertion")

"""Linked identities: accounts at other providers that sign a person in (social sign-in).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:23:15.892306

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "linked_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False, comment="the configured provider name, e.g. github"),
        sa.Column(
            "subject", sa.String(length=255), nullable=False, comment="the provider's stable id: OIDC sub, GitHub/Discord user id"
        ),
        sa.Column("email", sa.String(length=254), nullable=False, comment="as the provider last reported it"),
        sa.Column("username", sa.String(length=100), nullable=False, comment="login or handle, to tell accounts apart"),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_linked_identity_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_identity")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_linked_identity_provider")),
    )
    with op.batch_alter_table("linked_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_linked_identity_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("linked_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linked_identity_user_id"))

    op.drop_table("linked_identity")

"""Pushed authorization requests (RFC 9126): the oauth_pushed_request table and the per-client requirement.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_pushed_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False, comment="SHA-256 of the request_uri's random part"),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False, comment="the pushed parameters as [name, value] pairs"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, comment="first use at /oauth/authorize before this"),
        sa.Column(
            "opened_at",
            sa.DateTime(),
            nullable=True,
            comment="first seen at /oauth/authorize: sign-in and consent may then take longer than expires_at",
        ),
        sa.Column("used_at", sa.DateTime(), nullable=True, comment="the authorization response was issued"),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_oauth_pushed_request_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_pushed_request")),
        sa.UniqueConstraint("digest", name=op.f("uq_oauth_pushed_request_digest")),
    )
    with op.batch_alter_table("oauth_pushed_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_pushed_request_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_pushed_request_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_pushed_authorization_requests",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="RFC 9126: authorization requests only by request_uri",
            )
        )


def downgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("require_pushed_authorization_requests")
    with op.batch_alter_table("oauth_pushed_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_pushed_request_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oauth_pushed_request_client_id"))
    op.drop_table("oauth_pushed_request")

"""OIDC Back-Channel Logout 1.0: the clients' logout URIs, the apps each session signed in to, the tokens owed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 22:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "backchannel_logout_uri",
                sa.String(length=500),
                nullable=True,
                comment="OIDC Back-Channel Logout: told of sign-outs",
            )
        )
        batch_op.add_column(
            sa.Column(
                "backchannel_logout_session_required",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="the app needs sid in its logout tokens",
            )
        )
    op.create_table(
        "session_app",
        sa.Column("session_id", sa.String(length=32), nullable=False, comment="the UserSession (sid)"),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_session_app_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", "client_id", name=op.f("pk_session_app")),
    )
    op.create_index(op.f("ix_session_app_client_id"), "session_app", ["client_id"], unique=False)
    op.create_table(
        "pending_logout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer(),
            nullable=True,
            comment="for the audit log; an account deleted since still gets its logout",
        ),
        sa.Column("subject", sa.String(length=255), nullable=False, comment="the sub the app knows the person by"),
        sa.Column("session_id", sa.String(length=32), nullable=True, comment="the ended session (sid)"),
        sa.Column("reason", sa.String(length=32), nullable=False, comment="why the session ended, for the audit log"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(),
            nullable=False,
            comment="due then; a worker that takes it moves this past its own timeout (a lease)",
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_pending_logout_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_pending_logout_user_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_logout")),
    )
    op.create_index(op.f("ix_pending_logout_client_id"), "pending_logout", ["client_id"], unique=False)
    op.create_index(op.f("ix_pending_logout_next_attempt_at"), "pending_logout", ["next_attempt_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_pending_logout_next_attempt_at"), table_name="pending_logout")
    op.drop_index(op.f("ix_pending_logout_client_id"), table_name="pending_logout")
    op.drop_table("pending_logout")
    op.drop_index(op.f("ix_session_app_client_id"), table_name="session_app")
    op.drop_table("session_app")
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("backchannel_logout_session_required")
        batch_op.drop_column("backchannel_logout_uri")

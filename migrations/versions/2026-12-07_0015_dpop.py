"""DPoP (RFC 9449): the replay store, bound refresh tokens and codes, and the per-client requirement.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_used_dpop_proof",
        sa.Column("jti_digest", sa.String(length=64), nullable=False, comment="SHA-256 of the proof's jti"),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti_digest", name=op.f("pk_oauth_used_dpop_proof")),
    )
    with op.batch_alter_table("oauth_used_dpop_proof", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_used_dpop_proof_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_dpop",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="RFC 9449 5.2 dpop_bound_access_tokens: token requests need a proof",
            )
        )
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dpop_jkt", sa.String(length=43), nullable=True, comment="RFC 9449 10: the key the token request must prove"
            )
        )
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dpop_jkt", sa.String(length=43), nullable=True, comment="RFC 9449 5: public clients' refresh needs this key"
            )
        )


def downgrade():
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.drop_column("dpop_jkt")
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("require_dpop")
    with op.batch_alter_table("oauth_used_dpop_proof", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_used_dpop_proof_expires_at"))
    op.drop_table("oauth_used_dpop_proof")

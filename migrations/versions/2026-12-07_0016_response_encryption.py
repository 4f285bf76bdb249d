"""Encrypted ID tokens, signed or encrypted UserInfo answers: per-client settings (OIDC Registration 2).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 21:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = (
    ("id_token_encrypted_response_alg", 32),
    ("id_token_encrypted_response_enc", 32),
    ("userinfo_signed_response_alg", 16),
    ("userinfo_encrypted_response_alg", 32),
    ("userinfo_encrypted_response_enc", 32),
)


def upgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        for name, length in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))


def downgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)

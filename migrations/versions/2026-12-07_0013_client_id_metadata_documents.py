"""Client ID Metadata Documents: a client_id may be the https URL of the client's own metadata.

The client_id column widens from 64 to 255 characters (the longest URL taken as a client_id), and
two columns mark such a client: is_metadata_document, and when its fetched document expires
(app/core/client_metadata.py). Existing clients are not metadata-document clients.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_client = sa.table("oauth_client", sa.column("client_id", sa.String), sa.column("is_metadata_document", sa.Boolean))


def upgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.alter_column(
            "client_id", existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=False
        )
        batch_op.add_column(
            sa.Column(
                "is_metadata_document",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="client_id is the URL of its metadata document: unreviewed",
            )
        )
        batch_op.add_column(
            sa.Column("metadata_expires_at", sa.DateTime(), nullable=True, comment="fetch the document again after this")
        )


def downgrade():
    # The rows a metadata document created can't keep their URL ids in 64 characters: they go (with
    # their codes, tokens and consents, by cascade), and are fetched again after a new upgrade.
    op.execute(sa.delete(_client).where(_client.c.is_metadata_document == sa.true()))
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("metadata_expires_at")
        batch_op.drop_column("is_metadata_document")
        batch_op.alter_column(
            "client_id", existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=False
        )

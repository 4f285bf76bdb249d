"""APIs as resource servers (RFC 8707): the api_resource table, the APIs each client may ask tokens for,
the API a custom scope belongs to, and the resource indicators kept on codes, refresh and device codes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Every existing grant was made without resource indicators: an empty list, as the models default to.
_RESOURCE_COLUMNS = {
    "oauth_authorization_code": "RFC 8707 resource indicators granted",
    "oauth_refresh_token": "RFC 8707: the APIs it may be used for",
    "oauth_device_code": "RFC 8707 resource indicators asked for",
}


def upgrade():
    op.create_table(
        "api_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=500), nullable=False, comment="absolute URI: the aud of its tokens"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("access_token_seconds", sa.Integer(), nullable=True, comment="none: IDP_ACCESS_TOKEN_SECONDS"),
        sa.Column("signing_alg", sa.String(length=8), nullable=True, comment="none: IDP_ACCESS_TOKEN_ALG"),
        sa.Column("allow_introspection", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_resource")),
        sa.UniqueConstraint("identifier", name=op.f("uq_api_resource_identifier")),
    )
    op.create_table(
        "client_api_resource",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_client_api_resource_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["api_resource.id"],
            name=op.f("fk_client_api_resource_resource_id_api_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "resource_id", name=op.f("pk_client_api_resource")),
    )
    with op.batch_alter_table("custom_scope", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource_id", sa.Integer(), nullable=True, comment="the API it belongs to, if any"))
        batch_op.create_index(batch_op.f("ix_custom_scope_resource_id"), ["resource_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_custom_scope_resource_id_api_resource"), "api_resource", ["resource_id"], ["id"], ondelete="CASCADE"
        )
    for table, comment in _RESOURCE_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("resources", sa.JSON(), nullable=False, server_default="[]", comment=comment))


def downgrade():
    for table in _RESOURCE_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("resources")
    with op.batch_alter_table("custom_scope", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_custom_scope_resource_id_api_resource"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_custom_scope_resource_id"))
        batch_op.drop_column("resource_id")
    op.drop_table("client_api_resource")
    op.drop_table("api_resource")

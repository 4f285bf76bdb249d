"""Profile claims (given and family name, locale, zoneinfo) for the account pages and the profile scope.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 23:30:22.868162

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


COLUMNS = ("given_name", "family_name", "locale", "zoneinfo")


def upgrade():
    # Plain ADD COLUMN (SQLite supports it with a constant default): a batch rebuild of "user"
    # would drop its expression index on lower(email).
    op.add_column("user", sa.Column("given_name", sa.String(length=100), server_default="", nullable=False))
    op.add_column("user", sa.Column("family_name", sa.String(length=100), server_default="", nullable=False))
    op.add_column(
        "user", sa.Column("locale", sa.String(length=35), server_default="", nullable=False, comment="BCP 47 tag, e.g. en-GB")
    )
    op.add_column(
        "user",
        sa.Column("zoneinfo", sa.String(length=64), server_default="", nullable=False, comment="IANA zone, e.g. Europe/Paris"),
    )


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
    if op.get_context().dialect.name == "sqlite":
        # SQLite's batch mode rebuilt the table without the expression index; put it back.
        op.create_index("uq_user_email_lower", "user", [sa.text("lower(email)")], unique=True)

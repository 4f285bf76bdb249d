"""SQLite: rebuild "user" with AUTOINCREMENT so a deleted account's id (its OIDC sub) is never reused.

PostgreSQL needs nothing: its sequences never hand out an id twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:58:00

"""

import warnings

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EXPRESSION_INDEX = "uq_user_email_lower"


def _rebuild_user_table(*, autoincrement: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    # migrations/env.py turns foreign keys off for SQLite, so dropping the old table cascades nowhere.
    with warnings.catch_warnings():
        # Reflection can't read the expression index and says so; it is recreated just below.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table("user", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass
    # The copy does not carry the expression index; put it back.
    op.create_index(EXPRESSION_INDEX, "user", [sa.text("lower(email)")], unique=True)


def upgrade():
    _rebuild_user_table(autoincrement=True)


def downgrade():
    _rebuild_user_table(autoincrement=False)

"""Clients store their application_type (web or native, OIDC Dynamic Client Registration 2).

Before this revision the type was guessed from the redirect URIs each time, and every client's
loopback redirect could use any port. Existing clients are backfilled the way they behaved: native
when a redirect URI uses a private-use scheme or http on a loopback host (so a loopback port keeps
varying for them, RFC 8252 7.3), web otherwise.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:40:00.000000

"""

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COMMENT = "web or native"
_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}

# The table as it is at this revision (never the app's model, which moves on).
_client = sa.table(
    "oauth_client",
    sa.column("id", sa.Integer),
    sa.column("redirect_uris", sa.JSON),  # decoded in Python: JSON operators differ between SQLite and PostgreSQL
    sa.column("application_type", sa.String),
)


def _is_native_uri(uri: object) -> bool:
    if not isinstance(uri, str):
        return False
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:  # a malformed stored URI (bad port or brackets) decides nothing
        return False
    scheme = parts.scheme.lower()
    return scheme not in {"http", "https", ""} or (scheme == "http" and host in _LOOPBACK_HOSTS)


def upgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("application_type", sa.String(length=8), server_default="web", nullable=False, comment=COMMENT)
        )
    connection = op.get_bind()
    native = [
        row.id
        for row in connection.execute(sa.select(_client.c.id, _client.c.redirect_uris))
        if isinstance(row.redirect_uris, list) and any(_is_native_uri(uri) for uri in row.redirect_uris)
    ]
    if native:
        connection.execute(sa.update(_client).where(_client.c.id.in_(native)).values(application_type="native"))


def downgrade():
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("application_type")

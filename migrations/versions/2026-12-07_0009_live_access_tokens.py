"""Live person access tokens: the list "revoke everything" reads, instead of the audit log.

The table is filled with every person's access token that may still be live, so that nothing issued
before this upgrade escapes a later "revoke everything": from the authorization codes and refresh
tokens (which name the access token issued beside them) and, for tokens that left no such row (a code
or device approval without offline access), from the recent ``oauth.token_issued`` audit events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:12:40.118342

"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "oauth_live_access_token"
# How long an access token named only by an issuance event may still be live. The lifetime then in force
# is not recorded anywhere (ACCESS_TOKEN_SECONDS, 600 by default, may have changed since), so an hour is
# taken as an upper bound, or the configured lifetime when the app running the migration has a longer one.
# Erring long is safe: the row (and a deny-list entry made from it) only outlives its token until pruned.
MIN_AUDIT_TOKEN_LIFETIME = timedelta(hours=1)

# What the backfill reads and writes, as it is at this revision (never the app's models, which move on).
_user = sa.table("user", sa.column("id", sa.Integer))
_client = sa.table("oauth_client", sa.column("id", sa.Integer), sa.column("client_id", sa.String))
_code = sa.table(
    "oauth_authorization_code",
    sa.column("user_id", sa.Integer),
    sa.column("client_id", sa.Integer),
    sa.column("session_id", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("used_at", sa.DateTime),
    sa.column("access_token_jti", sa.String),
    sa.column("access_token_expires_at", sa.DateTime),
)
_refresh = sa.table(
    "oauth_refresh_token",
    sa.column("user_id", sa.Integer),
    sa.column("client_id", sa.Integer),
    sa.column("session_id", sa.String),
    sa.column("issued_at", sa.DateTime),
    sa.column("access_token_jti", sa.String),
    sa.column("access_token_expires_at", sa.DateTime),
)
_audit = sa.table(
    "audit_event",
    sa.column("created_at", sa.DateTime),
    sa.column("event_type", sa.String),
    sa.column("subject_user_id", sa.Integer),
    sa.column("details", sa.JSON),  # decoded in Python: JSON operators differ between SQLite and PostgreSQL
)
_live = sa.table(
    TABLE,
    sa.column("jti", sa.String),
    sa.column("user_id", sa.Integer),
    sa.column("client_id", sa.Integer),
    sa.column("session_id", sa.String),
    sa.column("issued_at", sa.DateTime),
    sa.column("expires_at", sa.DateTime),
)


def upgrade():
    op.create_table(
        TABLE,
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True, comment="the UserSession it was issued in, if any (sid)"),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, comment="the token's exp: pruned after it"),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_oauth_live_access_token_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_oauth_live_access_token_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_live_access_token")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_live_access_token_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_live_access_token_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_live_access_token_user_id"), ["user_id"], unique=False)

    _backfill(op.get_bind())


def downgrade():
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_live_access_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_live_access_token_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oauth_live_access_token_client_id"))

    op.drop_table(TABLE)


def _audit_token_lifetime() -> timedelta:
    configured = current_app.config.get("ACCESS_TOKEN_TTL") if has_app_context() else None
    return max(MIN_AUDIT_TOKEN_LIFETIME, timedelta(seconds=configured if isinstance(configured, int) else 0))


def _backfill(bind: sa.Connection) -> None:
    """One row per person access token that may still be live; the first source naming a jti wins."""
    now = datetime.now(UTC).replace(tzinfo=None)  # the columns hold naive UTC
    lifetime = _audit_token_lifetime()
    rows: dict[str, dict] = {}

    def keep(jti, user_id, client_id, session_id, issued_at, expires_at) -> None:
        if isinstance(jti, str) and 0 < len(jti) <= 64 and expires_at > now and jti not in rows:
            rows[jti] = {
                "jti": jti,
                "user_id": user_id,
                "client_id": client_id,
                "session_id": session_id,
                "issued_at": issued_at,
                "expires_at": expires_at,
            }

    # Codes and refresh tokens carry the exact expiry and the session; inner joins skip any orphan.
    codes = (
        sa.select(
            _code.c.access_token_jti,
            _code.c.user_id,
            _code.c.client_id,
            _code.c.session_id,
            sa.func.coalesce(_code.c.used_at, _code.c.created_at),  # redeemed: when the token was issued
            _code.c.access_token_expires_at,
        )
        .join(_user, _user.c.id == _code.c.user_id)
        .join(_client, _client.c.id == _code.c.client_id)
        .where(_code.c.access_token_jti.is_not(None), _code.c.access_token_expires_at > now)
    )
    refreshes = (
        sa.select(
            _refresh.c.access_token_jti,
            _refresh.c.user_id,
            _refresh.c.client_id,
            _refresh.c.session_id,
            _refresh.c.issued_at,
            _refresh.c.access_token_expires_at,
        )
        .join(_user, _user.c.id == _refresh.c.user_id)
        .join(_client, _client.c.id == _refresh.c.client_id)
        .where(_refresh.c.access_token_jti.is_not(None), _refresh.c.access_token_expires_at > now)
    )
    for query in (codes, refreshes):
        for row in bind.execute(query):
            keep(*row)

    # What only the audit log names: it records the client by its public id, mapped to the row id here.
    events = bind.execute(
        sa.select(_audit.c.subject_user_id, _audit.c.details, _audit.c.created_at)
        .join(_user, _user.c.id == _audit.c.subject_user_id)
        .where(_audit.c.event_type == "oauth.token_issued", _audit.c.created_at > now - lifetime)
    ).all()

    def public_id(details) -> str | None:
        value = details.get("client_id") if isinstance(details, dict) else None
        return value if isinstance(value, str) else None

    public_ids = {public_id(details) for _, details, _ in events} - {None}
    clients = dict(bind.execute(sa.select(_client.c.client_id, _client.c.id).where(_client.c.client_id.in_(public_ids))).all())
    for user_id, details, created_at in events:
        client_id = clients.get(public_id(details))
        if client_id is not None:
            keep(details.get("jti"), user_id, client_id, None, created_at, created_at + lifetime)

    if rows:
        bind.execute(sa.insert(_live), list(rows.values()))

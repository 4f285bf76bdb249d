"""OAuth 2.1 / OIDC: clients, authorization codes, refresh tokens, the access-token deny-list,
consents, device codes, machine-token counters and signing keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:04:36.333238

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column(
            "client_secret_digest",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 of the secret; a high-entropy secret needs no slow hash",
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("logo_uri", sa.String(length=500), nullable=True),
        sa.Column("tos_uri", sa.String(length=500), nullable=True),
        sa.Column("policy_uri", sa.String(length=500), nullable=True),
        sa.Column("is_confidential", sa.Boolean(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False, comment="compared byte for byte"),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("response_types", sa.JSON(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False, comment="space-separated scopes the client may ask for"),
        sa.Column("jwks", sa.JSON(), nullable=True, comment="public keys for private_key_jwt"),
        sa.Column("is_first_party", sa.Boolean(), nullable=False, comment="skips the consent page"),
        sa.Column("is_disabled", sa.Boolean(), nullable=False),
        sa.Column(
            "allow_plain_code_flow",
            sa.Boolean(),
            nullable=False,
            comment="confidential clients only: PKCE may be omitted (never for public clients)",
        ),
        sa.Column("registration_token_digest", sa.String(length=64), nullable=True, comment="RFC 7592 access token digest"),
        sa.Column("is_dynamically_registered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_client_client_id")),
    )
    op.create_table(
        "oauth_revoked_access_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_revoked_access_token")),
    )
    with op.batch_alter_table("oauth_revoked_access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_revoked_access_token_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False, comment="RS256 or ES256"),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False, comment="v1:<base64 nonce+AES-GCM ciphertext of PEM>"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True, comment="no longer signs; published until its tokens expire"),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )
    op.create_table(
        "oauth_authorization_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True, comment="the UserSession that approved it (sid)"),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=False, comment="when the person last authenticated"),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("access_token_jti", sa.String(length=64), nullable=True, comment="first redemption's access token"),
        sa.Column("access_token_expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_authorization_code_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_oauth_authorization_code_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_authorization_code")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_oauth_authorization_code_code_digest")),
    )
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_authorization_code_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_authorization_code_user_id"), ["user_id"], unique=False)

    op.create_table(
        "oauth_client_credentials_usage",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_client_credentials_usage_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "minute", name=op.f("pk_oauth_client_credentials_usage")),
    )
    op.create_table(
        "oauth_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_oauth_consent_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_oauth_consent_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_consent")),
        sa.UniqueConstraint("user_id", "client_id", name="uq_oauth_consent_user_client"),
    )
    with op.batch_alter_table("oauth_consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_consent_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_consent_user_id"), ["user_id"], unique=False)

    op.create_table(
        "oauth_device_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_code_digest", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=8), nullable=False, comment="normalized: 8 letters, no dash"),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "denied", "redeemed", name="devicecodestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_oauth_device_code_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_oauth_device_code_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_device_code")),
        sa.UniqueConstraint("device_code_digest", name=op.f("uq_oauth_device_code_device_code_digest")),
        sa.UniqueConstraint("user_code", name=op.f("uq_oauth_device_code_user_code")),
    )
    with op.batch_alter_table("oauth_device_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_device_code_client_id"), ["client_id"], unique=False)

    op.create_table(
        "oauth_refresh_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("authorization_code_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, comment="absolute end of the family"),
        sa.Column("used_at", sa.DateTime(), nullable=True, comment="rotated: a second use is a replay"),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("access_token_jti", sa.String(length=64), nullable=True, comment="access token issued beside it"),
        sa.Column("access_token_expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_code_id"],
            ["oauth_authorization_code.id"],
            name=op.f("fk_oauth_refresh_token_authorization_code_id_oauth_authorization_code"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["oauth_client.id"], name=op.f("fk_oauth_refresh_token_client_id_oauth_client"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["oauth_refresh_token.id"],
            name=op.f("fk_oauth_refresh_token_parent_id_oauth_refresh_token"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_oauth_refresh_token_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_refresh_token")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_oauth_refresh_token_token_digest")),
    )
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_authorization_code_id"), ["authorization_code_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_refresh_token_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_session_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_family_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_client_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_authorization_code_id"))

    op.drop_table("oauth_refresh_token")
    with op.batch_alter_table("oauth_device_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_device_code_client_id"))

    op.drop_table("oauth_device_code")
    with op.batch_alter_table("oauth_consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_consent_user_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_consent_client_id"))

    op.drop_table("oauth_consent")
    op.drop_table("oauth_client_credentials_usage")
    with op.batch_alter_table("oauth_authorization_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_code_user_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_authorization_code_client_id"))

    op.drop_table("oauth_authorization_code")
    op.drop_table("signing_key")
    with op.batch_alter_table("oauth_revoked_access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_revoked_access_token_expires_at"))

    op.drop_table("oauth_revoked_access_token")
    op.drop_table("oauth_client")

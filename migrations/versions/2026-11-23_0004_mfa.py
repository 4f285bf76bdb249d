"""MFA: TOTP seeds, recovery codes, WebAuthn credentials and challenges, phones and SMS codes; pending sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 22:49:13.878057

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mfa_phone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "verified_at",
            sa.DateTime(),
            nullable=True,
            comment="set when a code sent to the number came back; unverified numbers are not a factor",
        ),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_mfa_phone_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_phone")),
        sa.UniqueConstraint("user_id", name=op.f("uq_mfa_phone_user_id")),
    )
    op.create_table(
        "mfa_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False, comment="SHA-256 of the normalised code"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_mfa_recovery_code_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_recovery_code")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_mfa_recovery_code_code_digest")),
    )
    with op.batch_alter_table("mfa_recovery_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mfa_recovery_code_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mfa_sms_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False, comment="enrol or signin"),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_mfa_sms_code_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_sms_code")),
    )
    with op.batch_alter_table("mfa_sms_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mfa_sms_code_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mfa_sms_code_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mfa_totp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "secret_encrypted", sa.String(length=255), nullable=False, comment="base32 seed, AES-GCM sealed (app.core.crypto)"
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "confirmed_at",
            sa.DateTime(),
            nullable=True,
            comment="set when the person entered a valid code; unconfirmed seeds are not a factor",
        ),
        sa.Column("last_used_step", sa.Integer(), nullable=True, comment="RFC 6238 time step last accepted (replay guard)"),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_mfa_totp_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_totp")),
        sa.UniqueConstraint("user_id", name=op.f("uq_mfa_totp_user_id")),
    )
    op.create_table(
        "mfa_webauthn_challenge",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False, comment="register, authenticate or passkey"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_mfa_webauthn_challenge_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_webauthn_challenge")),
    )
    with op.batch_alter_table("mfa_webauthn_challenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mfa_webauthn_challenge_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mfa_webauthn_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False, comment="base64url credential id"),
        sa.Column("public_key", sa.LargeBinary(), nullable=False, comment="COSE public key"),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "is_passkey", sa.Boolean(), nullable=False, comment="discoverable and user-verifying: may sign in without a password"
        ),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_mfa_webauthn_credential_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_webauthn_credential")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_mfa_webauthn_credential_credential_id")),
    )
    with op.batch_alter_table("mfa_webauthn_credential", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mfa_webauthn_credential_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pending",
                sa.String(length=16),
                nullable=True,
                comment="None: signed in. 'mfa': password checked, second factor owed. 'enrol': a factor must be set up first",
            )
        )


def downgrade():
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("pending")

    with op.batch_alter_table("mfa_webauthn_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mfa_webauthn_credential_user_id"))

    op.drop_table("mfa_webauthn_credential")
    with op.batch_alter_table("mfa_webauthn_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mfa_webauthn_challenge_user_id"))

    op.drop_table("mfa_webauthn_challenge")
    op.drop_table("mfa_totp")
    with op.batch_alter_table("mfa_sms_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mfa_sms_code_user_id"))
        batch_op.drop_index(batch_op.f("ix_mfa_sms_code_created_at"))

    op.drop_table("mfa_sms_code")
    with op.batch_alter_table("mfa_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mfa_recovery_code_user_id"))

    op.drop_table("mfa_recovery_code")
    op.drop_table("mfa_phone")

"""All models, imported here so Alembic and the app see one metadata."""

from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.email_token import EmailToken, EmailTokenPurpose
from app.models.session import UserSession
from app.models.user import User

__all__ = ["AuditEvent", "Base", "EmailToken", "EmailTokenPurpose", "User", "UserSession"]

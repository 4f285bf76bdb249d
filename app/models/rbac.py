"""Roles and groups: a person's effective roles are their own plus their groups'; custom scopes.

The built-in "admin" role is the `User.is_admin` flag (it guards the console and needs MFA);
these tables hold the roles an operator defines for relying parties.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow
from app.models.user import User

user_roles = Table(
    "user_role",
    Base.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)

group_members = Table(
    "group_member",
    Base.metadata,
    Column("group_id", ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
)

group_roles = Table(
    "group_role",
    Base.metadata,
    Column("group_id", ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)


class Role(Base):
    __tablename__ = "role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, comment="as delivered in the roles claim")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(secondary=user_roles, order_by=User.email)


class Group(Base):
    __tablename__ = "user_group"  # "group" is an SQL keyword

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(secondary=group_members, order_by=User.email)
    roles: Mapped[list[Role]] = relationship(secondary=group_roles, order_by=Role.name)


class CustomScope(Base):
    """A scope an operator defines for their APIs, with the words the consent page shows for it."""

    __tablename__ = "custom_scope"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_resource.id", ondelete="CASCADE"), index=True, comment="the API it belongs to, if any"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resource = relationship("ApiResource", back_populates="scopes")

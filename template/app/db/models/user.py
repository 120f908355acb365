"""Users: e-mail is stored normalized (lower case), which makes its uniqueness case-insensitive."""

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    # The owner followed a link mailed to the address (or was made by create_superuser).
    is_verified: Mapped[bool] = mapped_column(default=False, server_default=false())

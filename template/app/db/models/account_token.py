"""Account tokens: the single-use tokens mailed to a user (a password reset, an e-mail
verification), each kept only as a hash.

One row per user and purpose at most: a newer token replaces the older, and using one removes
it, so a link stops working once it is used or overtaken.
"""

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime

TokenPurpose = Literal["password_reset", "email_verification"]


class AccountToken(Base):
    __tablename__ = "account_tokens"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

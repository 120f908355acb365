"""Text a request may carry: what the database and the UTF-8 encoders behind it can take."""

from typing import Annotated

from pydantic import AfterValidator


def storable_text(value: str) -> str:
    """Refuse NUL characters, which PostgreSQL cannot store, and lone surrogates.

    JSON's `\\ud800` decodes to a lone surrogate, which no UTF-8 encoder (the database driver's,
    the password hasher's) accepts: left through, either would be a 500 deep down.
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(storable_text)]

"""Secrets, password hashing and access tokens."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_JWT_SECRET
from app.core.security import InvalidTokenError, Security, hash_token
from tests.conftest import SettingsFactory


@pytest.mark.parametrize(("algorithm", "length"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_the_secret_is_at_least_as_long_as_the_hash(
    settings_factory: SettingsFactory, algorithm: str, length: int
) -> None:
    with pytest.raises(ValidationError, match=f"at least {length} bytes"):
        settings_factory(jwt_algorithm=algorithm, jwt_secret="x" * (length - 1))

    assert settings_factory(jwt_algorithm=algorithm, jwt_secret="x" * length)


def test_production_refuses_the_default_secret(settings_factory: SettingsFactory) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        settings_factory(environment="production", jwt_secret=DEFAULT_JWT_SECRET)


def test_an_access_token_names_its_user(settings_factory: SettingsFactory) -> None:
    security = Security(settings_factory())

    assert security.user_id_from_access_token(security.create_access_token(42)) == 42


def test_an_expired_token_is_invalid(settings_factory: SettingsFactory) -> None:
    security = Security(settings_factory(access_token_minutes=1))
    token = security.create_access_token(42, now=datetime.now(UTC) - timedelta(minutes=2))

    with pytest.raises(InvalidTokenError, match="expired"):
        security.user_id_from_access_token(token)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens PyJWT decodes during the test, in order."""
    tokens: list[str] = []
    decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        tokens.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    return tokens


def test_a_token_is_verified_once_and_still_expires_on_time(
    settings_factory: SettingsFactory, decoded: list[str]
) -> None:
    security = Security(settings_factory(access_token_minutes=1))
    token = security.create_access_token(42)

    assert security.user_id_from_access_token(token) == 42
    assert security.user_id_from_access_token(token) == 42
    assert decoded == [token]
    with pytest.raises(InvalidTokenError, match="expired"):
        security.user_id_from_access_token(token, now=time.time() + 61)


def test_a_token_that_failed_is_checked_again(
    settings_factory: SettingsFactory, decoded: list[str]
) -> None:
    security = Security(settings_factory())
    signed, signature = security.create_access_token(42).rsplit(".", 1)
    forged = f"{signed}.{'B' if signature.startswith('A') else 'A'}{signature[1:]}"

    for _ in range(2):
        with pytest.raises(InvalidTokenError, match="Signature verification failed"):
            security.user_id_from_access_token(forged)
    assert decoded == [forged, forged]


def test_a_token_from_another_issuer_is_invalid(settings_factory: SettingsFactory) -> None:
    issued = Security(settings_factory(jwt_issuer="someone-else")).create_access_token(42)

    with pytest.raises(InvalidTokenError):
        Security(settings_factory()).user_id_from_access_token(issued)


def test_passwords_hash_with_argon2_and_verify(settings_factory: SettingsFactory) -> None:
    security = Security(settings_factory())

    password_hash = security.hash_password("correct horse battery")

    assert password_hash.startswith("$argon2id$")
    assert security.verify_password("correct horse battery", password_hash) == (True, None)
    assert security.verify_password("wrong", password_hash)[0] is False


def test_the_argon2_cost_comes_from_settings(settings_factory: SettingsFactory) -> None:
    security = Security(settings_factory(argon2_time_cost=2, argon2_memory_cost=16))

    assert "m=16,t=2,p=1" in security.hash_password("correct horse battery")


def test_refresh_tokens_are_random_and_stored_only_as_a_hash(
    settings_factory: SettingsFactory,
) -> None:
    security = Security(settings_factory())

    first, second = security.issue_refresh_token(), security.issue_refresh_token()

    assert first.token != second.token
    assert first.token_hash == hash_token(first.token)
    assert first.token not in first.token_hash

"""E-mail verification, through a real SMTP server: the mail sent at sign-up, its link, a new
link on request, every way a token stops working, and the login it can be made to gate."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from app.api.deps import AccountEmailServiceDep
from app.core.errors import ConflictError
from app.main import create_app
from tests.conftest import SettingsFactory
from tests.support.accounts import PASSWORD, bearer, sign_up
from tests.support.smtp_server import Mailbox

AUTH = "/api/v1/auth"
LINK = re.compile(r"http://localhost:3000/verify-email\?token=([A-Za-z0-9_-]+)")

Deliver = Callable[[], Awaitable[None]]


def verifications(mailbox: Mailbox) -> list[EmailMessage]:
    """The verification mails the server received, oldest first."""
    return [mail for mail in mailbox.messages if mail["Subject"].startswith("Confirm your ")]


def token_of(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(1)


async def verify(client: AsyncClient, token: str) -> Response:
    return await client.post(f"{AUTH}/verify-email", json={"token": token})


async def resend(client: AsyncClient, email: str, deliver_mail: Deliver) -> Response:
    response = await client.post(f"{AUTH}/verify-email/resend", json={"email": email})
    await deliver_mail()
    return response


def assert_refused(response: Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "urn:problem:account-token-refused"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def is_verified(client: AsyncClient, tokens: dict[str, Any]) -> bool:
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    verified: bool = me.json()["is_verified"]
    return verified


async def test_sign_up_mails_a_link_that_verifies_the_address(
    client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    tokens = await sign_up(client, "ada@example.com")
    await deliver_mail()

    (mail,) = verifications(mailbox)
    assert mail["To"] == "ada@example.com"
    html = mail.get_body(("html",))
    assert html is not None
    assert f"verify-email?token={token_of(mail)}" in html.get_content()
    assert not await is_verified(client, tokens)
    verified = await verify(client, token_of(mail))
    assert verified.status_code == 204, verified.text
    assert await is_verified(client, tokens)


async def test_every_token_that_does_not_work_gets_the_same_answer(
    client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    await sign_up(client, "ada@example.com")
    await sign_up(client, "bob@example.com")
    await deliver_mail()
    used, expiring = (token_of(mail) for mail in verifications(mailbox))
    assert (await verify(client, used)).status_code == 204

    again = assert_refused(await verify(client, used))
    unknown = assert_refused(await verify(client, "not-a-token-we-ever-sent"))
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=49)):
        expired = assert_refused(await verify(client, expiring))

    assert again["detail"] == unknown["detail"] == expired["detail"]


async def test_a_new_link_outdates_the_older(
    client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    await sign_up(client, "ada@example.com")

    assert (await resend(client, "ada@example.com", deliver_mail)).status_code == 202

    older, newer = (token_of(mail) for mail in verifications(mailbox))
    assert_refused(await verify(client, older))
    assert (await verify(client, newer)).status_code == 204


async def test_asking_again_tells_nothing_about_the_address(
    client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    await sign_up(client, "ada@example.com")
    await sign_up(client, "done@example.com")
    await deliver_mail()
    done = next(mail for mail in verifications(mailbox) if mail["To"] == "done@example.com")
    assert (await verify(client, token_of(done))).status_code == 204
    mailbox.messages.clear()

    answers = [
        await resend(client, email, deliver_mail)
        for email in ("ada@example.com", "done@example.com", "nobody@example.com")
    ]

    assert len({(answer.status_code, answer.text) for answer in answers}) == 1
    assert answers[0].status_code == 202
    # Only the address still to verify gets a mail.
    assert [mail["To"] for mail in mailbox.messages] == ["ada@example.com"]


async def test_a_password_reset_verifies_the_address(
    client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    tokens = await sign_up(client, "ada@example.com")
    await client.post(f"{AUTH}/password-reset", json={"email": "ada@example.com"})
    await deliver_mail()
    reset = next(mail for mail in mailbox.messages if mail["Subject"].startswith("Reset your "))
    body = reset.get_body(("plain",))
    assert body is not None
    found = re.search(r"token=([A-Za-z0-9_-]+)", body.get_content())
    assert found

    confirmed = await client.post(
        f"{AUTH}/password-reset/confirm",
        json={"token": found.group(1), "new_password": "a brand new passphrase"},
    )

    assert confirmed.status_code == 204, confirmed.text
    login = await client.post(
        f"{AUTH}/login", json={"email": "ada@example.com", "password": "a brand new passphrase"}
    )
    assert await is_verified(client, login.json())
    assert tokens["refresh_token"] != login.json()["refresh_token"]


@pytest.fixture
async def strict_client(
    settings_factory: SettingsFactory, on_test_transaction: Callable[[FastAPI], None]
) -> AsyncIterator[AsyncClient]:
    """A client of an app with EMAIL_VERIFICATION_REQUIRED on."""
    app = create_app(settings_factory(email_verification_required=True))
    async with app.router.lifespan_context(app):
        on_test_transaction(app)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client


async def test_a_required_verification_refuses_login_until_the_address_is_verified(
    strict_client: AsyncClient, mailbox: Mailbox, deliver_mail: Deliver
) -> None:
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    registered = await strict_client.post(f"{AUTH}/register", json=credentials)
    assert registered.status_code == 201, registered.text
    await deliver_mail()

    refused = await strict_client.post(f"{AUTH}/login", json=credentials)
    form = {"username": "ada@example.com", "password": PASSWORD}
    refused_form = await strict_client.post(f"{AUTH}/token", data=form)
    wrong = await strict_client.post(
        f"{AUTH}/login", json={"email": "ada@example.com", "password": "wrong password"}
    )

    for response in (refused, refused_form):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "not verified" in response.json()["detail"]
    # The verification is named only to the holder of the right password.
    assert wrong.status_code == 401
    (mail,) = verifications(mailbox)
    assert (await verify(strict_client, token_of(mail))).status_code == 204
    assert (await strict_client.post(f"{AUTH}/login", json=credentials)).status_code == 200


async def test_a_request_that_fails_after_handing_over_a_mail_sends_none(
    settings_factory: SettingsFactory,
    on_test_transaction: Callable[[FastAPI], None],
    mailbox: Mailbox,
    deliver_mail: Deliver,
) -> None:
    app = create_app(settings_factory())

    @app.post("/test/mail-then-fail")
    async def mail_then_fail(account_email: AccountEmailServiceDep) -> None:
        await account_email.resend_verification("ada@example.com")
        raise ConflictError("the write fails after the mail was handed over")

    async with app.router.lifespan_context(app):
        on_test_transaction(app)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            await sign_up(client, "ada@example.com")
            await deliver_mail()
            mailbox.messages.clear()
            failed = await client.post("/test/mail-then-fail")
            await deliver_mail()

    assert failed.status_code == 409
    assert mailbox.messages == []

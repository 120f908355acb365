"""Password reset by e-mail, through a real SMTP server: the mail, its link, and every way a
token stops working."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from httpx import AsyncClient, Response

from tests.conftest import log_events
from tests.support.accounts import PASSWORD, bearer, sign_up
from tests.support.smtp_server import Mailbox

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"http://localhost:3000/reset-password\?token=([A-Za-z0-9_-]+)")


async def ask_reset(client: AsyncClient, email: str) -> Response:
    return await client.post(f"{AUTH}/password-reset", json={"email": email})


async def confirm(client: AsyncClient, token: str, password: str = NEW_PASSWORD) -> Response:
    return await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": password}
    )


def token_of(mailbox: Mailbox, index: int = -1) -> str:
    """The token in the link of a mail the server received (the last one by default)."""
    body = mailbox.messages[index].get_body(("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(1)


async def logs_in(client: AsyncClient, email: str, password: str) -> bool:
    response = await client.post(f"{AUTH}/login", json={"email": email, "password": password})
    assert response.status_code in {200, 401}, response.text
    return response.status_code == 200


def assert_refused(response: Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "urn:problem:reset-token-refused"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_the_mail_carries_a_link_that_sets_a_new_password(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    await sign_up(client, "ada@example.com")

    asked = await ask_reset(client, "ADA@example.com")

    assert asked.status_code == 202
    (mail,) = mailbox.messages
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"].startswith("Reset your ")
    token = token_of(mailbox)
    html = mail.get_body(("html",))
    assert html is not None
    assert f"reset-password?token={token}" in html.get_content()
    confirmed = await confirm(client, token)
    assert confirmed.status_code == 204, confirmed.text
    assert await logs_in(client, "ada@example.com", NEW_PASSWORD)
    assert not await logs_in(client, "ada@example.com", PASSWORD)


async def test_the_answer_does_not_tell_whether_the_address_has_an_account(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    await sign_up(client, "ada@example.com")

    known = await ask_reset(client, "ada@example.com")
    unknown = await ask_reset(client, "nobody@example.com")

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.headers.keys() - {"x-request-id"} == unknown.headers.keys() - {"x-request-id"}
    assert [mail["To"] for mail in mailbox.messages] == ["ada@example.com"]


async def test_a_reset_ends_every_session_of_the_old_password(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")

    assert (await confirm(client, token_of(mailbox))).status_code == 204

    refreshed = await client.post(
        f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_every_token_that_does_not_work_gets_the_same_answer(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")
    used = token_of(mailbox)
    assert (await confirm(client, used)).status_code == 204
    await ask_reset(client, "ada@example.com")
    expiring = token_of(mailbox)

    again = assert_refused(await confirm(client, used))
    unknown = assert_refused(await confirm(client, "not-a-token-we-ever-sent"))
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31)):
        expired = assert_refused(await confirm(client, expiring))

    assert again["detail"] == unknown["detail"] == expired["detail"]
    assert await logs_in(client, "ada@example.com", NEW_PASSWORD)


async def test_a_token_works_until_it_expires(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=29)):
        assert (await confirm(client, token_of(mailbox))).status_code == 204


async def test_a_newer_reset_outdates_the_older_link(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")
    older, newer = token_of(mailbox, 0), token_of(mailbox, 1)

    assert_refused(await confirm(client, older))
    assert (await confirm(client, newer)).status_code == 204


async def test_a_password_change_outdates_a_reset_link(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    tokens = await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")
    changed = await client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "changed by its owner"},
        headers=bearer(tokens),
    )
    assert changed.status_code == 204, changed.text

    assert_refused(await confirm(client, token_of(mailbox)))
    assert await logs_in(client, "ada@example.com", "changed by its owner")


async def test_the_new_password_follows_the_policy(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up(client, "ada@example.com")
    await ask_reset(client, "ada@example.com")

    refused = await confirm(client, token_of(mailbox), password="short")

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "new_password"]
    # The token was not used up by a refused password.
    assert (await confirm(client, token_of(mailbox))).status_code == 204


async def test_a_mail_the_server_refuses_for_a_while_goes_on_a_retry(
    client: AsyncClient, mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    await sign_up(client, "ada@example.com")
    mailbox.refuse = 2

    assert (await ask_reset(client, "ada@example.com")).status_code == 202

    assert [mail["To"] for mail in mailbox.messages] == ["ada@example.com"]
    retries = [event for event in log_events(capsys) if event["event"] == "retry"]
    assert [event["operation"] for event in retries] == ["mail_send"] * len(retries)
    assert retries


async def test_a_mail_that_cannot_go_is_logged_and_the_request_still_succeeds(
    client: AsyncClient, mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    await sign_up(client, "ada@example.com")
    mailbox.refuse = 100

    asked = await ask_reset(client, "ada@example.com")

    assert asked.status_code == 202
    assert mailbox.messages == []
    (exhausted,) = [e for e in log_events(capsys) if e["event"] == "retries_exhausted"]
    assert exhausted["operation"] == "mail_send"
    assert "token=" not in exhausted["error"]

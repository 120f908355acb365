"""Every error answer is RFC 9457 problem details with the request ID."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from app.main import create_app
from tests.conftest import SettingsFactory

MAX_BODY = 64


class Note(BaseModel):
    text: str


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "request_id"} <= set(body)
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_an_unknown_path_is_a_404_problem(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)

    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nothing-here"


async def test_a_wrong_method_is_a_405_problem(client: AsyncClient) -> None:
    response = await client.delete("/health/live")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


@pytest.fixture
async def notes(settings_factory: SettingsFactory) -> AsyncIterator[AsyncClient]:
    """An app from the real factory with one JSON-body route of its own."""
    app: FastAPI = create_app(settings_factory(max_body_size=MAX_BODY))

    @app.post("/test/notes", status_code=201)
    async def create_note(note: Note) -> Note:
        return note

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.mark.parametrize(
    ("content", "content_type", "status", "type_"),
    [
        (b'{"text": ', "application/json", 400, "urn:problem:malformed-body"),
        (b'{"text": "caf\xe9"}', "application/json", 400, "urn:problem:malformed-body"),
        (b'{"text": "hi"}', "text/plain", 415, "urn:problem:unsupported-media-type"),
        (b'{"text": "hi"}', None, 415, "urn:problem:unsupported-media-type"),
        (b'{"text": "' + b"x" * MAX_BODY + b'"}', "application/json", 413, "about:blank"),
        (b'{"text": 1}', "application/json", 422, "urn:problem:validation"),
    ],
    ids=["not-json", "not-utf-8", "text-plain", "no-content-type", "oversized", "invalid"],
)
async def test_a_malformed_body_is_a_problem_never_a_500(
    notes: AsyncClient, content: bytes, content_type: str | None, status: int, type_: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}

    body = assert_problem(await notes.post("/test/notes", content=content, headers=headers), status)

    assert body["type"] == type_
    assert ("errors" in body) == (status == 422)


async def test_a_well_formed_body_passes(notes: AsyncClient) -> None:
    response = await notes.post("/test/notes", json={"text": "hi"})

    assert response.status_code == 201
    assert response.json() == {"text": "hi"}

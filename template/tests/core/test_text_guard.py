"""Text nothing downstream can take (NUL, lone surrogates) is a 422 before any route runs."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from app.core.text_guard import has_unstorable_escape
from app.main import create_app
from tests.conftest import SettingsFactory

JSON = {"content-type": "application/json"}


class Note(BaseModel):
    """A user's own body: a plain `str`, no special type."""

    title: str


@pytest.fixture
async def probe(settings_factory: SettingsFactory) -> AsyncIterator[tuple[AsyncClient, list[str]]]:
    """An app from the real factory with a route of its own; the list holds what reached it."""
    app: FastAPI = create_app(settings_factory())
    reached: list[str] = []

    async def dependency() -> None:
        reached.append("dependency")

    @app.post("/test/notes")
    async def create_note(note: Note, _: Annotated[None, Depends(dependency)]) -> Note:
        reached.append(note.title)
        return note

    @app.get("/test/notes")
    async def find_notes(title: str) -> dict[str, str]:
        reached.append(title)
        return {"title": title}

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, reached


def assert_validation_problem(response: Any, location: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:problem:validation"
    assert body["request_id"] == response.headers["x-request-id"]
    assert [error["loc"] for error in body["errors"]] == [[location]]


@pytest.mark.parametrize(
    "content",
    [
        rb'{"title": "a\u0000b"}',
        rb'{"title": "\ud800"}',
        rb'{"title": "\uDC00 low first"}',
        rb'{"title": "\ud83d"}',
        rb'{"title": "ok", "\ud800": 1}',
        rb'{"title": "\\\u0000"}',
    ],
    ids=["nul", "lone-high", "lone-low", "half-a-pair", "in-a-key", "after-an-escaped-backslash"],
)
async def test_unstorable_text_in_a_json_body_is_a_422_before_the_route(
    probe: tuple[AsyncClient, list[str]], content: bytes
) -> None:
    client, reached = probe

    response = await client.post("/test/notes", content=content, headers=JSON)

    assert_validation_problem(response, "body")
    assert reached == []


@pytest.mark.parametrize(
    ("content", "title"),
    [
        (rb'{"title": "\ud83d\ude00"}', "\U0001f600"),
        (rb'{"title": "\\u0000"}', "\\u0000"),
        (rb'{"title": "caf\u00e9"}', "caf\u00e9"),
    ],
    ids=["surrogate-pair", "escaped-backslash", "plain-escape"],
)
async def test_valid_text_passes(
    probe: tuple[AsyncClient, list[str]], content: bytes, title: str
) -> None:
    client, reached = probe

    response = await client.post("/test/notes", content=content, headers=JSON)

    assert response.status_code == 200, response.text
    assert reached == ["dependency", title]


async def test_a_nul_in_the_query_string_is_a_422(probe: tuple[AsyncClient, list[str]]) -> None:
    client, reached = probe

    response = await client.get("/test/notes?title=a%00b")

    assert_validation_problem(response, "query")
    assert reached == []


def test_an_escape_split_across_chunks_is_found() -> None:
    # The middleware joins a chunked body before it looks, so a split escape is seen whole.
    chunks = [b'{"title": "\\u00', b'00"}']

    assert not any(has_unstorable_escape(chunk) for chunk in chunks)
    assert has_unstorable_escape(b"".join(chunks))

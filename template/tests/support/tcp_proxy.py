"""A TCP proxy to a real server that a test can cut and restore: what talks through it sees the
server go away (its connections reset, new ones refused) and come back, as in an outage. No
fake: the server behind it is the real one."""

import asyncio
from collections.abc import Callable


class CuttableProxy:
    """Listens on a free port of 127.0.0.1 (`port`, once started) and relays each connection to
    `host`:`port` of the server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._lost_request: tuple[bytes, ...] = ()
        self.request_lost = asyncio.Event()

    async def start(self) -> None:
        """Listen (again, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def lose_replies_to(self, *request: bytes) -> None:
        """Until the next cut, on the next connection to send a request that holds every part of
        `request`, drop everything the server answers from then on, and set `request_lost`: the
        reply lost on the way, as when a connection breaks after the server has sent it."""
        self._lost_request = request
        self.request_lost.clear()

    async def cut(self) -> None:
        """Reset every open connection, those still being linked to the server included, and
        refuse new ones; once it returns, nothing more passes."""
        self._lost_request = ()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in self._links:
            writer.transport.abort()
        self._links.clear()
        if server is not None:
            await server.wait_closed()
        # An aborted transport closes its socket at the event loop's next turn.
        await asyncio.sleep(0)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Known before the server's side is open, so that a cut meanwhile resets this one too: a
        # link left out of the cut would carry a reply the outage should have stopped.
        self._links.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._links.discard(writer)
            return
        if self._server is None or writer.transport.is_closing():  # cut meanwhile
            writer.transport.abort()
            upstream_writer.transport.abort()
            self._links.discard(writer)
            return
        links = {writer, upstream_writer}
        self._links |= links
        replies_lost = False

        def sending(request: bytes) -> None:
            nonlocal replies_lost
            lost = self._lost_request
            if lost and not self.request_lost.is_set() and all(part in request for part in lost):
                replies_lost = True
                self.request_lost.set()

        try:
            await asyncio.gather(
                _pipe(reader, upstream_writer, seen=sending),
                _pipe(upstream_reader, writer, dropping=lambda: replies_lost),
                return_exceptions=True,
            )
        finally:
            self._links -= links


async def _pipe(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    seen: Callable[[bytes], None] = lambda data: None,
    dropping: Callable[[], bool] = lambda: False,
) -> None:
    """Copy until the source ends, then end the sink: either side closing closes the link. Each
    piece is `seen` first; what arrives while `dropping()` is true is read and thrown away."""
    try:
        while data := await source.read(65536):
            seen(data)
            if dropping():
                continue
            sink.write(data)
            await sink.drain()
    finally:
        sink.transport.abort()

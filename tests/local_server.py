"""A local HTTP server on an ephemeral 127.0.0.1 port, served in a daemon thread: the lifecycle
shared by the test fakes of Slack, HubSpot and Salesforce."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LocalServer:
    """Subclasses build their server in :meth:`_make_server` and may clean up in
    :meth:`_cleanup`; ``start``/``stop`` (or ``with``) do the rest."""

    #: Used in thread names and error messages.
    server_name = "local-server"
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Called by :meth:`stop` after the server is closed."""

    def start(self) -> Self:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.server_name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (safe to call twice)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if thread is not None:
                thread.join(timeout=5)
        self._cleanup()

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._server.server_address[1])


class RoutingHandler(BaseHTTPRequestHandler):
    """A fake's request handler: quiet (the fakes record what they were asked instead of
    logging it), with GET, POST and PATCH all handed to :meth:`_route`."""

    def log_message(self, format: str, *args) -> None:
        """Quiet: tests read what the fake recorded."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def _route(self, verb: str) -> None:
        raise NotImplementedError

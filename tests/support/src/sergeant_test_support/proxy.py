"""A loopback TCP proxy that can lose a reply: the server ran a call, the client never hears.

A load balancer or NAT dropping a connection, or a server crashing right after
a write, look like this to a client. Tests point a connector at the proxy's
port and ask it to reset the client's connection at a reply instead of
forwarding it.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["ResettingProxy"]


class _Link:
    """One client connection and what its client has sent since the loss was armed."""

    def __init__(self) -> None:
        self.sent = 0


class ResettingProxy:
    """Forwards loopback TCP to ``port``; :meth:`lose_next_reply` makes it reset
    the client's connection when a reply comes back, unforwarded (the client's
    read meets the connection closed)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lost = threading.Event()
        self._lose = threading.Event()
        self._after = 0
        self._links: list[_Link] = []
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_reply(self, after_request_bytes: int = 0) -> None:
        """Lose the next reply on a connection whose client has sent at least
        ``after_request_bytes`` bytes from now on (0: the very next reply).
        Counting per connection keeps a driver's monitoring connection, which
        sends little, from taking the loss meant for a large call."""
        with self._guard:
            for link in self._links:
                link.sent = 0
            self._after = after_request_bytes
        self.lost.clear()
        self._lose.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            link = _Link()
            with self._guard:
                self._links.append(link)
            for source, sink, replies in ((client, server, False), (server, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, sink, replies, link), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool, link: _Link) -> None:
        try:
            while data := source.recv(65536):
                if not replies:
                    with self._guard:
                        link.sent += len(data)
                elif self._lose.is_set() and link.sent >= self._after:
                    self._lose.clear()
                    self.lost.set()  # first: the client's read fails at the shutdown
                    # shutdown, not close: it also wakes the other pump blocked in recv
                    for end in (sink, source):
                        end.shutdown(socket.SHUT_RDWR)
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def close(self) -> None:
        """Accept no more connections (open ones end with their server or client)."""
        self.listener.close()

"""A real TCP relay in front of the loopback sshd: counts connections and can cut them mid-stream."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    """Relays 127.0.0.1:<port> to an upstream port; `cut_after(n)` drops every link after n more bytes upstream."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.accepted = 0
        self._budget: int | None = None
        self._lock = threading.Lock()
        self._links: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, nbytes: int) -> None:
        """Cut all links once `nbytes` more bytes have gone from the client to the server."""
        with self._lock:
            self._budget = nbytes

    def close(self) -> None:
        self._server.close()
        self._cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._links += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while data := src.recv(65536):
                if counted and self._spend(len(data)):
                    self._cut()
                    return
                dst.sendall(data)
        except OSError:
            pass
        self._cut_pair(src, dst)

    def _spend(self, nbytes: int) -> bool:
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= nbytes
            return self._budget <= 0

    def _cut(self) -> None:
        for sock in list(self._links):
            self._cut_pair(sock)

    @staticmethod
    def _cut_pair(*socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

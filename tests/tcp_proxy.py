"""A real TCP relay in front of the loopback sshd: counts connections and bytes, can cut links mid-stream or stop
forwarding (links stay open, nothing moves); and a port that accepts TCP but never speaks, or answers HTTP."""

from __future__ import annotations

import socket
import threading
import time

HTTP_REPLY = b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request"


class TcpProxy:
    """Relays 127.0.0.1:<port> to an upstream port.

    `cut_after(n)` drops every link once n more bytes have gone upstream (all links together);
    `downstream_limit` drops each link on its own once it has carried that many bytes from the server.
    `stall_after(n)` stops forwarding (both ways, links kept open) once n more bytes have gone upstream.
    `upstream_rate` (bytes/s) paces what goes from the client to the server (a slow uplink).
    `upstream_port=None` with `answer=b""`: accepts and never speaks; with `answer=HTTP_REPLY`: a web server.
    """

    def __init__(self, upstream_port: int | None, *, downstream_limit: int | None = None,
                 answer: bytes | None = None, upstream_rate: float | None = None) -> None:
        self.upstream_port = upstream_port
        self.downstream_limit = downstream_limit
        self.upstream_rate = upstream_rate
        self.answer = answer
        self.accepted = 0
        self.downstream_bytes = 0
        self.upstream_bytes = 0
        self._budget: int | None = None
        self._stall: int | None = None
        self.stalled = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._links: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, nbytes: int) -> None:
        """Cut all links once `nbytes` more bytes have gone from the client to the server."""
        with self._lock:
            self._budget = nbytes

    def stall_after(self, nbytes: int) -> None:
        """Stop forwarding anything once `nbytes` more bytes have gone from the client to the server."""
        with self._lock:
            self._stall = nbytes

    def close(self) -> None:
        """Stop relaying: cut every link and refuse new ones (a listening socket only closed would go on
        accepting while its accept thread waits)."""
        self._closed.set()
        self._cut_pair(self._server)
        self._cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            if self.upstream_port is None:
                self._links.append(client)
                threading.Thread(target=self._speak, args=(client,), daemon=True).start()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._links += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        carried = 0
        try:
            while data := src.recv(65536):
                if upstream and self._spend(len(data)):
                    self._cut()
                    return
                if self._stalls(len(data) if upstream else 0):
                    self._closed.wait()  # hold the link open, read nothing, send nothing
                    return
                if upstream and self.upstream_rate:
                    time.sleep(len(data) / self.upstream_rate)
                if not upstream:
                    carried += len(data)
                    with self._lock:
                        self.downstream_bytes += len(data)
                    if self.downstream_limit is not None and carried > self.downstream_limit:
                        break
                dst.sendall(data)
        except OSError:
            pass
        self._cut_pair(src, dst)

    def _speak(self, client: socket.socket) -> None:
        """No upstream: read what the client sends; answer once (HTTP) or never."""
        try:
            while data := client.recv(65536):
                if self.answer:
                    client.sendall(self.answer)
                    break
                del data
        except OSError:
            pass
        if self.answer:
            self._cut_pair(client)

    def _stalls(self, nbytes: int) -> bool:
        """Count upstream bytes; True once the stall budget is spent (for every link, both ways, from then on)."""
        with self._lock:
            self.upstream_bytes += nbytes
            if self._stall is not None and not self.stalled.is_set():
                self._stall -= nbytes
                if self._stall <= 0:
                    self.stalled.set()
            return self.stalled.is_set()

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

"""A raw TCP server that answers HTTP requests badly on purpose, for fault tests.

Where :class:`~loom.testing.FakeLlmServer` speaks correct HTTP, this one writes
bytes by hand: a body without end, garbage, a body cut short, a drip, headers
and then silence. Every connection gets the server's current ``mode``.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Literal, get_args

from loom.testing.fake_server import HOST, bind_socket

RawMode = Literal["no_end", "garbage", "close_mid_body", "drip", "headers_only", "silent"]
RAW_MODES: tuple[str, ...] = get_args(RawMode)
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


class RawHttpServer:
    """``with RawHttpServer("drip") as srv: ... srv.url ... srv.sent``.

    ``sent`` counts the bytes written to clients (all connections), which
    bounds what a client can have read. ``interval``: seconds between drips.
    """

    def __init__(self, mode: RawMode = "no_end", interval: float = 0.05) -> None:
        if mode not in RAW_MODES:
            raise ValueError(f"mode must be one of {RAW_MODES}")
        self.mode: RawMode = mode
        self.interval = interval
        self.sent = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._sock is not None, "the raw server is not started"
        return f"http://{HOST}:{self._sock.getsockname()[1]}/v1"

    def start(self) -> RawHttpServer:
        self._sock = bind_socket(0)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, name="raw-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> RawHttpServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                _read_request(conn)
                self._answer(conn)
                conn.settimeout(0.2)
                while not self._stop.is_set():  # hold the connection: the client must leave
                    try:
                        if not conn.recv(65536):
                            return
                    except TimeoutError:
                        continue
            except OSError:
                return

    def _answer(self, conn: socket.socket) -> None:
        mode = self.mode
        if mode == "silent":
            return
        if mode == "garbage":
            self._send(conn, b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 8)
            conn.shutdown(socket.SHUT_WR)
        elif mode == "headers_only":
            self._send(conn, _HEAD + b"Content-Length: 100\r\n\r\n")
        elif mode == "close_mid_body":
            self._send(conn, _HEAD + b'Content-Length: 1000\r\n\r\n{"choices": [')
            conn.shutdown(socket.SHUT_WR)
        else:
            self._send(conn, _HEAD + b"Connection: close\r\n\r\n{")
            piece = b" " if mode == "drip" else b"x" * 65536
            while not self._stop.is_set():
                self._send(conn, piece)
                if mode == "drip":
                    time.sleep(self.interval)


def _read_request(conn: socket.socket) -> None:
    """Read the headers and the Content-Length body of one request."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("the client left")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("the client left")
        body += chunk
    conn.settimeout(None)

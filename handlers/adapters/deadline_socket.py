"""A socket whose reads and writes share one deadline: used by the bank client and the webhook sender,
whose answers must come within a bound however slowly a peer drips them (a per-call timeout restarts
on every recv())."""

from __future__ import annotations

import io
import socket
import time
from typing import Any


class Deadline:
    """A socket whose reads and writes share one deadline instead of restarting a timeout each time.

    Like socket.socket it defers close() while a reader made by makefile() is open: http.client
    closes a connection that will not be kept alive before the response body has been read.
    """

    def __init__(self, sock: Any, deadline: float) -> None:
        self.raw = sock
        self._deadline = deadline
        self._readers = 0
        self._closing = False

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self.raw.settimeout(remaining)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return int(self.raw.recv_into(buffer, nbytes, flags))

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self.raw.sendall(data, flags)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # called by SocketIO.close()
        self._readers -= 1
        if self._closing and self._readers == 0:
            self.raw.close()

    def close(self) -> None:
        self._closing = True
        if self._readers == 0:
            self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

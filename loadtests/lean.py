"""The lean client: HTTP/1.1 over one gevent socket per user, parsed by httptools (llhttp).

locust's ``FastHttpUser`` spends most of its core in its HTTP client (geventhttpclient: request
objects, header dictionaries, a response object per answer), so against a fast server locust
measured itself.  This client does the least a correct HTTP/1.1 client must do:

* each request is serialised once into bytes (``request_bytes``) and sent with one ``sendall``;
* one connection per user, kept alive; it reconnects when the server closes, as gunicorn's sync
  worker does (``Connection: close``) and wsgiref does (HTTP/1.0), so every server is measured
  with the connection behaviour it chose;
* answers are parsed by llhttp (``httptools``, the parser uvicorn uses), which enforces the framing:
  a body shorter than its Content-Length, or bytes beyond it, or two different Content-Lengths are
  errors, not successes.  The app always sends a Content-Length, so an answer without one fails.

Every request fires locust's ``request`` event exactly like locust's own clients do, so locust's
stats, the lab's HDR histogram listener, ``--rate`` and distributed workers see no difference.
A wrong status or body, a reset, a timeout or a malformed answer is a failure with its reason.
"""

from __future__ import annotations

import socket
import time
import weakref
from urllib.parse import urlsplit

import gevent
import httptools

RECV_BYTES = 256 * 1024
#: The same patience as locust's FastHttpUser (its connection and network timeouts).
TIMEOUT_S = 60.0


class AnswerError(Exception):
    """An answer that is not the app's: wrong status, missing Content-Length, wrong body."""


def request_bytes(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The whole request, serialised once: HTTP/1.1, Host, Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Reply:
    """httptools' protocol object: collects one answer at a time on one connection."""

    __slots__ = ("parts", "length", "headers_done", "done", "keep_alive", "parser")

    def __init__(self):
        self.parser: httptools.HttpResponseParser | None = None
        self.reset()

    def reset(self) -> None:
        self.parts: list[bytes] = []
        self.length: int | None = None
        self.headers_done = self.done = self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 14 and name.lower() == b"content-length":
            self.length = int(value)

    def on_headers_complete(self) -> None:
        """llhttp knows here (not after the body) whether the server keeps the connection open."""
        self.headers_done, self.keep_alive = True, self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class Watchdog:
    """Ends exchanges that outlive their deadline: one greenlet per process looks every
    ``TICK_S`` and closes such a connection, which raises in the greenlet waiting on it.

    A socket timeout would do the same, but gevent then arms a timer around every single wait,
    which costs a fifth of this client's throughput on a fast route.
    """

    TICK_S = 0.5

    def __init__(self):
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.greenlet = None

    def watch(self, connection: Connection) -> None:
        self.connections.add(connection)
        if self.greenlet is None:
            self.greenlet = gevent.spawn(self.run)

    def run(self) -> None:
        while True:
            gevent.sleep(self.TICK_S)
            now = time.monotonic()
            for connection in list(self.connections):
                if connection.deadline is not None and connection.deadline < now:
                    connection.expire()


WATCHDOG = Watchdog()


class Connection:
    """One keep-alive connection to ``host:port``, opened on first use and after every close."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT_S):
        self.address, self.timeout = (host, port), timeout
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock: socket.socket | None = None
        self.reply = Reply()
        self.parser: httptools.HttpResponseParser | None = None
        self.buffer = memoryview(bytearray(RECV_BYTES))  # reused: no allocation per read
        self.deadline: float | None = None  # of the exchange in progress
        self.expired = False
        self.opened = 0  # connections opened so far: one per user with keep-alive
        WATCHDOG.watch(self)

    def open(self) -> None:
        """Connect to the numeric address (no resolver: gevent's would run in a thread pool)."""
        self.sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.opened += 1
        self.sock.connect(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = self.reply.parser = httptools.HttpResponseParser(self.reply)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = self.parser = self.reply.parser = None

    def expire(self) -> None:
        """Called by the watchdog: the waiting greenlet gets an error, reported as a timeout."""
        self.expired = True
        self.close()

    def exchange(self, raw: bytes) -> tuple[int, bytes, int | None]:
        """Send one request, read its whole answer: (status, body, Content-Length or None).

        Any error (reset, timeout, malformed answer) closes the connection and propagates.
        """
        self.deadline, self.expired = time.monotonic() + self.timeout, False
        try:
            if self.sock is None:
                self.open()
            self.reply.reset()
            self.sock.sendall(raw)
            self.read_answer()
        except OSError:
            self.close()
            if self.expired:
                raise TimeoutError(f"no whole answer within {self.timeout:g} s") from None
            raise
        except BaseException:
            self.close()
            raise
        finally:
            self.deadline = None
        reply, status = self.reply, self.parser.get_status_code()
        if not (reply.keep_alive and reply.done):  # told to close, or closed by the server
            self.close()
        return status, b"".join(reply.parts), reply.length

    def read_answer(self) -> None:
        """Feed the parser until the answer is complete; an answer without Content-Length (and not
        chunked) ends when the server closes, as HTTP/1.0 allows."""
        reply, recv_into, feed, buffer = self.reply, self.sock.recv_into, self.parser.feed_data, self.buffer
        while not reply.done:
            size = recv_into(buffer)
            if not size:
                if reply.headers_done and reply.length is None:
                    return
                raise ConnectionResetError("the server closed the connection before a whole answer")
            feed(buffer[:size])


def check(step, status: int, body: bytes, length: int | None) -> None:
    """Raise ``AnswerError`` unless the answer is exactly the app's for ``step``."""
    if status != step.status:
        raise AnswerError(f"status {status}, expected {step.status}")
    if length is None:
        raise AnswerError("answer without Content-Length (the app sends one)")
    if body != step.body:
        raise AnswerError(f"body of {len(body)} bytes differs from the app's ({len(step.body)} bytes expected)")


class LeanSession:
    """A user's connection plus its requests serialised once; fires locust's event per request."""

    def __init__(self, base_url: str, events, timeout: float = TIMEOUT_S):
        url = urlsplit(base_url)
        self.host_header = url.netloc
        self.connection = Connection(url.hostname, url.port or 80, timeout)
        self.events = events
        self.raw: dict = {}

    def send(self, step, context: dict) -> None:
        """One request of ``step``, timed from before the connect (if any) to the last byte."""
        raw = self.raw.get(step)
        if raw is None:
            raw = self.raw[step] = request_bytes(step.method, step.path, self.host_header, step.headers, step.data)
        started = time.perf_counter()
        start_time = time.time()
        body, error = b"", None
        try:
            status, body, length = self.connection.exchange(raw)
            check(step, status, body, length)
        except (OSError, httptools.HttpParserError, AnswerError) as exc:
            error = exc
        self.events.request.fire(request_type=step.method, name=step.path,
                                 response_time=(time.perf_counter() - started) * 1000,
                                 response_length=len(body), exception=error, context=context,
                                 response=None, url=step.path, start_time=start_time)

    def close(self) -> None:
        self.connection.close()

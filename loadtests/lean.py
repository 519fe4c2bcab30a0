"""The lean client: HTTP/1.1 over one gevent socket per user, parsed by httptools (llhttp).

locust's ``FastHttpUser`` spends most of its core in its HTTP client (geventhttpclient: request
objects, header dictionaries, a response object per answer), so against a fast server locust
measured itself.  This client does the least a correct HTTP/1.1 client must do:

* each request is serialised once into bytes (``request_bytes``) and sent with one ``sendall``;
* one connection per user, kept alive; it reconnects when the server closes, as gunicorn's sync
  worker does (``Connection: close``) and wsgiref does (HTTP/1.0), so every server is measured
  with the connection behaviour it chose;
* a request sent on a kept-alive connection that the server then closes without a byte of answer
  (uWSGI's ``--http-socket`` answers HTTP/1.1 without ``Connection: close`` and closes) is sent
  once more on a new connection if its method is idempotent, as RFC 9112 §9.3.1 and RFC 9110
  §9.2.2 allow and as urllib3 and http.client do; its response time includes the failed attempt
  and its ``request`` event's context carries ``SILENT_CLOSE_RETRY``.  A POST, or a new connection
  closed before an answer, stays a failure;
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
#: RFC 9110 §9.2.2: the methods a client may send again after a connection closed before an answer.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: The context key marking a request sent twice because a kept-alive connection closed silently.
SILENT_CLOSE_RETRY = "silent_close_retry"
CLOSED_EARLY = "the server closed the connection before a whole answer"


class AnswerError(Exception):
    """An answer that is not the app's: wrong status, missing Content-Length, wrong body."""


class NoAnswer(Exception):
    """The connection ended (end of stream or reset) before any byte of the answer; ``error`` is
    what the request fails with unless it may be sent again."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


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
        self.retried = False  # whether the last exchange was sent twice (see ``exchange``)
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

    def exchange(self, raw: bytes, idempotent: bool = False) -> tuple[int, bytes, int | None]:
        """Send one request, read its whole answer: (status, body, Content-Length or None).

        An open socket here has carried a whole exchange and was kept alive: if it ends before any
        byte of the answer, an idempotent request is sent once more on a new connection
        (``retried``).  Any other error (reset, timeout, malformed answer) closes the connection
        and propagates.
        """
        self.deadline, self.expired = time.monotonic() + self.timeout, False
        may_retry, self.retried = idempotent and self.sock is not None, False
        try:
            try:
                self.attempt(raw)
            except NoAnswer as silent:
                if not may_retry or self.expired:
                    raise silent.error from None
                self.close()
                self.retried = True
                self.attempt_again(raw)
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

    def attempt(self, raw: bytes) -> None:
        """Send the request and read the answer; ``NoAnswer`` if the connection ends before its
        first byte (the first read is apart from the rest only to tell that, at no extra cost)."""
        if self.sock is None:
            self.open()
        self.reply.reset()
        try:
            self.sock.sendall(raw)
            size = self.sock.recv_into(self.buffer)
        except ConnectionError as error:
            raise NoAnswer(error) from error
        if not size:
            raise NoAnswer(ConnectionResetError(CLOSED_EARLY))
        self.read_answer(size)

    def attempt_again(self, raw: bytes) -> None:
        """The one retry, on a new connection: ending before an answer is now a failure."""
        try:
            self.attempt(raw)
        except NoAnswer as silent:
            raise silent.error from None

    def read_answer(self, size: int) -> None:
        """Feed the parser the ``size`` bytes already read, then until the answer is complete; an
        answer without Content-Length (and not chunked) ends when the server closes, as HTTP/1.0
        allows."""
        reply, recv_into, feed, buffer = self.reply, self.sock.recv_into, self.parser.feed_data, self.buffer
        feed(buffer[:size])
        while not reply.done:
            size = recv_into(buffer)
            if not size:
                if reply.headers_done and reply.length is None:
                    return
                raise ConnectionResetError(CLOSED_EARLY)
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
        """One request of ``step``, timed from before the connect (if any) to the last byte, a
        failed first attempt included when it was sent twice (what the user waited)."""
        prepared = self.raw.get(step)
        if prepared is None:
            prepared = self.raw[step] = (request_bytes(step.method, step.path, self.host_header, step.headers,
                                                       step.data), step.method in IDEMPOTENT)
        started = time.perf_counter()
        start_time = time.time()
        body, error = b"", None
        try:
            status, body, length = self.connection.exchange(*prepared)
            check(step, status, body, length)
        except (OSError, httptools.HttpParserError, AnswerError) as exc:
            error = exc
        if self.connection.retried:
            context = {**context, SILENT_CLOSE_RETRY: True}
        self.events.request.fire(request_type=step.method, name=step.path,
                                 response_time=(time.perf_counter() - started) * 1000,
                                 response_length=len(body), exception=error, context=context,
                                 response=None, url=step.path, start_time=start_time)

    def close(self) -> None:
        self.connection.close()

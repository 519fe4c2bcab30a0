"""A raw HTTP/1.1 client for the probes: bytes out exactly as written, h11-parsed replies in.

Nothing in a client library may smooth an answer over, so requests are written byte for byte and
replies are parsed with h11 (a strict HTTP/1.1 parser) fed from raw ``recv`` calls: partial reads,
early closes, resets and bytes that are not HTTP are all told apart (:class:`NoReply`'s ``kind``).
Every wait has a deadline: each socket has a timeout, each read an overall bound.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time

import h11

from lab.probe.app import ECHO_TYPE, PLAINTEXT

#: Default bound on one reply, and the short wait for stray bytes after a complete reply.
REPLY_TIMEOUT_S = 5.0
LINGER_S = 0.3
HOST_HEADER = "Host: probe.local"



class NoReply(Exception):
    """No complete reply: ``kind`` is refused, reset, closed, timeout or invalid.

    ``head`` holds the first bytes that did arrive, e.g. an HTTP/0.9-style error page that has no
    status line (``kind`` "invalid").
    """

    def __init__(self, kind: str, text: str = "", head: bytes = b""):
        super().__init__(f"{kind}: {text}" if text else kind)
        self.kind = kind
        self.head = head

    def word(self) -> str:
        """The matrix word: the kind, or "no status line" for bytes that are not HTTP/1.x."""
        if self.kind == "invalid" and self.head and not self.head.startswith(b"HTTP/"):
            return "no status line"
        return self.kind


@dataclasses.dataclass
class Reply:
    """One complete HTTP response as it came off the wire."""

    status: int
    version: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    informational: list[int]  # 1xx statuses received before it
    seconds: float  # from the start of read_reply to the end of the message
    reusable: bool  # h11's view: the connection may carry another request

    def echo(self) -> dict | None:
        """What the probe app saw of the request (:mod:`lab.probe.app`), or None if the server answered."""
        if self.headers.get("content-type") != ECHO_TYPE:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class RawConnection:
    """One TCP connection to the server: send raw bytes, read h11-parsed replies in order."""

    def __init__(self, host: str, port: int, timeout: float = REPLY_TIMEOUT_S):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError as exc:
            raise NoReply("refused", str(exc)) from None
        except TimeoutError:
            raise NoReply("timeout", "connect timed out") from None
        except OSError as exc:
            raise NoReply("reset", f"connect: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""  # bytes received past the last complete reply
        self.eof = False

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise NoReply("timeout", "send timed out") from None
        except OSError as exc:  # EPIPE, ECONNRESET: the server is gone or closed on us
            raise NoReply("reset", f"send: {exc}") from None

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        return self.sock.recv(65536)

    def read_reply(self, method: str = "GET", timeout: float = REPLY_TIMEOUT_S) -> Reply:
        """The next complete response; ``method`` tells the parser whether a body follows (HEAD)."""
        started = time.monotonic()
        deadline = started + timeout
        parser = h11.Connection(h11.CLIENT)
        parser.send(h11.Request(method=method, target="/", headers=[("Host", "probe")]))
        parser.send(h11.EndOfMessage())
        if self.pending:
            parser.receive_data(self.pending)
        if self.eof:
            parser.receive_data(b"")
        head = bytearray(self.pending[:200])
        informational, response, body = [], None, bytearray()
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                if self.eof and not head:
                    raise NoReply("closed", "closed without a reply") from None
                raise NoReply("invalid", f"{exc} (reply began {bytes(head[:40])!r})", bytes(head)) from None
            if event is h11.NEED_DATA:
                try:
                    data = self._recv(deadline)
                except TimeoutError:
                    raise NoReply("timeout", f"no complete reply within {timeout:g} s "
                                             f"(it began {bytes(head[:40])!r})", bytes(head)) from None
                except OSError as exc:
                    raise NoReply("reset", str(exc), bytes(head)) from None
                if len(head) < 200:
                    head += data[:200 - len(head)]
                self.eof = not data
                parser.receive_data(data)
            elif isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.pending, closed = parser.trailing_data
                self.eof = self.eof or closed
                headers: dict[str, str] = {}
                for name, value in response.headers:
                    key = name.decode("latin-1")
                    text = value.decode("latin-1")
                    headers[key] = f"{headers[key]}, {text}" if key in headers else text
                return Reply(response.status_code, response.http_version.decode(), headers, bytes(body),
                             informational, time.monotonic() - started,
                             parser.their_state is h11.DONE and parser.our_state is h11.DONE and not closed)
            elif isinstance(event, h11.ConnectionClosed):
                raise NoReply("closed", "closed without a reply")

    def read_informational(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for an interim (1xx) reply; its status, or None if nothing came.

        Bytes of a final reply that arrive instead are kept for :meth:`read_reply`.
        """
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.pending and not self.eof:
            try:
                data = self._recv(deadline)
            except TimeoutError:
                return None
            except OSError:
                self.eof = True
                break
            self.pending += data
            self.eof = not data
        head, sep, rest = self.pending.partition(b"\r\n\r\n")
        parts = head.split(b" ", 2)
        if sep and len(parts) >= 2 and parts[1][:1] == b"1" and parts[1].isdigit():
            self.pending = rest
            return int(parts[1])
        return None

    def read_rest(self, timeout: float = LINGER_S) -> tuple[bytes, bool]:
        """Whatever else arrives within ``timeout`` after a reply, and whether the server closed."""
        data, deadline = bytearray(self.pending), time.monotonic() + timeout
        self.pending = b""
        while not self.eof:
            try:
                chunk = self._recv(deadline)
            except TimeoutError:
                break
            except OSError:
                self.eof = True
                break
            data += chunk
            self.eof = not chunk
        return bytes(data), self.eof


def request(method: str, path: str, headers: tuple[str, ...] = (), body: bytes = b"",
            line: str | None = None) -> bytes:
    """Raw request bytes: the request line (or ``line`` verbatim), a Host header, ``headers``, body."""
    first = line if line is not None else f"{method} {path} HTTP/1.1"
    return ("\r\n".join([first, HOST_HEADER, *headers]) + "\r\n\r\n").encode("latin-1") + body


def body_headers(length: int | None) -> tuple[str, ...]:
    """Headers of a request body: ``Content-Length``, or chunked when ``length`` is None."""
    sized = (f"Content-Length: {length}",) if length is not None else ("Transfer-Encoding: chunked",)
    return ("Content-Type: application/octet-stream", *sized)


def exchange(host: str, port: int, data: bytes, method: str = "GET",
             timeout: float = REPLY_TIMEOUT_S) -> Reply:
    """Send ``data`` on a fresh connection and read one reply (raises :class:`NoReply`)."""
    with RawConnection(host, port, timeout) as conn:
        conn.send(data)
        return conn.read_reply(method, timeout)


def plaintext_ok(reply: Reply) -> bool:
    return reply.status == 200 and reply.body == PLAINTEXT


def still_serving(server, timeout: float = 3.0) -> tuple[bool, str]:
    """Does a fresh ``GET /plaintext`` get the right answer? And a few words on why not."""
    if server.failure():
        return False, server.failure()
    try:
        reply = exchange(server.host, server.port, request("GET", "/plaintext"), timeout=timeout)
    except NoReply as exc:
        return False, f"a fresh GET /plaintext got {exc}"
    if not plaintext_ok(reply):
        return False, f"a fresh GET /plaintext got {reply.status}"
    return True, "a fresh GET /plaintext got 200"


def status_or_kind(host: str, port: int, data: bytes, timeout: float = REPLY_TIMEOUT_S,
                   method: str = "GET") -> tuple[str, Reply | None]:
    """``("431", reply)`` or ``("reset", None)``: what one raw request got, as a matrix word."""
    try:
        reply = exchange(host, port, data, method, timeout)
    except NoReply as exc:
        return exc.word(), None
    return str(reply.status), reply


def read_replies(conn: RawConnection, first_timeout: float, idle_s: float,
                 done=lambda replies: False) -> tuple[list[Reply], NoReply | None]:
    """Every reply the connection carries: until ``done(replies)``, a close, or silence.

    The first reply may take ``first_timeout``; each later one must begin within ``idle_s`` (a
    keep-alive server simply stops talking).  Returns the replies and what ended the reading
    (None when ``done`` said so).
    """
    replies: list[Reply] = []
    while not done(replies):
        try:
            replies.append(conn.read_reply("GET", first_timeout if not replies else idle_s))
        except NoReply as exc:
            return replies, exc
    return replies, None


def until(condition, deadline: float, interval: float = 0.01) -> bool:
    """Poll ``condition()`` until it holds (True) or ``deadline`` (monotonic) passes (False).

    The probes' only way to wait for something they cannot be told about (a server accepting a
    connection, processes exiting): never a fixed sleep standing in for the event.
    """
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
    return True


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)

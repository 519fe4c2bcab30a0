"""Conformance probes: how each server behaves at the edges a benchmark's happy path never visits.

A load test shows how fast a server answers well-formed requests from well-behaved clients.  Someone
choosing a server also needs to know what happens with keep-alive, pipelining, chunked uploads,
``Expect: 100-continue``, huge headers, garbage, oversized bodies, a slow client, a crowd bigger than
its workers and a SIGTERM under load.  Each probe here answers one such question against a real
server on loopback, with raw sockets (so nothing in a client library smooths the answer over), and
reports what happened as data: a :class:`ProbeResult` with an outcome, a matrix cell, one sentence of
evidence and the figures measured.

Every probe is bounded in time: each socket has a timeout, each probe an overall deadline.  Each
probe gets a fresh local server on loopback (:func:`run_probes`, :func:`probe_server` with the local
backend), so a server that a probe crashed or wedged cannot spoil the next one; container servers
(``--mode containers``) are shared by all probes and cannot take ``sigterm-under-load``.  Replies are parsed with h11, a strict HTTP/1.1 parser, fed from raw ``recv``
calls, so partial reads, early closes and resets are all told apart.

Outcomes: ``ok`` is the behaviour a production server should have; ``differs`` is legitimate but
worth knowing (e.g. no keep-alive); ``fails`` is wrong or broken (server died, 5xx, hung, starved);
``error`` means the probe itself could not run (e.g. the server did not start).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import h11
import psutil

from app import content
from lab.local import LocalServer

OK, DIFFERS, FAILS, ERROR = "ok", "differs", "fails", "error"

#: Seconds the slow client holds its half-sent request open (``slow-client``).
SLOW_CLIENT_SECONDS = 3.0
#: Simultaneous connections of ``connections-over-workers`` and the bound on the whole crowd.
CROWD_CONNECTIONS = 64
CROWD_BOUND_S = 10.0
#: Client threads of ``sigterm-under-load`` and the bound on the server's exit after SIGTERM.
LOAD_THREADS = 8
EXIT_BOUND_S = 15.0
#: ``docker stop`` sends SIGKILL this many seconds after SIGTERM: a slower exit loses what is in flight.
DOCKER_STOP_S = 10.0
#: Seconds ``expect-100`` waits for ``100 Continue`` before sending the body anyway (curl waits 1 s).
CONTINUE_WAIT_S = 2.0
#: Default bound on one reply, and the short wait for stray bytes after a complete reply.
REPLY_TIMEOUT_S = 5.0
LINGER_S = 0.3
#: A latency above this (ms) counts as a stall in the slow-client and crowd probes.
STALL_MS = 1000.0

FORM_BODY = content.sign_in_form()
HOST_HEADER = "Host: probe.local"


@dataclasses.dataclass
class ProbeResult:
    """What one probe saw on one server; ``dataclasses.asdict`` of it goes into the results."""

    probe: str
    outcome: str  # "ok" | "differs" | "fails" | "error"
    summary: str  # one short matrix cell, e.g. "keeps alive", "400, still serving", "413"
    detail: str  # one sentence with the evidence
    figures: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """Sizes and bounds of the probes; tests shrink the slow ones."""

    slow_client_s: float = SLOW_CLIENT_SECONDS
    crowd: int = CROWD_CONNECTIONS
    crowd_bound_s: float = CROWD_BOUND_S
    load_threads: int = LOAD_THREADS
    exit_bound_s: float = EXIT_BOUND_S
    continue_wait_s: float = CONTINUE_WAIT_S


# --- a raw HTTP/1.1 client: bytes out, h11-parsed replies in, every wait bounded --------------------


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
                             parser.their_state is h11.DONE and parser.our_state is h11.DONE)
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


def form_headers(length: int | None) -> tuple[str, ...]:
    sized = (f"Content-Length: {length}",) if length is not None else ("Transfer-Encoding: chunked",)
    return (f"Content-Type: {content.FORM}", *sized)


def exchange(host: str, port: int, data: bytes, method: str = "GET",
             timeout: float = REPLY_TIMEOUT_S) -> Reply:
    """Send ``data`` on a fresh connection and read one reply (raises :class:`NoReply`)."""
    with RawConnection(host, port, timeout) as conn:
        conn.send(data)
        return conn.read_reply(method, timeout)


def plaintext_ok(reply: Reply) -> bool:
    return reply.status == 200 and reply.body == content.PLAINTEXT


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


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- the probes ------------------------------------------------------------------------------------


def probe_keep_alive(server, settings: ProbeSettings) -> ProbeResult:
    """Two GETs on one connection: is the second answered on the same socket?

    Without keep-alive every request pays a TCP handshake (and leaves a TIME_WAIT socket on the
    client); behind a keep-alive proxy or with browser clients that is throughput and latency lost.
    """
    name = "keep-alive"
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("GET", "/plaintext"))
        first = conn.read_reply()
        if not plaintext_ok(first):
            return ProbeResult(name, FAILS, f"first GET {first.status}", "the first GET /plaintext was not "
                               f"answered correctly (status {first.status}).", {"first_status": first.status})
        announced = first.headers.get("connection", "").lower()
        started = time.monotonic()
        try:
            conn.send(request("GET", "/plaintext"))
            second = conn.read_reply(timeout=3.0)
        except NoReply as exc:
            figures = {"first_status": first.status, "connection_header": announced or None,
                       "second": exc.kind, "second_ms": ms(time.monotonic() - started)}
            verb = "hangs" if exc.kind == "timeout" else "closes"
            outcome = FAILS if exc.kind == "timeout" and first.reusable else DIFFERS
            return ProbeResult(name, outcome, verb, f"the first reply (HTTP/{first.version}, Connection: "
                               f"{announced or 'not set'}) was 200; the second request on the same socket got "
                               f"{exc}.", figures)
    figures = {"first_status": first.status, "second_status": second.status, "second_ms": ms(second.seconds),
               "connection_header": announced or None}
    if plaintext_ok(second):
        return ProbeResult(name, OK, "keeps alive", f"both GETs were answered 200 on one socket, the second in "
                           f"{ms(second.seconds)} ms.", figures)
    return ProbeResult(name, FAILS, f"second {second.status}", f"the second GET on the same socket got "
                       f"{second.status} instead of 200 Hello, World!", figures)


def probe_pipelining(server, settings: ProbeSettings) -> ProbeResult:
    """Two GETs in one send(): are both answered, in order, with the right bodies?

    Browsers do not pipeline, but some proxies and HTTP clients do, and a server that mixes up or
    drops pipelined requests corrupts traffic silently; closing after the first is the safe refusal.
    """
    name = "pipelining"
    sent = {"/plaintext": content.PLAINTEXT, "/json": content.JSON_BODY}
    with RawConnection(server.host, server.port) as conn:
        conn.send(b"".join(request("GET", path) for path in sent))
        replies, stopped = [], None
        for _ in sent:
            try:
                replies.append(conn.read_reply(timeout=3.0))
            except NoReply as exc:
                stopped = exc
                break
    by_body = {body: path for path, body in sent.items()}
    labels = [by_body.get(reply.body, str(reply.status)) if reply.status == 200 else str(reply.status)
              for reply in replies]
    figures = {"sent": list(sent), "answered": labels, "stopped": stopped.word() if stopped else None}
    evidence = (f"pipelined GET /plaintext + GET /json got answers for {labels or 'nothing'}"
                f"{f', then {stopped}' if stopped else ''}.")
    if labels == list(sent):
        return ProbeResult(name, OK, "both, in order", evidence, figures)
    if labels and labels == list(sent)[:len(labels)] and stopped.kind in ("closed", "reset"):
        return ProbeResult(name, DIFFERS, "first only, closes", evidence, figures)
    if not labels:
        return ProbeResult(name, FAILS, stopped.word(), evidence, figures)
    if labels == list(sent)[:len(labels)]:
        return ProbeResult(name, FAILS, "second hangs", evidence, figures)
    return ProbeResult(name, FAILS, f"answers {' + '.join(labels)} only" if len(labels) < len(sent)
                       else "wrong order", evidence, figures)


def probe_chunked_body(server, settings: ProbeSettings) -> ProbeResult:
    """POST /sign with a chunked form body: does the app get the body (200 greeting)?

    Clients that stream uploads (``curl -T -``, many HTTP libraries for generated bodies) send
    ``Transfer-Encoding: chunked``; a server that cannot de-chunk refuses them or hands the app an
    empty body.
    """
    name = "chunked-body"
    half = len(FORM_BODY) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (FORM_BODY[:half], FORM_BODY[half:]))
    word, reply = status_or_kind(server.host, server.port,
                                 request("POST", content.SIGN_PATH, form_headers(None), chunks + b"0\r\n\r\n"))
    figures = {"status": reply.status if reply else None, "no_reply": None if reply else word}
    if reply and reply.status == 200 and reply.body == content.GREETING:
        return ProbeResult(name, OK, "200", "a chunked form body in two chunks reached the app: 200 with the "
                           "greeting.", figures)
    if reply and reply.status in (400, 411, 501):
        why = " (the app saw an empty body: the server did not de-chunk it)" if reply.body == content.BAD_FORM else ""
        return ProbeResult(name, DIFFERS, str(reply.status), f"a chunked POST /sign got {reply.status}{why}.",
                           figures)
    return ProbeResult(name, FAILS, word, f"a chunked POST /sign got {word}"
                       f"{' with body ' + repr(reply.body[:40]) if reply else ''}.", figures)


def probe_head(server, settings: ProbeSettings) -> ProbeResult:
    """HEAD /plaintext: 200, the GET's Content-Length (13), and not one body byte on the wire.

    Monitors and caches send HEAD; a server that sends a body anyway desynchronises keep-alive
    connections (the stray bytes are read as the next response).
    """
    name = "head"
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("HEAD", "/plaintext"))
        reply = conn.read_reply("HEAD")
        stray, closed = conn.read_rest(LINGER_S)
    length = reply.headers.get("content-length")
    figures = {"status": reply.status, "content_length": length, "stray_bytes": len(stray), "closed": closed}
    if reply.status == 200 and length == str(len(content.PLAINTEXT)) and not stray:
        return ProbeResult(name, OK, "200, no body", f"HEAD got 200 with Content-Length {length} and no body "
                           f"bytes within {LINGER_S:g} s.", figures)
    problems = []
    if reply.status != 200:
        problems.append(f"status {reply.status}")
    if length != str(len(content.PLAINTEXT)):
        problems.append(f"Content-Length {length}")
    if stray:
        problems.append(f"{len(stray)} body bytes sent")
    return ProbeResult(name, FAILS, ", ".join(problems), f"HEAD /plaintext: {', '.join(problems)} "
                       f"(stray bytes {stray[:30]!r}).", figures)


def probe_expect_100(server, settings: ProbeSettings) -> ProbeResult:
    """POST with ``Expect: 100-continue``: headers first, the body only after ``100 Continue``.

    curl and many HTTP libraries send this for larger uploads and wait (curl: 1 s) for the interim
    reply; a server that never sends it adds that wait to every such upload.
    """
    name = "expect-100"
    started = time.monotonic()
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("POST", content.SIGN_PATH, (*form_headers(len(FORM_BODY)), "Expect: 100-continue")))
        interim = conn.read_informational(settings.continue_wait_s)
        waited = time.monotonic() - started
        conn.send(FORM_BODY)
        final = conn.read_reply("POST")
    total = time.monotonic() - started
    figures = {"continue_status": interim, "continue_ms": ms(waited) if interim else None,
               "final_status": final.status, "final_ms": ms(total)}
    if not (final.status == 200 and final.body == content.GREETING):
        return ProbeResult(name, FAILS, f"final {final.status}", f"after the body, the final answer was "
                           f"{final.status}, not 200 with the greeting.", figures)
    if interim == 100:
        return ProbeResult(name, OK, "100, then 200", f"100 Continue came after {ms(waited)} ms; the final 200 "
                           f"came {ms(total)} ms after the headers were sent.", figures)
    return ProbeResult(name, DIFFERS, "no 100, 200", f"no 100 Continue within {settings.continue_wait_s:g} s; "
                       f"after the body was sent anyway the final 200 came {ms(total)} ms after the headers.",
                       figures)


def big_header(size: int) -> Callable:
    def probe(server, settings: ProbeSettings) -> ProbeResult:
        name = f"header-{size // 1024}k"
        data = request("GET", "/plaintext", (f"X-Probe-Filler: {'a' * size}",))
        word, reply = status_or_kind(server.host, server.port, data)
        serving, why = still_serving(server)
        figures = {"header_bytes": size, "status": reply.status if reply else None,
                   "no_reply": None if reply else word, "still_serving": serving}
        summary = f"{word}, {'still serving' if serving else 'not serving'}"
        detail = f"a GET with one {size // 1024} KB header got {word}; afterwards {why}."
        if not serving or (reply and reply.status >= 500) or word == "timeout":
            return ProbeResult(name, FAILS, summary, detail, figures)
        if reply and reply.status == 200:
            return ProbeResult(name, OK, summary, detail, figures)
        if reply and 400 <= reply.status < 500:  # a limit: sound, but clients with big cookies break
            return ProbeResult(name, OK if size > 32 * 1024 else DIFFERS, summary, detail, figures)
        return ProbeResult(name, DIFFERS, summary, detail, figures)

    probe.__doc__ = (f"""A GET with one {size // 1024} KB header: what status, and is the server still serving?

        Large cookies and bearer tokens make 8-16 KB headers real; a server should accept them or
        refuse with a 4xx, and in either case go on serving others.  Up to 16 KB, refusing is
        counted as ``differs`` (real clients break); at 64 KB a 4xx limit is as good as accepting.
        """)
    probe.__name__ = probe.__qualname__ = f"probe_header_{size // 1024}k"
    return probe


MALFORMED_LINES = ("GET", "BLAH / HTTP/9.9")
#: Bodies only the application sends: a malformed request answered with one reached the app.
APP_REFUSALS = (content.METHOD_NOT_ALLOWED, content.NOT_FOUND)


def probe_malformed_request_line(server, settings: ProbeSettings) -> ProbeResult:
    """``GET`` alone and ``BLAH / HTTP/9.9`` as request lines: a 4xx/5xx refusal, then still serving?

    Scanners and broken clients send garbage to every public port; a server should refuse it
    cheaply with a status (400, or 505 for the version) and never crash, hang or pass it on as a
    normal request.  A refusal without a status line (HTTP/0.9 style) or a bare close is
    ``differs``, and so is a 4xx that the application gave because the server passed the line on
    (marked "(app)").
    """
    name = "malformed-request-line"
    words, answers = [], {}
    for line in MALFORMED_LINES:
        word, reply = status_or_kind(server.host, server.port, request("", "", line=line), timeout=3.0)
        if reply and reply.body in APP_REFUSALS:  # the server parsed it as a request and called the app
            word = f"{word} (app)"
        words.append(word)
        answers[line] = reply.status if reply else word
    serving, why = still_serving(server)
    figures = {"answers": answers, "still_serving": serving}
    summary = f"{'/'.join(dict.fromkeys(words))}, {'still serving' if serving else 'not serving'}"
    detail = "; ".join(f"{line!r} got {word}" for line, word in zip(MALFORMED_LINES, words)) + f"; afterwards {why}."
    refused = [word.isdigit() and 400 <= int(word) < 600 for word in words]
    other = [word in ("closed", "reset", "no status line") or word.endswith("(app)") and word[:1] == "4"
             for word in words]
    if not serving or not all(r or o for r, o in zip(refused, other)):
        return ProbeResult(name, FAILS, summary, detail, figures)
    return ProbeResult(name, OK if all(refused) else DIFFERS, summary, detail, figures)


def probe_body_over_cap(server, settings: ProbeSettings) -> ProbeResult:
    """POST /sign with Content-Length 5000 (over the app's 4096-byte cap) and the body: 413?

    The app refuses before reading; the server must still deliver that 413 although the client
    is sending a body nobody reads (a close with unread data can turn into a reset that loses it).
    """
    name = "body-over-cap"
    size = content.FORM_BODY_CAP + 904
    data = request("POST", content.SIGN_PATH, form_headers(size), b"a" * size)
    word, reply = status_or_kind(server.host, server.port, data, method="POST")
    serving, why = still_serving(server)
    figures = {"content_length": size, "status": reply.status if reply else None,
               "no_reply": None if reply else word, "still_serving": serving}
    detail = f"a {size}-byte form body (cap {content.FORM_BODY_CAP}) got {word}; afterwards {why}."
    if reply and reply.status == 413 and serving:
        return ProbeResult(name, OK, "413", detail, figures)
    return ProbeResult(name, FAILS, word if serving else f"{word}, not serving", detail, figures)


def probe_slow_client(server, settings: ProbeSettings) -> ProbeResult:
    """One client sends half its headers and stalls; are others still served meanwhile?

    Slow or malicious clients (slowloris, mobile links) must not hold the only worker: a server
    that blocks on one socket's reads lets a single connection take the whole site down.
    """
    name = "slow-client"
    hold = settings.slow_client_s
    slow = RawConnection(server.host, server.port)
    try:
        slow.send(b"GET /plaintext HTTP/1.1\r\n" + HOST_HEADER.encode() + b"\r\nX-Half: ")
        time.sleep(0.05)  # let the server pick the slow connection up first
        started = time.monotonic()
        window_end = started + hold
        served, failed, latencies, last_failure = 0, 0, [], None
        while time.monotonic() < window_end:
            began = time.monotonic()
            try:
                reply = exchange(server.host, server.port, request("GET", "/plaintext"),
                                 timeout=max(0.5, window_end - began))
                served += plaintext_ok(reply)
                failed += not plaintext_ok(reply)
                latencies.append(time.monotonic() - began)
            except NoReply as exc:
                failed += 1
                last_failure = exc.kind
                if exc.kind != "timeout":
                    time.sleep(0.05)
    finally:
        slow.close()
    worst = ms(max(latencies)) if latencies else None
    figures = {"hold_s": hold, "served": served, "failed": failed, "max_latency_ms": worst,
               "last_failure": last_failure}
    if served == 0:
        return ProbeResult(name, FAILS, f"starved: 0 in {hold:g} s", f"while one connection held a half-sent "
                           f"request for {hold:g} s, no other GET was answered (last: {last_failure}).", figures)
    detail = (f"while one connection held a half-sent request for {hold:g} s, {served} sequential GETs were "
              f"answered ({failed} not), the slowest in {worst} ms.")
    if failed or worst > STALL_MS:
        return ProbeResult(name, DIFFERS, f"{served} served, max {worst:.0f} ms", detail, figures)
    return ProbeResult(name, OK, f"{served} served, max {worst:.0f} ms", detail, figures)


def crowd_client(host: str, port: int, start: threading.Barrier, deadline: float, out: list, index: int) -> None:
    """One of the crowd: connect, GET /plaintext, record the outcome and latency."""
    try:
        start.wait(timeout=10)
    except threading.BrokenBarrierError:
        pass
    began = time.monotonic()
    try:
        reply = exchange(host, port, request("GET", "/plaintext"), timeout=max(0.05, deadline - began))
        kind = "answered" if plaintext_ok(reply) else "wrong"
    except NoReply as exc:
        kind = {"refused": "refused", "reset": "refused", "closed": "refused", "invalid": "wrong"}.get(
            exc.kind, "timed out")
    out[index] = (kind, time.monotonic() - began)


def probe_connections_over_workers(server, settings: ProbeSettings) -> ProbeResult:
    """64 connections at once (more than workers or threads), one GET each: queued or refused?

    A burst bigger than the server's concurrency is routine; a server should queue it (listen
    backlog, event loop) and answer everyone, not refuse connections or leave them hanging.
    """
    name = "connections-over-workers"
    count = settings.crowd
    out: list = [None] * count
    start = threading.Barrier(count)
    deadline = time.monotonic() + settings.crowd_bound_s
    threads = [threading.Thread(target=crowd_client, args=(server.host, server.port, start, deadline, out, i),
                                daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline + 1 - time.monotonic()))
    outcomes = [entry or ("timed out", settings.crowd_bound_s) for entry in out]
    counts = {kind: sum(1 for k, _ in outcomes if k == kind) for kind in ("answered", "refused", "timed out", "wrong")}
    answered_latencies = [seconds for kind, seconds in outcomes if kind == "answered"]
    worst = ms(max(answered_latencies)) if answered_latencies else None
    figures = {"connections": count, **{k.replace(" ", "_"): v for k, v in counts.items()},
               "max_latency_ms": worst, "bound_s": settings.crowd_bound_s}
    detail = (f"of {count} simultaneous connections, {counts['answered']} were answered (slowest {worst} ms), "
              f"{counts['refused']} refused or reset, {counts['timed out']} timed out within "
              f"{settings.crowd_bound_s:g} s, {counts['wrong']} answered wrongly.")
    if counts["timed out"] or counts["wrong"]:
        summary = f"{counts['timed out'] + counts['wrong']} of {count} unanswered"
        return ProbeResult(name, FAILS, summary, detail, figures)
    if counts["refused"]:
        return ProbeResult(name, DIFFERS, f"refused {counts['refused']} of {count}", detail, figures)
    if worst > STALL_MS:
        return ProbeResult(name, DIFFERS, f"queued, max {worst / 1000:.1f} s", detail, figures)
    return ProbeResult(name, OK, f"queued, max {worst:.0f} ms", detail, figures)


@dataclasses.dataclass
class Attempt:
    sent: float | None  # monotonic time once the request was fully sent (None: never connected)
    ended: float
    kind: str  # answered, wrong, refused, reset, closed, timeout, invalid


def load_client(host: str, port: int, stop: threading.Event, attempts: list) -> None:
    """Request GET /plaintext on fresh connections until told to stop; record every attempt."""
    while not stop.is_set():
        sent = None
        try:
            with RawConnection(host, port, timeout=2.0) as conn:
                conn.send(request("GET", "/plaintext"))
                sent = time.monotonic()
                reply = conn.read_reply(timeout=3.0)
            kind = "answered" if plaintext_ok(reply) else "wrong"
        except NoReply as exc:
            kind = exc.kind
        attempts.append(Attempt(sent, time.monotonic(), kind))
        if kind == "refused":
            time.sleep(0.01)


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running (zombies count as gone: they serve nothing)."""
    living = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
        except psutil.NoSuchProcess:
            continue
    return living


def watch_exit(child, procs: list[psutil.Process], since: float, bound: float, out: dict) -> None:
    """Poll until every process in ``procs`` is gone or ``bound`` passes; record when."""
    while time.monotonic() - since < bound:
        child.exit_code()  # reaps the leader once it exits
        if not alive(procs):
            out["exit_s"] = time.monotonic() - since
            return
        time.sleep(0.005)


def answered(conn: RawConnection, deadline: float) -> str:
    """Read one reply and close, as a client does (gunicorn's sync worker waits for that close)."""
    try:
        reply = conn.read_reply(timeout=max(0.05, deadline - time.monotonic()))
    except NoReply as exc:
        return exc.kind
    finally:
        conn.close()
    return "answered" if plaintext_ok(reply) else "wrong"


def probe_sigterm_under_load(server, settings: ProbeSettings) -> ProbeResult:
    """SIGTERM to the server's main process under load: are requests already sent answered, and how
    fast does every process exit?

    Deploys, autoscalers and ``docker stop`` all send SIGTERM; a graceful server finishes what it
    was sent and exits promptly, an abrupt one resets requests in flight, a stubborn one gets
    SIGKILLed after the grace period (10 s in Docker) and loses everything in flight: an exit slower
    than that is ``differs`` even when clean.  Besides the load of ``load_threads`` clients, the
    probe sends a burst of as many GETs on fresh connections right before the signal, from the
    thread that sends it, so "already sent" is certain for those; the exit code tells a handled
    SIGTERM (0) from the default action (-15).  Requests sent after the signal are only counted
    (``sent_after``): refusing them is right, leaving them unanswered is not.
    """
    name = "sigterm-under-load"
    procs = server.child.processes()
    stop, attempts = threading.Event(), []
    threads = [threading.Thread(target=load_client, args=(server.host, server.port, stop, attempts), daemon=True)
               for _ in range(settings.load_threads)]
    for thread in threads:
        thread.start()
    warm_deadline = time.monotonic() + 3.0
    while sum(a.kind == "answered" for a in attempts) < 50 and time.monotonic() < warm_deadline:
        time.sleep(0.01)
    burst: list[RawConnection] = []
    exit_info: dict = {}
    try:
        for _ in range(settings.load_threads):
            try:
                burst.append(RawConnection(server.host, server.port, timeout=2.0))
            except NoReply:
                break
        for conn in burst:
            conn.send(request("GET", "/plaintext"))
        termed = time.monotonic()
        os.kill(server.child.pid, signal.SIGTERM)
        watcher = threading.Thread(target=watch_exit, args=(server.child, procs, termed, settings.exit_bound_s,
                                                            exit_info), daemon=True)
        watcher.start()
        reply_deadline = termed + min(settings.exit_bound_s, REPLY_TIMEOUT_S)
        burst_kinds = [answered(conn, reply_deadline) for conn in burst]
        watcher.join(settings.exit_bound_s + 1)
    finally:
        for conn in burst:
            conn.close()
        time.sleep(0.1)  # let the load clients see what the exit did to their requests
        stop.set()
        for thread in threads:
            thread.join(5.0)
    exited_after = exit_info.get("exit_s")
    code = server.child.exit_code()
    load_in_flight = [a for a in list(attempts) if a.sent is not None and a.sent < termed <= a.ended]
    in_flight = burst_kinds + [a.kind for a in load_in_flight]
    dropped = [kind for kind in in_flight if kind != "answered"]
    figures = {"processes": len(procs), "exit_code": code,
               "exit_s": round(exited_after, 3) if exited_after is not None else None,
               "burst_sent": len(burst), "burst_answered": burst_kinds.count("answered"),
               "load_in_flight": len(load_in_flight),
               "load_in_flight_answered": sum(a.kind == "answered" for a in load_in_flight),
               "in_flight": len(in_flight), "in_flight_dropped": len(dropped),
               "dropped_kinds": sorted(set(dropped)),
               "sent_after": dict(Counter(a.kind for a in attempts if a.sent is not None and a.sent >= termed)),
               "bound_s": settings.exit_bound_s}
    if exited_after is None:
        return ProbeResult(name, FAILS, f"alive after {settings.exit_bound_s:g} s",
                           f"{len(alive(procs))} of {len(procs)} processes were still running "
                           f"{settings.exit_bound_s:g} s after SIGTERM.", figures)
    how = "killed by the signal" if code is not None and code < 0 else f"exit code {code}"
    detail = (f"all {len(procs)} processes exited {exited_after:.2f} s after SIGTERM ({how}); of {len(in_flight)} "
              f"requests sent before it, {len(in_flight) - len(dropped)} were answered and {len(dropped)} dropped"
              f"{' (' + ', '.join(sorted(set(dropped))) + ')' if dropped else ''}.")
    killed = code is not None and code < 0
    exits = "killed at once" if killed else f"exits in {exited_after:.2f} s"
    if dropped:
        return ProbeResult(name, DIFFERS, f"{exits}, drops {len(dropped)}/{len(in_flight)}", detail, figures)
    if killed or exited_after > DOCKER_STOP_S:
        return ProbeResult(name, DIFFERS, exits, detail, figures)
    return ProbeResult(name, OK, f"graceful, {exited_after:.2f} s", detail, figures)


#: Probes that need the server's own process (``server.child``): local runs only.
NEEDS_PROCESS = ("sigterm-under-load",)

#: Every probe, in matrix order (the matrix's columns).
PROBES: dict[str, Callable] = {
    "keep-alive": probe_keep_alive,
    "pipelining": probe_pipelining,
    "chunked-body": probe_chunked_body,
    "head": probe_head,
    "expect-100": probe_expect_100,
    "header-16k": big_header(16 * 1024),
    "header-64k": big_header(64 * 1024),
    "malformed-request-line": probe_malformed_request_line,
    "body-over-cap": probe_body_over_cap,
    "slow-client": probe_slow_client,
    "connections-over-workers": probe_connections_over_workers,
    "sigterm-under-load": probe_sigterm_under_load,
}


# --- running them -----------------------------------------------------------------------------------


def log_path(run_dir: Path, server_name: str, probe: str) -> Path:
    """``run_dir/logs/<server>.probe-<probe>.log`` (``gunicorn:gthread`` becomes ``gunicorn-gthread``)."""
    return Path(run_dir) / "logs" / f"{server_name.replace(':', '-')}.probe-{probe}.log"


def run_probe(name: str, start: Callable[[Path], object], path: Path,
              settings: ProbeSettings = ProbeSettings()) -> ProbeResult:
    """Start a server with ``start(log_path)``, run one probe on it, stop it.

    Never raises for the server's or the probe's faults: a server that does not start, or a probe
    that raises, becomes an ``error`` result with the reason (Ctrl-C still propagates).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = start(path)
        server.__enter__()  # cleans up after itself when it fails
    except Exception as exc:  # noqa: BLE001 - CellFailed, ProcessError, a backend's own errors
        return ProbeResult(name, ERROR, "did not start", f"the server could not be started: {exc}", {})
    try:
        if name in NEEDS_PROCESS and getattr(server, "child", None) is None:
            return ProbeResult(name, ERROR, "local only", "this probe signals the server's own process, "
                               "which only local runs start.", {})
        return PROBES[name](server, settings)
    except NoReply as exc:
        return ProbeResult(name, FAILS, exc.word(), f"the probe's request got no reply: {exc}.",
                           {"no_reply": exc.kind})
    except Exception as exc:  # noqa: BLE001 - a probe's own bug is data, not a crash of the matrix
        return ProbeResult(name, ERROR, "probe error", f"{exc.__class__.__name__}: {exc}", {})
    finally:
        server.__exit__(None, None, None)


def check_names(probes: list[str] | None) -> list[str]:
    names = list(PROBES) if probes is None else list(probes)
    unknown = [name for name in names if name not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe {', '.join(unknown)} (known: {', '.join(PROBES)})")
    return names


def run_probes(config, options, run_dir: Path, probes: list[str] | None = None,
               settings: ProbeSettings = ProbeSettings(),
               progress: Callable[[str, ProbeResult], None] | None = None) -> list[ProbeResult]:
    """Run ``probes`` (default: all, in matrix order) on ``config``, each on a fresh ``LocalServer``.

    The server gets ``options``' first workers/threads step, pinned to ``options.server_cpus``;
    ``progress(server_name, result)`` is called after each probe.
    """
    results = []
    for name in check_names(probes):
        result = run_probe(name, lambda path: LocalServer(config, options, path, Path(run_dir)),
                           log_path(run_dir, config.name, name), settings)
        results.append(result)
        if progress:
            progress(config.name, result)
    return results


def probe_all(configs, options, run_dir: Path, progress: Callable[[str, ProbeResult], None] | None = None,
              probes: list[str] | None = None, settings: ProbeSettings = ProbeSettings()) -> dict[str, list[dict]]:
    """Every server config (a list, or a name -> config dict) x every probe, as plain dicts for JSON.

    Returns ``{server name: [dataclasses.asdict(result), ...]}`` in matrix order.
    """
    if isinstance(configs, dict):
        configs = list(configs.values())
    return {config.name: [dataclasses.asdict(result)
                          for result in run_probes(config, options, run_dir, probes, settings, progress)]
            for config in configs}


def probe_server(config, options, backend, run_dir: Path, progress=None, probes: list[str] | None = None,
                 settings: ProbeSettings = ProbeSettings()) -> list[dict]:
    """The bench's entry point: every probe on servers from ``backend``, as plain dicts.

    ``backend.server(config, options, workers, threads, log_path, run_dir)`` gives each probe its
    server (the first workers/threads step); ``progress.stage(text)`` is told which probe runs.
    Container servers are not fresh per probe and have no process to signal, so there
    ``sigterm-under-load`` is an ``error`` ("local only").
    """
    names = check_names(probes)
    results = []
    for index, name in enumerate(names, 1):
        if progress is not None:
            progress.stage(f"probe {index}/{len(names)}: {name}")
        def start(path: Path):
            return backend.server(config, options, options.workers[0], options.threads[0], path, Path(run_dir))

        results.append(dataclasses.asdict(run_probe(name, start, log_path(run_dir, config.name, name), settings)))
    return results

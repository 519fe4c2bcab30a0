"""Request-parsing probes: the ambiguities behind request smuggling, cache poisoning and header injection.

Each case is a raw request written by the lab, byte for byte (a Content-Length next to a
Transfer-Encoding, a signed Content-Length, a chunk size with junk, a NUL in a header...).  It
names its requests by target: ``/p/1`` is the request as sent, ``/p/smuggled`` hides in its body
where only a parser that frames the body differently finds it.  Once the first answer is in (or
the server stays silent for a while), a closing ``GET /p/end`` follows on the same connection: a
keep-alive server answers it promptly, so the probe never waits on silence, and the request is
sent apart from the case so that a server that answers only the last request of a read (bjoern)
still answers the case.

The reference is what h11, a strict HTTP/1.1 parser, makes of the same bytes
(:func:`reference`), plus three rules of the RFCs that h11 leaves to its caller: a header value
holds no control bytes (RFC 9110 5.5); an absolute-form target's authority is the request's host,
whatever the Host header says (RFC 9112 3.2.2); and after a request with both Content-Length and
Transfer-Encoding the connection ends (RFC 9112 6.1: the server MUST close it).  The probe app (:mod:`lab.probe.app`) echoes
what each request became, and :func:`classify` compares:

* ``rejected``: the app saw nothing of the request (the server answered 4xx/5xx or closed);
* ``normalised``: the app saw what the reference sees (perhaps after the server cleaned it up);
* ``ambiguous``: the app saw a body, a request or a header value the reference does not -- the
  server and a strict front end would read these bytes differently;
* ``stalled``: no answer at all: the server waits for bytes the reference does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from urllib.parse import urlsplit

import h11

from lab.probe.checks import DIFFERS, FAILS, OK, ProbeResult, ProbeSettings
from lab.probe.client import HOST_HEADER, NoReply, RawConnection, Reply, read_replies

HOST = HOST_HEADER.split(": ", 1)[1]
OTHER_HOST = "other.example"
SMUGGLED = f"GET /p/smuggled HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
END = f"GET /p/end HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
#: Bounds: the first answer, and the silence after an answer that ends the reading.
FIRST_REPLY_S = 2.0
IDLE_S = 1.0
#: Control bytes a header value must not hold (RFC 9110 5.5: field-vchar, SP and HTAB only).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class Case:
    """One parsing probe: the bytes, what they test, and the header the app's view is checked on."""

    name: str
    data: bytes
    meaning: str  # the matrix row's "what it means for you"
    focus: str = ""  # "host", or a header whose value the app must not see with control bytes
    rfc_rejects: bool = False  # HTTP requires a 400 even though h11 takes it (e.g. an invalid Host)


def post(*headers: str, body: bytes = b"", line: str = "POST /p/1 HTTP/1.1", eol: str = "\r\n",
         host: str = HOST_HEADER) -> bytes:
    """``/p/1`` with ``headers`` after the Host header, then ``body``."""
    head = eol.join([line, host, *headers]) + eol + eol
    return head.encode("latin-1") + body


HIDDEN = b"0\r\n\r\n" + SMUGGLED  # an empty chunked body, then a request: for parsers that de-chunk
CASES = [
    Case("cl-with-te", post(f"Content-Length: {len(HIDDEN)}", "Transfer-Encoding: chunked", body=HIDDEN),
         "Content-Length with Transfer-Encoding: chunked is the classic smuggling pair: a front end that "
         "frames by one and a server that frames by the other see different requests."),
    Case("cl-duplicate-same", post("Content-Length: 5", "Content-Length: 5", body=b"hello"),
         "Two equal Content-Lengths are tolerable (RFC 9110 allows merging them)."),
    Case("cl-duplicate-differ", post("Content-Length: 5", f"Content-Length: {5 + len(SMUGGLED)}",
                                     body=b"hello" + SMUGGLED),
         "Two different Content-Lengths: whichever one a server picks, a front end may pick the other."),
    Case("cl-signed", post(f"Content-Length: +{len(SMUGGLED)}", body=SMUGGLED),
         "A signed Content-Length (+N) is invalid: a server that reads N bytes disagrees with one that "
         "reads none."),
    Case("cl-padded", post(f"Content-Length: 000{len(SMUGGLED)}", body=SMUGGLED),
         "Leading zeros are valid digits: reading the same N bytes is right."),
    Case("cl-hex", post(f"Content-Length: 0x{len(SMUGGLED):x}", body=SMUGGLED),
         "A hex Content-Length is invalid: a server that reads it as a number disagrees with others."),
    Case("te-chunked-identity", post("Transfer-Encoding: chunked, identity", body=b"5\r\nhello\r\n0\r\n\r\n"),
         "chunked must be the last coding: a server that de-chunks anyway disagrees with one that "
         "takes the body as unframed."),
    Case("te-odd-case", post("Transfer-Encoding: ChUnKeD", body=b"5\r\nhello\r\n0\r\n\r\n"),
         "Coding names are case-insensitive: de-chunking is right, ignoring it desynchronises."),
    Case("te-obs-fold", post("Transfer-Encoding:", " chunked", body=b"5\r\nhello\r\n0\r\n\r\n"),
         "A folded Transfer-Encoding: unfolding it (as h11 does) or refusing it is safe; ignoring it is "
         "not."),
    Case("chunk-size-junk", post("Transfer-Encoding: chunked", body=b"5xyz\r\nhello\r\n0\r\n\r\n"),
         "Junk after a chunk size must be refused: a lenient server reads a body a strict one refuses."),
    Case("chunk-size-0x", post("Transfer-Encoding: chunked", body=b"0x5\r\nhello\r\n0\r\n\r\n"),
         "A 0x prefix is not a chunk size: read as 0 it ends the body early, read as 5 it takes a body."),
    Case("chunk-ext-overlong", post("Transfer-Encoding: chunked",
                                    body=b"5;" + b"x" * 20000 + b"\r\nhello\r\n0\r\n\r\n"),
         "A 20 KB chunk extension: a limit (4xx) protects memory; accepting it is legal."),
    Case("chunk-no-crlf", post("Transfer-Encoding: chunked", body=b"5\r\nhelloXX0\r\n\r\n"),
         "Chunk data must end with CRLF: a server that skips any two bytes reads a body a strict one "
         "refuses."),
    Case("obs-fold", post("X-Probe: a", " b", "Content-Length: 0"),
         "Folded header lines are obsolete: unfolding or refusing is safe.", focus="x-probe"),
    Case("bare-lf", post("Content-Length: 5", body=b"hello", eol="\n"),
         "Lines ending in a bare LF: accepting them (as h11 does) or refusing is safe, as long as the "
         "body is the same."),
    Case("space-before-colon", post(f"Content-Length : {len(SMUGGLED)}", body=SMUGGLED),
         "Whitespace before the colon must be refused (RFC 9112 5.1): a server that strips it frames "
         "the body by a header others ignore."),
    Case("nul-in-header", post("X-Probe: a\x00b", "Content-Length: 0"),
         "A NUL in a header value must be refused: passed on, it truncates values in C code behind the "
         "app.", focus="x-probe"),
    Case("cr-in-header", post("X-Probe: a\rb", "Content-Length: 0"),
         "A bare CR in a header value must be refused: passed on, it splits headers downstream.",
         focus="x-probe"),
    Case("ctl-in-header", post("X-Probe: a\x01b", "Content-Length: 0"),
         "Control bytes in a header value must be refused (h11 takes them): passed on, they reach logs "
         "and backends.", focus="x-probe"),
    Case("absolute-form", post("Content-Length: 0", line=f"POST http://{HOST}/p/1 HTTP/1.1"),
         "Proxies send absolute-form targets: the app should get the path, not the URL.", focus="host"),
    Case("absolute-form-other-host", post("Content-Length: 0", line=f"POST http://{OTHER_HOST}/p/1 HTTP/1.1"),
         "The target's host wins over Host (RFC 9112 3.2.2): an app that sees the Host header builds "
         "URLs and cache keys for the wrong site.", focus="host"),
    Case("host-duplicate", post(f"Host: {OTHER_HOST}", "Content-Length: 0"),
         "Two Host headers must get a 400: a front end and the app may each pick a different one.",
         focus="host"),
    Case("host-invalid", post("Content-Length: 0", host="Host: probe.local/../x y"),
         "A Host that is not a host must get a 400 (h11 takes it): passed on, it reaches URL building "
         "and logs.", focus="host", rfc_rejects=True),
]
BY_NAME = {case.name: case for case in CASES}


@dataclasses.dataclass
class Seen:
    """One request as h11 parsed it: the reference for what the app should see."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeats joined with ", "
    body: bytes


@dataclasses.dataclass
class Reference:
    requests: list[Seen]
    error: str | None  # h11's complaint, where it stopped


def reference(data: bytes) -> Reference:
    """What h11, as a server, reads from ``data``: each complete request, then its error if any.

    A request with both Content-Length and Transfer-Encoding ends the reading (RFC 9112 6.1).
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    conn.receive_data(data)
    requests: list[Seen] = []
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return Reference(requests, str(exc))
        if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            return Reference(requests, None)
        if isinstance(event, h11.Request):
            headers: dict[str, str] = {}
            for name, value in event.headers:
                key, text = name.decode("latin-1"), value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            current = Seen(event.method.decode(), event.target.decode("latin-1"), headers, b"")
            body = bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            current.body = bytes(body)
            requests.append(current)
            if {"content-length", "transfer-encoding"} <= set(current.headers):
                return Reference(requests, None)
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()


def path_of(target: str) -> str:
    return urlsplit(target).path if "://" in target else target.split("?", 1)[0]


def expected_host(seen: Seen) -> str | None:
    """The request's host by RFC 9112 3.2.2: an absolute-form target's authority, else Host."""
    if "://" in seen.target:
        return urlsplit(seen.target).netloc
    return seen.headers.get("host")


VALID_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]+)?$")


@dataclasses.dataclass
class Verdict:
    kind: str  # rejected | normalised | ambiguous | stalled
    why: str


def classify(case: Case, replies: list[Reply], ended: NoReply | None, ref: Reference) -> Verdict:
    """Compare what the app saw (the echoes in ``replies``) with the reference's reading."""
    echoes = [echo for echo in (reply.echo() for reply in replies) if echo and echo.get("path") != "/p/end"]
    for echo in echoes:
        problem = disagreement(case, echo, ref)
        if problem:
            return Verdict("ambiguous", problem)
    if echoes:
        return Verdict("normalised", "the app saw what a strict parser reads")
    statuses = [reply.status for reply in replies if reply.echo() is None]
    if statuses:
        return Verdict("rejected", f"{statuses[0]} from the server")
    if replies:
        return Verdict("rejected", "dropped: no answer to the request, only to the closing one")
    if ended is not None and ended.kind == "timeout":
        return Verdict("stalled", "no answer: the server waits for bytes a strict parser does not")
    return Verdict("rejected", f"{ended.word() if ended else 'nothing'}, no status")


def disagreement(case: Case, echo: dict, ref: Reference) -> str | None:
    """Why the app's view of one request differs from the reference, or None."""
    path = path_of(echo.get("path") or "")
    seen = next((req for req in ref.requests if path_of(req.target) == path), None)
    if seen is None and path != "/p/1":
        return f"the app saw a request for {path} that a strict parser does not"
    if "://" in (echo.get("path") or ""):
        return f"the app saw the URL {echo['path']!r} as its path"
    length = echo.get("headers", {}).get("CONTENT_LENGTH")
    if length and not length.isdigit():
        return f"the app saw Content-Length {length!r}, not a length it can read"
    if seen is None:
        if echo.get("body_length"):
            return f"the app saw a {echo['body_length']}-byte body a strict parser refuses"
    elif echo.get("body_sha256") not in (None, hashlib.sha256(seen.body).hexdigest()):
        return f"the app saw a {echo.get('body_length')}-byte body, a strict parser {len(seen.body)} bytes"
    if case.focus == "host":
        return host_disagreement(echo, seen)
    if case.focus:
        value = echo.get("headers", {}).get("HTTP_" + case.focus.upper().replace("-", "_"))
        if value is not None and CONTROL.search(value):
            return f"the app saw {case.focus} {value!r}, control bytes included"
    return None


def host_disagreement(echo: dict, seen: Seen | None) -> str | None:
    host = echo.get("host")
    if seen is None:
        return f"the app saw Host {host!r} where a strict parser refuses the request"
    if host != expected_host(seen):
        return f"the app saw Host {host!r}, the request is for {expected_host(seen)!r}"
    return None


OUTCOME = {"rejected": OK, "normalised": OK, "ambiguous": FAILS, "stalled": DIFFERS}


def converse(conn: RawConnection, data: bytes) -> tuple[list[Reply], NoReply | None]:
    """Send a case, read its first answer, then send ``GET /p/end`` and read up to its answer.

    Returns every reply and what ended the reading: the first silence or close when nothing at
    all came back, else whatever stopped the reading after ``GET /p/end``.
    """
    try:
        conn.send(data)
    except NoReply as exc:  # the server closed while the case was sent: its answer may be there
        conn.eof = True
        replies, ended = read_replies(conn, FIRST_REPLY_S, IDLE_S, bool)
        return replies, exc if not replies else ended
    replies, first_end = read_replies(conn, FIRST_REPLY_S, IDLE_S, bool)
    if conn.eof:
        return replies, first_end
    try:
        conn.send(END)
    except NoReply as exc:
        return replies, exc
    more, ended = read_replies(conn, IDLE_S, IDLE_S, lambda got: any(
        (reply.echo() or {}).get("path") == "/p/end" for reply in got))
    return replies + more, ended if replies or more else first_end


def run_case(case: Case, server) -> ProbeResult:
    """Send one case on a fresh connection, read every answer, classify it against h11."""
    ref = reference(case.data + END)
    with RawConnection(server.host, server.port, FIRST_REPLY_S) as conn:
        replies, ended = converse(conn, case.data)
    verdict = classify(case, replies, ended, ref)
    lenient = ref.error is not None or case.rfc_rejects
    outcome = DIFFERS if verdict.kind == "normalised" and lenient else OUTCOME[verdict.kind]
    answers = [str(reply.status) if reply.echo() is None else f"app {reply.echo().get('path')}" for reply in replies]
    figures = {"class": verdict.kind, "answers": answers, "ended": ended.word() if ended else None,
               "h11": "rejects: " + ref.error if ref.error else f"reads {len(ref.requests)} requests",
               "echoes": [reply.echo() for reply in replies if reply.echo()]}
    statuses = [str(reply.status) for reply in replies if reply.echo() is None]
    refusal = statuses[0] if statuses else "(dropped)" if replies else f"({figures['ended']})"
    word = {"rejected": f"rejected {refusal}",
            "normalised": "normalised" + (" (lenient)" if lenient else ""),
            "ambiguous": "ambiguous", "stalled": "stalls"}[verdict.kind]
    return ProbeResult(case.name, outcome, word, f"{verdict.why}; answers {answers or 'none'}, then "
                       f"{figures['ended'] or 'the closing request'}; h11 {figures['h11']}.", figures)


def parsing_probe(case: Case):
    """The probe function of one case, named and documented like the behaviour probes."""
    def probe(server, settings: ProbeSettings) -> ProbeResult:
        return run_case(case, server)

    probe.__doc__ = case.meaning
    probe.__name__ = probe.__qualname__ = f"probe_{case.name.replace('-', '_')}"
    return probe


PARSING = {case.name: parsing_probe(case) for case in CASES}
MEANING = {case.name: case.meaning for case in CASES}

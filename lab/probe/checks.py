"""Behaviour probes: how a server handles what a benchmark's happy path never sends.

Keep-alive, pipelining, chunked uploads, HEAD, framing an unframed answer, ``Expect:
100-continue``, huge headers, garbage, oversized bodies, a slow client, a crowd bigger than its
workers and a SIGTERM under load: each probe answers one such question against a real server, and
reports what happened as data, a :class:`ProbeResult`.  The server runs the probe app
(:mod:`lab.probe.app`), which leaves every server job to the server (it sends a body on HEAD,
leaves ``/unframed`` unframed), so the answer is the server's, not the app's.

Outcomes: ``ok`` is the behaviour a production server should have; ``differs`` is legitimate but
worth knowing (e.g. no keep-alive); ``fails`` is wrong or broken (server died, 5xx, hung, starved);
``error`` means the probe itself could not run (e.g. the server did not start).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable

import psutil

from lab.probe.client import (LINGER_S, REPLY_TIMEOUT_S, HOST_HEADER, NoReply, RawConnection, Reply, body_headers,
                              exchange, ms, plaintext_ok, request, status_or_kind, still_serving, until)

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
#: A latency above this (ms) counts as a stall in the slow-client and crowd probes.
STALL_MS = 1000.0
#: The upload of ``chunked-body`` and ``expect-100``; the app's cap that ``body-over-cap`` exceeds.
UPLOAD = b"username=admin&password=password"
BODY_CAP = 4096


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


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def app_saw_body(reply: Reply | None, body: bytes) -> bool:
    """Did the probe app's echo see exactly ``body``?"""
    seen = reply.echo() if reply else None
    return bool(seen) and seen.get("body_sha256") == digest(body)




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
    sent = ["/first", "/second"]
    with RawConnection(server.host, server.port) as conn:
        conn.send(b"".join(request("GET", path) for path in sent))
        replies, stopped = [], None
        for _ in sent:
            try:
                replies.append(conn.read_reply(timeout=3.0))
            except NoReply as exc:
                stopped = exc
                break
    labels = [(reply.echo() or {}).get("target") or str(reply.status) for reply in replies]
    figures = {"sent": sent, "answered": labels, "stopped": stopped.word() if stopped else None}
    evidence = (f"pipelined GET /first + GET /second got answers for {labels or 'nothing'}"
                f"{f', then {stopped}' if stopped else ''}.")
    if labels == sent:
        return ProbeResult(name, OK, "both, in order", evidence, figures)
    if labels and labels == sent[:len(labels)] and stopped.kind in ("closed", "reset"):
        return ProbeResult(name, DIFFERS, "first only, closes", evidence, figures)
    if not labels:
        return ProbeResult(name, FAILS, stopped.word(), evidence, figures)
    if labels == sent[:len(labels)]:
        return ProbeResult(name, FAILS, "second hangs", evidence, figures)
    return ProbeResult(name, FAILS, f"answers {' + '.join(labels)} only" if len(labels) < len(sent)
                       else "wrong order", evidence, figures)


def probe_chunked_body(server, settings: ProbeSettings) -> ProbeResult:
    """POST with a body in two chunks: does the app get exactly that body?

    Clients that stream uploads (``curl -T -``, many HTTP libraries for generated bodies) send
    ``Transfer-Encoding: chunked``; a server that cannot de-chunk refuses them or hands the app an
    empty body.
    """
    name = "chunked-body"
    half = len(UPLOAD) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (UPLOAD[:half], UPLOAD[half:]))
    word, reply = status_or_kind(server.host, server.port,
                                 request("POST", "/upload", body_headers(None), chunks + b"0\r\n\r\n"))
    seen = reply.echo() if reply else None
    figures = {"status": reply.status if reply else None, "no_reply": None if reply else word,
               "app_body_length": seen.get("body_length") if seen else None}
    if app_saw_body(reply, UPLOAD):
        return ProbeResult(name, OK, "200", "a body in two chunks reached the app whole, de-chunked.", figures)
    if seen:
        return ProbeResult(name, DIFFERS, "app gets no body", f"a chunked POST reached the app with a body of "
                           f"{seen.get('body_length')} bytes, not the {len(UPLOAD)} sent: the server did not "
                           "de-chunk it.", figures)
    if reply and reply.status in (400, 411, 501):
        return ProbeResult(name, DIFFERS, str(reply.status), f"a chunked POST got {reply.status} from the server.",
                           figures)
    return ProbeResult(name, FAILS, word, f"a chunked POST got {word}"
                       f"{' with body ' + repr(reply.body[:40]) if reply else ''}.", figures)


def probe_head(server, settings: ProbeSettings) -> ProbeResult:
    """HEAD to an app that answers with its body anyway: 200, and not one body byte on the wire?

    Monitors and caches send HEAD, and many hand-written apps return their body for it: HTTP makes
    dropping it the server's job.  A body sent anyway desynchronises keep-alive connections (the
    stray bytes are read as the next response).
    """
    name = "head"
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("HEAD", "/head"))
        reply = conn.read_reply("HEAD")
        stray, closed = conn.read_rest(LINGER_S)
    length = reply.headers.get("content-length")
    figures = {"status": reply.status, "content_length": length, "stray_bytes": len(stray), "closed": closed}
    if reply.status == 200 and not stray:
        return ProbeResult(name, OK, "200, no body", f"HEAD got 200 (Content-Length {length}) and no body "
                           f"bytes within {LINGER_S:g} s, though the app returned its body.", figures)
    problems = [f"status {reply.status}"] if reply.status != 200 else []
    if stray:
        problems.append(f"sends the body ({len(stray)} B)")
    return ProbeResult(name, FAILS, ", ".join(problems), f"HEAD to an app that returns its body: "
                       f"{', '.join(problems)} (stray bytes {stray[:30]!r}).", figures)


def probe_unframed_response(server, settings: ProbeSettings) -> ProbeResult:
    """GET to an app that sets no Content-Length: does the server frame it and keep the connection?

    Apps that stream or build their body in parts set no length; HTTP/1.1 leaves framing to the
    server: chunked keeps the connection, closing after the body costs a new connection.
    """
    name = "unframed-response"
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("GET", "/unframed"))
        reply = conn.read_reply()
    framing = ("chunked" if "chunked" in reply.headers.get("transfer-encoding", "").lower()
               else "content-length" if "content-length" in reply.headers else "close")
    figures = {"status": reply.status, "framing": framing, "reusable": reply.reusable}
    whole = reply.echo() is not None
    detail = (f"an answer without Content-Length came back as HTTP/{reply.version} {reply.status}, framed by "
              f"{framing}, {'whole' if whole else 'not the echo sent'}; "
              f"the connection {'stays open' if reply.reusable else 'closes'}.")
    if not whole or reply.status != 200:
        return ProbeResult(name, FAILS, f"{reply.status}, body broken", detail, figures)
    if reply.reusable:
        return ProbeResult(name, OK, f"{framing}, keeps alive", detail, figures)
    return ProbeResult(name, DIFFERS, f"{framing}, closes", detail, figures)


def probe_expect_100(server, settings: ProbeSettings) -> ProbeResult:
    """POST with ``Expect: 100-continue``: headers first, the body only after ``100 Continue``.

    curl and many HTTP libraries send this for larger uploads and wait (curl: 1 s) for the interim
    reply; a server that never sends it adds that wait to every such upload.
    """
    name = "expect-100"
    started = time.monotonic()
    with RawConnection(server.host, server.port) as conn:
        conn.send(request("POST", "/upload", (*body_headers(len(UPLOAD)), "Expect: 100-continue")))
        interim = conn.read_informational(settings.continue_wait_s)
        waited = time.monotonic() - started
        conn.send(UPLOAD)
        final = conn.read_reply("POST")
    total = time.monotonic() - started
    figures = {"continue_status": interim, "continue_ms": ms(waited) if interim else None,
               "final_status": final.status, "final_ms": ms(total)}
    if not app_saw_body(final, UPLOAD):
        return ProbeResult(name, FAILS, f"final {final.status}", f"after the body, the final answer was "
                           f"{final.status}, not the app's 200 with the body it was sent.", figures)
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
        if reply and reply.echo() is not None:  # the server parsed it as a request and called the app
            word = f"{word} (app)"
        words.append(word)
        answers[line] = reply.status if reply else word
    serving, why = still_serving(server)
    figures = {"answers": answers, "still_serving": serving}
    summary = f"{'/'.join(dict.fromkeys(words))}, {'still serving' if serving else 'not serving'}"
    detail = "; ".join(f"{line!r} got {word}" for line, word in zip(MALFORMED_LINES, words)) + f"; afterwards {why}."
    refused = [word.isdigit() and 400 <= int(word) < 600 for word in words]
    other = [word in ("closed", "reset", "no status line") or word.endswith("(app)")
             for word in words]
    if not serving or not all(r or o for r, o in zip(refused, other)):
        return ProbeResult(name, FAILS, summary, detail, figures)
    return ProbeResult(name, OK if all(refused) else DIFFERS, summary, detail, figures)


def probe_body_over_cap(server, settings: ProbeSettings) -> ProbeResult:
    """POST with Content-Length 5000 (over the app's 4096-byte cap) and the body: is the 413 delivered?

    The app refuses before reading; the server must still deliver that 413 although the client
    is sending a body nobody reads (a close with unread data can turn into a reset that loses it).
    """
    name = "body-over-cap"
    size = BODY_CAP + 904
    data = request("POST", "/refuse", body_headers(size), b"a" * size)
    word, reply = status_or_kind(server.host, server.port, data, method="POST")
    serving, why = still_serving(server)
    figures = {"content_length": size, "status": reply.status if reply else None,
               "no_reply": None if reply else word, "still_serving": serving}
    detail = f"a {size}-byte body (cap {BODY_CAP}) got {word}; afterwards {why}."
    if reply and reply.status == 413 and serving:
        return ProbeResult(name, OK, "413", detail, figures)
    return ProbeResult(name, FAILS, word if serving else f"{word}, not serving", detail, figures)


def wait_accepted(server, conn: RawConnection, bound_s: float = 1.0) -> bool | None:
    """Wait until one of the server's processes holds ``conn``'s other end (it was accepted).

    None when the server's processes cannot be seen (containers); False if not within ``bound_s``.
    """
    child = getattr(server, "child", None)
    if child is None:
        return None
    ours = conn.sock.getsockname()

    def held() -> bool:
        for proc in alive(child.processes()):
            try:
                if any(c.raddr and tuple(c.raddr) == ours for c in proc.net_connections("tcp")):
                    return True
            except psutil.Error:
                continue  # gone or not ours to read: the next poll sees the others
        return False

    return until(held, time.monotonic() + bound_s)


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
        accepted = wait_accepted(server, slow)
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
                if exc.kind != "timeout":  # refused or reset: back off, unless the server is gone
                    until(server.failure, time.monotonic() + 0.05)
    finally:
        slow.close()
    worst = ms(max(latencies)) if latencies else None
    figures = {"hold_s": hold, "served": served, "failed": failed, "max_latency_ms": worst,
               "last_failure": last_failure, "slow_accepted": accepted}
    if served == 0:
        return ProbeResult(name, FAILS, f"starved: 0 in {hold:g} s", f"while one connection held a half-sent "
                           f"request for {hold:g} s, no other GET was answered (last: {last_failure}).", figures)
    detail = (f"while one connection held a half-sent request for {hold:g} s, {served} sequential GETs were "
              f"answered ({failed} not), the slowest in {worst} ms.")
    if failed or worst > STALL_MS:
        return ProbeResult(name, DIFFERS, f"{served} served, max {worst:.0f} ms", detail, figures)
    return ProbeResult(name, OK, f"{served} served, max {worst:.0f} ms", detail, figures)


def crowd_client(host: str, port: int, start: threading.Barrier, deadline: float, out: list, index: int) -> None:
    """One of the crowd: wait for the others, connect, GET /plaintext, record the outcome and latency.

    If the start barrier breaks (a thread did not arrive in time), the client records "not started"
    and sends nothing: a crowd that did not start together measures nothing.
    """
    try:
        start.wait(timeout=max(0.05, deadline - time.monotonic()))
    except threading.BrokenBarrierError:
        out[index] = ("not started", 0.0)
        return
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
    unstarted = sum(kind == "not started" for kind, _ in outcomes)
    if unstarted:
        return ProbeResult(name, ERROR, "crowd did not start", f"the start barrier broke: {unstarted} of {count} "
                           "clients never sent their request, so no crowd was measured.",
                           {"connections": count, "not_started": unstarted})
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
            stop.wait(0.01)  # back off a refusing server, unless told to stop


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
    def gone() -> bool:
        child.exit_code()  # reaps the leader once it exits
        return not alive(procs)

    if until(gone, since + bound, interval=0.005):
        out["exit_s"] = time.monotonic() - since


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
    until(lambda: sum(a.kind == "answered" for a in attempts) >= 50, time.monotonic() + 3.0)
    warm = sum(a.kind == "answered" for a in attempts)
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
        stop.set()  # each load client finishes its attempt in flight (bounded by its timeouts), then stops
        joined = time.monotonic() + 6.0
        for thread in threads:
            thread.join(max(0.05, joined - time.monotonic()))
    exited_after = exit_info.get("exit_s")
    code = server.child.exit_code()
    load_in_flight = [a for a in list(attempts) if a.sent is not None and a.sent < termed <= a.ended]
    in_flight = burst_kinds + [a.kind for a in load_in_flight]
    dropped = [kind for kind in in_flight if kind != "answered"]
    figures = {"processes": len(procs), "exit_code": code, "warm_answered": warm,
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


#: What each behaviour probe means for someone running the server: the matrix row's last column.
MEANING = {
    "keep-alive": "Without keep-alive every request pays a new TCP connection: latency and throughput lost "
                  "behind a proxy that reuses connections, or with browsers.",
    "pipelining": "Some proxies and clients pipeline: answering both in order is right, closing after the "
                  "first is a safe refusal, anything else corrupts traffic.",
    "chunked-body": "Streamed uploads arrive chunked: a server that cannot de-chunk refuses them or hands the "
                    "app an empty body.",
    "head": "Monitors and caches send HEAD, and many apps return their body for it: a server that sends it "
            "anyway desynchronises keep-alive connections.",
    "unframed-response": "Apps that stream set no Content-Length: a server that chunks keeps the connection, "
                         "one that closes costs a new connection per such answer.",
    "expect-100": "curl and many libraries send Expect: 100-continue with uploads and wait (curl: 1 s) for "
                  "it: without it, every such upload waits.",
    "header-16k": "Big cookies and tokens make 8-16 KB headers real: refusing them breaks those clients.",
    "header-64k": "A 64 KB header is abuse: refusing it with a 4xx is fine; crashing or hanging is not.",
    "malformed-request-line": "Scanners send garbage to every public port: it should get a cheap 4xx and "
                              "never crash, hang or reach the app.",
    "body-over-cap": "The app refuses oversized bodies (413) before reading them: the server must still "
                     "deliver that answer, not reset the connection.",
    "slow-client": "A slow or malicious client must not hold the only worker, or one connection takes the "
                   "site down: put a buffering proxy in front of a server that fails this.",
    "connections-over-workers": "Bursts bigger than the server's workers are routine: they should be queued "
                                "and answered, not refused or left hanging.",
    "sigterm-under-load": "Deploys, autoscalers and docker stop send SIGTERM: a graceful server answers "
                          "what is in flight and exits within the grace period (10 s in Docker).",
}

#: Probes that need the server's own process (``server.child``): local runs only.
NEEDS_PROCESS = ("sigterm-under-load",)

#: Every behaviour probe, in matrix order.
BEHAVIOUR: dict[str, Callable] = {
    "keep-alive": probe_keep_alive,
    "pipelining": probe_pipelining,
    "chunked-body": probe_chunked_body,
    "head": probe_head,
    "unframed-response": probe_unframed_response,
    "expect-100": probe_expect_100,
    "header-16k": big_header(16 * 1024),
    "header-64k": big_header(64 * 1024),
    "malformed-request-line": probe_malformed_request_line,
    "body-over-cap": probe_body_over_cap,
    "slow-client": probe_slow_client,
    "connections-over-workers": probe_connections_over_workers,
    "sigterm-under-load": probe_sigterm_under_load,
}

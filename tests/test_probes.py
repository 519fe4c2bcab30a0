"""Conformance probes against real servers on 127.0.0.1, no mocks.

Few servers and the quick probes only, to stay fast: gunicorn (sync, strict parser, strips HEAD
bodies) against bjoern (C parser, lenient), waitress and wsgiref where a row needs them.  The
assertions are facts that held on every run on the lab's 2-core machine; figures that vary run to
run (latencies) are only bounded.
"""

import dataclasses
import hashlib
import json
import os
import socket
import threading
import time

import pytest

import servers
from lab.config import BenchOptions
from lab.local import LocalBackend
from lab.probe import MEANING, PROBES, ProbeSettings, checks, corpus, parsing, probe_server, replay_corpus
from lab.probe.client import NoReply, RawConnection, Reply, request
from lab.process import leftovers

CONFIGS = servers.discover()
_CPUS = sorted(os.sched_getaffinity(0))
OPTIONS = BenchOptions(server_cpus=_CPUS[:1], generator_cpus=_CPUS[1:] or _CPUS, workers=[1], threads=[4],
                       start_timeout=20.0, stop_timeout=10.0)
SETTINGS = ProbeSettings(slow_client_s=1.0, crowd=16)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("probes")
    yield path
    assert leftovers(path) == [], "a probe's server outlived it"


@pytest.fixture(scope="module")
def probed(run_dir):
    """``probed(server, probes)``: the results of ``probes`` on ``server``, run once, by probe name."""
    cache = {}

    def get(server: str, names: tuple[str, ...]) -> dict[str, dict]:
        if (server, names) not in cache:
            rows = probe_server(CONFIGS[server], OPTIONS, LocalBackend(), run_dir, probes=list(names),
                                settings=SETTINGS)
            cache[server, names] = {row["probe"]: row for row in rows}
            for row in rows:
                assert row["outcome"] != "error", row
        return cache[server, names]

    return get


QUICK = ("keep-alive", "pipelining", "chunked-body", "head", "unframed-response", "malformed-request-line",
         "body-over-cap")
PARSING = tuple(parsing.PARSING)


def test_registry_is_in_matrix_order_and_documented():
    assert list(PROBES)[:4] == ["keep-alive", "pipelining", "chunked-body", "head"]
    assert list(PROBES)[-len(PARSING):] == list(PARSING)
    assert {"cl-with-te", "cl-signed", "chunk-size-0x", "bare-lf", "nul-in-header", "host-duplicate"} <= set(PARSING)
    for name, probe in PROBES.items():
        assert probe.__doc__ and len(probe.__doc__) > 50, name
        assert len(MEANING[name]) > 40, name  # the matrix row's "what it means for you"


@pytest.mark.parametrize("server", ["gunicorn", "bjoern", "waitress"])
def test_head_tells_servers_apart_with_an_app_that_returns_a_body(probed, server):
    result = probed(server, QUICK)["head"]
    assert result["figures"]["status"] == 200
    if server == "gunicorn":  # drops the body the app returned
        assert (result["outcome"], result["figures"]["stray_bytes"]) == ("ok", 0), result["detail"]
    else:  # bjoern and waitress pass the app's HEAD body on to the wire
        assert result["outcome"] == "fails" and result["figures"]["stray_bytes"] > 0, result["detail"]


@pytest.mark.parametrize("server", ["gunicorn", "bjoern"])
def test_behaviour_probes_on_the_probe_app(probed, server):
    results = probed(server, QUICK)
    assert results["chunked-body"]["outcome"] == "ok"
    assert results["body-over-cap"]["summary"] == "413"
    assert results["unframed-response"]["figures"]["framing"] == "chunked"
    if server == "gunicorn":  # sync worker: one request per connection
        assert results["keep-alive"]["summary"] == "closes"
        assert results["pipelining"]["figures"]["answered"] == ["/first"]
    else:  # bjoern answers only the last request of a read
        assert results["keep-alive"]["summary"] == "keeps alive"
        assert results["pipelining"]["figures"]["answered"] == ["/second"]


def test_the_parsing_rows_run_and_servers_disagree(probed):
    """cl-duplicate-differ checked by hand: gunicorn answers 400 and closes; bjoern hands the app a
    body framed by one of the two Content-Lengths."""
    gunicorn, bjoern = probed("gunicorn", PARSING), probed("bjoern", PARSING)
    assert list(gunicorn) == list(bjoern) == list(PARSING)
    for results in (gunicorn, bjoern):
        assert {row["figures"]["class"] for row in results.values()} <= {"rejected", "normalised", "ambiguous",
                                                                         "stalled"}
    assert gunicorn["cl-duplicate-differ"]["figures"]["class"] == "rejected"
    assert gunicorn["cl-duplicate-differ"]["figures"]["answers"] == ["400"]
    assert bjoern["cl-duplicate-differ"]["figures"]["class"] == "ambiguous"
    assert bjoern["cl-duplicate-differ"]["outcome"] == "fails"
    assert gunicorn["nul-in-header"]["figures"]["class"] == "rejected"
    assert bjoern["nul-in-header"]["figures"]["class"] == "ambiguous"  # the NUL reaches the app


def echo_reply(**seen) -> Reply:
    body = json.dumps(seen).encode()
    return Reply(200, "1.1", {"content-type": "application/x-probe-echo+json"}, body, [], 0.0, True)


def test_reference_is_h11_plus_the_rfc_rules():
    case = parsing.BY_NAME["cl-with-te"]
    ref = parsing.reference(case.data + parsing.END)
    assert [seen.target for seen in ref.requests] == ["/p/1"] and ref.error is None  # RFC 9112 6.1: then close
    ref = parsing.reference(parsing.BY_NAME["cl-duplicate-differ"].data)
    assert ref.requests == [] and "Content-Length" in ref.error
    ref = parsing.reference(parsing.BY_NAME["te-odd-case"].data + parsing.END)
    assert [s.body for s in ref.requests] == [b"hello", b""]


def test_classifier_against_h11_on_fixed_bytes():
    case = parsing.BY_NAME["te-odd-case"]
    ref = parsing.reference(case.data + parsing.END)
    right = echo_reply(path="/p/1", body_length=5, body_sha256=hashlib.sha256(b"hello").hexdigest(), headers={})
    wrong = echo_reply(path="/p/1", body_length=0, body_sha256=hashlib.sha256(b"").hexdigest(), headers={})
    smuggled = echo_reply(path="/p/smuggled", body_length=0, body_sha256=hashlib.sha256(b"").hexdigest(), headers={})
    refused = Reply(400, "1.1", {}, b"", [], 0.0, False)
    assert parsing.classify(case, [right], None, ref).kind == "normalised"
    assert parsing.classify(case, [wrong], None, ref).kind == "ambiguous"
    assert parsing.classify(case, [right, smuggled], None, ref).kind == "ambiguous"
    assert parsing.classify(case, [refused], None, ref).kind == "rejected"
    joined = echo_reply(path="/p/1", body_length=None, body_sha256=None, headers={"CONTENT_LENGTH": "5, 5"})
    assert parsing.classify(case, [joined], None, ref).kind == "ambiguous"  # uwsgi joins two Content-Lengths
    host = parsing.BY_NAME["absolute-form-other-host"]
    ref = parsing.reference(host.data + parsing.END)
    seen = dict(path="/p/1", body_length=0, body_sha256=hashlib.sha256(b"").hexdigest(), headers={})
    assert parsing.classify(host, [echo_reply(host="probe.local", **seen)], None, ref).kind == "ambiguous"
    assert parsing.classify(host, [echo_reply(host="other.example", **seen)], None, ref).kind == "normalised"


def test_crowd_client_records_a_broken_barrier_instead_of_queueing():
    out = [None]
    barrier = threading.Barrier(2)  # the second party never comes
    checks.crowd_client("127.0.0.1", 9, barrier, time.monotonic() + 0.2, out, 0)
    assert out == [("not started", 0.0)]


GUNICORN_STYLE = {
    "valid/001.http": b"POST /a HTTP/1.1\\r\\n\nHost: x\\r\\n\nContent-Length: 5\\r\\n\n\\r\\n\nhello",
    "valid/001.py": b'request = {"method": "POST", "uri": uri("/a"), "version": (1, 1),\n'
                    b'           "headers": [("HOST", "x")], "body": b"hello"}\n',
    "valid/002.http": b"GET /b HTTP/1.1\\r\\n\nHost: x\\r\\n\nX-Tab: a\\tb\\r\\n\n\\r\\n",
    "invalid/001.http": b"GET /c HTTP/1.1\\r\\n\nHost: x\\r\\n\nContent-Length: +5\\r\\n\n\\r\\n\nhello",
    "invalid/001.py": b"from gunicorn.http.errors import InvalidHeader\nrequest = InvalidHeader\n",
    "invalid/002.http": b"GET /d HTTP/1.1\\r\\n\nHost: x\\r\\n\nX: a\\x00b\\r\\n\n\\r\\n",
}


def write_corpus(folder):
    for name, data in GUNICORN_STYLE.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_corpus_reads_like_gunicorns_treq(tmp_path):
    entries = {entry.name: entry for entry in corpus.load(write_corpus(tmp_path))}
    assert entries["valid/001.http"].data == b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    assert entries["valid/001.http"].requests == [{"method": "POST", "body": b"hello"}]
    assert entries["valid/002.http"].expect is None and b"a\tb" in entries["valid/002.http"].data
    assert entries["invalid/002.http"].expect == "invalid" and b"a\x00b" in entries["invalid/002.http"].data


@pytest.mark.parametrize("server", ["gunicorn", "bjoern"])
def test_corpus_replay_tallies_each_server(tmp_path, server):
    out = replay_corpus(CONFIGS[server], OPTIONS, LocalBackend(), tmp_path, write_corpus(tmp_path / "corpus"))
    tally = out["tally"]
    assert tally["files"] == 4 and tally["no_expectation"] == 1
    by_file = {row["file"]: row for row in out["results"]}
    assert by_file["valid/001.http"]["as_expected"] is True
    if server == "gunicorn":
        assert (tally["as_expected"], tally["unexpected"]) == (3, 0), out["results"]
    else:  # bjoern hands the NUL header to the app
        assert by_file["invalid/002.http"]["as_expected"] is False, out["results"]
    assert leftovers(tmp_path) == []


class MainAppBackend(LocalBackend):
    """Local servers that run the lab's benchmark app, as containers do unless told otherwise."""

    def server(self, config, options, workers, threads, log_path, run_dir):
        return super().server(config, dataclasses.replace(options, app="raw"), workers, threads, log_path, run_dir)


def test_a_server_without_the_probe_app_is_an_error_for_each_probe(tmp_path):
    rows = probe_server(CONFIGS["waitress"], OPTIONS, MainAppBackend(), tmp_path, probes=["head", "cl-signed"],
                        settings=SETTINGS)
    assert [(row["probe"], row["outcome"], row["summary"]) for row in rows] == [
        ("head", "error", "did not start"), ("cl-signed", "error", "did not start")]
    assert "probe app" in rows[0]["detail"]
    assert leftovers(tmp_path) == []


def test_unknown_probe_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown probe"):
        probe_server(CONFIGS["waitress"], OPTIONS, LocalBackend(), tmp_path, probes=["no-such-probe"])


def test_a_reply_delimited_by_close_is_not_reusable():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nunframed")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with RawConnection(*listener.getsockname(), timeout=2) as raw:
            raw.send(request("GET", "/"))
            reply = raw.read_reply()
        thread.join(2)
    assert (reply.body, reply.reusable) == (b"unframed", False)


def test_raw_client_reads_dribbled_and_back_to_back_replies():
    """Replies cut into 1-byte writes, two replies in one write, then a close: parsed in order."""
    replies = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
               b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                for byte in replies[:20]:
                    conn.sendall(bytes([byte]))
                conn.sendall(replies[20:])

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with RawConnection(*listener.getsockname(), timeout=2) as raw:
            raw.send(request("GET", "/"))
            first, second = raw.read_reply(), raw.read_reply()
            with pytest.raises(NoReply) as closed:
                raw.read_reply(timeout=1)
        thread.join(2)
    assert (first.status, first.body, second.status, second.body) == (200, b"hi", 404, b"")
    assert closed.value.kind == "closed"

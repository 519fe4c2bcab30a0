"""The workload logic (``app.workloads``) on its own: pure functions, parsers, caps, known answers.

The routes themselves, in both flavours, are covered by ``test_app_contract``.  Timing is only
ever asserted from below (``/io`` waits *at least* N ms): an upper bound would fail on a busy
machine without anything being wrong.
"""

import hashlib
import io
import json
import time

import pytest

from app import content as c
from app import workloads as w


# --- the declared constants ----------------------------------------------------------------------

def test_caps_and_defaults():
    assert (c.IO_DEFAULT_MS, c.IO_MAX_MS) == (20, 1000)
    assert c.CPU_MAX_N == 100 * c.CPU_DEFAULT_N
    assert c.BYTES_MAX_KB == 4096
    assert c.UPLOAD_CAP == 8 * 1024 * 1024
    assert c.UPLOAD_CAP > c.FORM_BODY_CAP
    assert 1024 % len(c.BYTES_PATTERN) == 0


def test_known_cpu_sums_are_what_the_code_computes():
    assert c.CPU_DEFAULT_N in c.CPU_KNOWN_SUMS
    for n, total in c.CPU_KNOWN_SUMS.items():
        assert w.cpu_sum(n) == total


# --- /cpu ----------------------------------------------------------------------------------------

def reference_sum(n: int) -> int:
    """The recurrence written out independently: x' = (1103515245 x + 12345) mod 2**32, x0 = 1."""
    x, total = 1, 0
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**32
        total = (total + x) % 2**32
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000, c.CPU_DEFAULT_N])
def test_cpu_sum_matches_the_recurrence(n):
    assert w.cpu_sum(n) == reference_sum(n)


def test_cpu_sum_is_deterministic_and_32_bit():
    assert w.cpu_sum(0) == 0
    assert w.cpu_sum(1) == 1103527590
    results = {w.cpu_sum(c.CPU_DEFAULT_N) for _ in range(3)}
    assert len(results) == 1
    assert 0 <= results.pop() < 2**32


def test_compute_answer():
    status, content_type, body = w.compute(1000)
    assert (status, content_type) == (200, c.TEXT)
    assert body == b"n=1000 sum=662615452"


def test_compute_at_the_cap():
    status, _, body = w.compute(c.CPU_MAX_N)
    assert status == 200
    assert body == c.cpu_body(c.CPU_MAX_N, reference_sum(c.CPU_MAX_N))


def test_cpu_answer_caps_and_defaults():
    assert w.cpu_answer({}) == w.compute(c.CPU_DEFAULT_N)
    assert w.cpu_answer({"QUERY_STRING": "n=5"}) == w.compute(5)
    assert w.cpu_answer({"QUERY_STRING": f"n={c.CPU_MAX_N + 1}"}) == w.BAD_PARAMETER
    assert w.cpu_answer({"QUERY_STRING": "n=1&n=1"}) == w.BAD_PARAMETER


# --- /io -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("ms", [0, 1, 5, 25])
def test_wait_waits_at_least_n_ms(ms):
    started = time.monotonic()
    status, content_type, body = w.wait(ms)
    assert time.monotonic() - started >= ms / 1000
    assert (status, content_type, body) == (200, c.TEXT, f"waited {ms} ms".encode())


def test_io_answer_default_waits_at_least_20_ms():
    started = time.monotonic()
    assert w.io_answer({"QUERY_STRING": ""}) == (200, c.TEXT, b"waited 20 ms")
    assert time.monotonic() - started >= c.IO_DEFAULT_MS / 1000


def test_wait_looks_up_time_sleep_at_call_time(monkeypatch):
    """So a gevent-patched ``time.sleep`` (which yields) is the one used."""
    calls = []
    monkeypatch.setattr(time, "sleep", calls.append)
    w.wait(7)
    assert calls == [0.007]


@pytest.mark.parametrize("query", [f"ms={c.IO_MAX_MS + 1}", "ms=-1", "ms=abc", "ms=1&ms=2", "ms"])
def test_io_answer_refuses_without_sleeping(monkeypatch, query):
    calls = []
    monkeypatch.setattr(time, "sleep", calls.append)
    assert w.io_answer({"QUERY_STRING": query}) == w.BAD_PARAMETER
    assert calls == []


# --- /bytes/<kb> ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kb", [1, 3, 64, 1024, c.BYTES_MAX_KB])
def test_payload(kb):
    status, content_type, body = w.payload(kb)
    assert (status, content_type) == (200, "application/octet-stream")
    assert len(body) == kb * 1024
    assert body[:20] == b"0123456789abcdef0123"
    assert body == (c.BYTES_PATTERN * (kb * 1024 // 16 + 1))[:kb * 1024]


@pytest.mark.parametrize("path, segment", [
    ("/bytes/1", "1"), ("/bytes/abc", "abc"), ("/bytes/", None), ("/bytes", None), ("/bytes/1/", None),
    ("/bytes//1", None), ("/io", None), ("/x/bytes/1", None),
])
def test_bytes_segment(path, segment):
    assert w.bytes_segment(path) == segment


def test_bytes_answer():
    assert w.bytes_answer({"PATH_INFO": "/bytes/64"}) == w.payload(64)
    assert w.bytes_answer({"PATH_INFO": "/bytes/0"}) == w.BAD_PARAMETER
    assert w.bytes_answer({"PATH_INFO": f"/bytes/{c.BYTES_MAX_KB + 1}"}) == w.BAD_PARAMETER
    assert w.bytes_answer({"PATH_INFO": "/bytes/"}) == w.BAD_PARAMETER


# --- /upload -------------------------------------------------------------------------------------

def test_digest():
    status, content_type, body = w.digest(b"hello")
    assert (status, content_type) == (200, c.JSON)
    assert json.loads(body) == {"length": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
    assert body == b'{"length": 5, "sha256": "' + hashlib.sha256(b"hello").hexdigest().encode() + b'"}'


def test_upload_answer_uses_the_upload_cap():
    body = b"x" * (c.FORM_BODY_CAP + 1)  # over the form's cap, far under the upload's
    environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    assert w.upload_answer(environ) == w.digest(body)
    environ = {"wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": str(c.UPLOAD_CAP + 1)}
    assert w.upload_answer(environ) == (413, c.HTML, c.TOO_LARGE)
    environ = {"wsgi.input": io.BytesIO(b"abc"), "CONTENT_LENGTH": "4"}
    assert w.upload_answer(environ) == (400, c.HTML, c.BAD_BODY)


# --- strict parsing ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), ("0007", 7), ("1000", 1000), ("0" * 50 + "5", 5)])
def test_parse_count_accepts(text, value):
    assert w.parse_count(text, 0, 1000) == value


@pytest.mark.parametrize("text", [
    "", "1001", "10000", "-1", "+1", " 1", "1 ", "1.0", "1e2", "0x1", "1_0", "\u0661", "\xb2", "9" * 5000,
])
def test_parse_count_refuses(text):
    with pytest.raises(w.BadParameter):
        w.parse_count(text, 0, 1000)


def test_parse_count_lower_bound():
    with pytest.raises(w.BadParameter):
        w.parse_count("0", 1, 10)
    assert w.parse_count("1", 1, 10) == 1


@pytest.mark.parametrize("query, value", [
    ("", None), ("x=1", None), ("ms=5", "5"), ("a&ms=5&b=", "5"), ("ms=%35", "5"), ("m%73=5", "5"),
    ("ms", ""), ("ms=", ""), ("ms=1+2", "1 2"), ("MS=5", None), ("ms=%zz", "%zz"), ("ms=%ff", "\ufffd"),
])
def test_query_value(query, value):
    assert w.query_value(query, "ms") == value


@pytest.mark.parametrize("query", ["ms=1&ms=1", "ms=1&ms=2", "ms&ms", "ms=1&m%73=1"])
def test_query_value_repeated_is_refused(query):
    with pytest.raises(w.BadParameter):
        w.query_value(query, "ms")


def test_count_parameter_default_and_cap():
    assert w.count_parameter("", "ms", 20, 1000) == 20
    assert w.count_parameter("ms=1000", "ms", 20, 1000) == 1000
    with pytest.raises(w.BadParameter):
        w.count_parameter("ms=1001", "ms", 20, 1000)


# --- routing table -------------------------------------------------------------------------------

def test_route():
    assert w.route("/io") == (c.GET_METHODS, w.io_answer)
    assert w.route("/cpu") == (c.GET_METHODS, w.cpu_answer)
    assert w.route("/upload") == (("POST",), w.upload_answer)
    assert w.route("/bytes/64") == (c.GET_METHODS, w.bytes_answer)
    assert w.route("/bytes/nope") == (c.GET_METHODS, w.bytes_answer)
    for path in ("/", "/sign", "/io/", "/bytes/", "/bytes/1/x", "/uploads"):
        assert w.route(path) is None

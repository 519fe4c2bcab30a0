"""Contract tests: both application flavours answer exactly what ``app.content`` declares.

Every test runs once per flavour in ``app.FLAVOURS`` and calls the WSGI callable directly,
wrapped in ``wsgiref.validate.validator`` (its warnings are errors here), so each answer is also
checked for WSGI conformance.  The request body is a stream that counts the bytes the
application pulled out of it, to prove the body cap holds.
"""

import hashlib
import http.client
import importlib
import io
import json
import threading
import time
import wsgiref.simple_server
import wsgiref.util
from dataclasses import dataclass
from urllib.parse import urlencode
from wsgiref.validate import validator

import pytest

import app
from app import content as c
from tests.wsgi_call import validated_call

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

GOOD = urlencode({"username": c.USERNAME, "password": c.PASSWORD}).encode()
CAP = c.FORM_BODY_CAP


def load(target: str):
    """Import a "module:attribute" WSGI target, as a server would."""
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.fixture(params=sorted(app.FLAVOURS))
def wsgi_app(request):
    return load(app.FLAVOURS[request.param])


class CountingInput:
    """A ``wsgi.input`` that counts bytes handed out and may trickle (short reads, like a socket)."""

    def __init__(self, data: bytes, trickle: int | None = None):
        self._data = io.BytesIO(data)
        self._trickle = trickle
        self.bytes_read = 0

    def _count(self, chunk: bytes) -> bytes:
        self.bytes_read += len(chunk)
        return chunk

    def read(self, size: int = -1) -> bytes:
        if self._trickle is not None and (size is None or size < 0 or size > self._trickle):
            size = self._trickle
        return self._count(self._data.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._count(self._data.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._count(line) for line in self._data.readlines(hint)]

    def __iter__(self):
        return iter(self.readline, b"")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    bytes_read: int


def call(application, method: str, path: str, body: bytes = b"", *, content_type=c.FORM,
         length: str | None = "auto", terminated: bool = False, trickle: int | None = None,
         query: str = "", after_validation: dict | None = None) -> Answer:
    """Run one request through the validated app and check the invariants every answer obeys.

    ``after_validation`` sets environ keys after the validator's environ check, for deliberately
    invalid values (a negative CONTENT_LENGTH, a lower-case method) that the validator would
    reject as a server bug but that the application must still survive.
    """
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    wsgiref.util.setup_testing_defaults(environ)
    stream = CountingInput(body, trickle)
    environ["wsgi.input"] = stream
    if content_type is not None and method == "POST":
        environ["CONTENT_TYPE"] = content_type
    if length == "auto":
        length = str(len(body)) if body else None
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    if terminated:
        environ["wsgi.input_terminated"] = True

    status_line, header_list, received = validated_call(
        application, environ, lambda env: env.update(after_validation or {}))
    headers = {name.lower(): value for name, value in header_list}
    assert headers["content-type"] in (c.HTML, c.TEXT, c.JSON, c.OCTETS)
    assert headers["content-length"].isdigit()
    if environ["REQUEST_METHOD"] == "HEAD":
        assert received == b""
    else:
        assert int(headers["content-length"]) == len(received)
    return Answer(int(status_line[:3]), headers, received, stream.bytes_read)


def post(application, body: bytes, **kwargs) -> Answer:
    return call(application, "POST", c.SIGN_PATH, body, **kwargs)


def padded(size: int) -> bytes:
    """The good credentials plus a filler field, exactly ``size`` bytes long."""
    head = GOOD + b"&pad="
    return head + b"x" * (size - len(head))


# --- the flavour table ---------------------------------------------------------------------------

def test_flavours_are_importable_wsgi_targets():
    assert set(app.FLAVOURS) == {"raw", "flask"}
    assert app.FLAVOURS["raw"] == "app:application"
    from app import raw

    assert load(app.FLAVOURS["raw"]) is raw.application is app.application
    assert callable(load(app.FLAVOURS["flask"]))
    assert load(app.FLAVOURS["flask"]) is not app.application


# --- pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(c.PAGES))
def test_get_page(wsgi_app, path):
    body, content_type = c.PAGES[path]
    answer = call(wsgi_app, "GET", path)
    assert answer.status == 200
    assert answer.body == body
    assert answer.headers["content-type"] == content_type
    assert answer.headers["content-length"] == str(len(body))
    assert "allow" not in answer.headers


def test_page_content_types(wsgi_app):
    assert call(wsgi_app, "GET", "/").headers["content-type"] == "text/html; charset=utf-8"
    assert call(wsgi_app, "GET", "/plaintext").headers["content-type"] == "text/plain; charset=utf-8"
    assert call(wsgi_app, "GET", "/json").headers["content-type"] == "application/json"
    assert call(wsgi_app, "GET", "/json").body == b'{"message": "Hello, World!"}'


@pytest.mark.parametrize("path", sorted(c.PAGES))
def test_head_page(wsgi_app, path):
    body, content_type = c.PAGES[path]
    answer = call(wsgi_app, "HEAD", path)
    assert answer.status == 200
    assert answer.body == b""
    assert answer.headers["content-type"] == content_type
    assert answer.headers["content-length"] == str(len(body))


def test_query_string_is_ignored(wsgi_app):
    answer = call(wsgi_app, "GET", "/plaintext", after_validation={"QUERY_STRING": "a=1&b"})
    assert (answer.status, answer.body) == (200, c.PLAINTEXT)


# --- 404 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/nope", "/json/", "/signin/", "/sign/", "//json", "/json//", "/JSON", "/plaintext.txt",
    "/static/app.css", "/index.html", "/sign/in", "", "/%6Ason",
])
def test_unknown_path_is_404(wsgi_app, path):
    answer = call(wsgi_app, "GET", path)
    assert answer.status == 404
    assert answer.body == c.NOT_FOUND
    assert answer.headers["content-type"] == c.HTML


@pytest.mark.parametrize("method", ["HEAD", "POST", "DELETE"])
def test_unknown_path_is_404_for_any_method(wsgi_app, method):
    answer = call(wsgi_app, method, "/nope", content_type=None)
    assert answer.status == 404
    assert answer.headers["content-length"] == str(len(c.NOT_FOUND))
    assert answer.body == (b"" if method == "HEAD" else c.NOT_FOUND)


# --- 405 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/", "GET, HEAD"),
    ("PUT", "/json", "GET, HEAD"),
    ("DELETE", "/plaintext", "GET, HEAD"),
    ("OPTIONS", "/signin", "GET, HEAD"),
    ("PATCH", "/", "GET, HEAD"),
    ("GET", "/sign", "POST"),
    ("PUT", "/sign", "POST"),
    ("OPTIONS", "/sign", "POST"),
])
def test_wrong_method_is_405_with_allow(wsgi_app, method, path, allow):
    answer = call(wsgi_app, method, path, content_type=None)
    assert answer.status == 405
    assert answer.headers["allow"] == allow
    assert answer.body == c.METHOD_NOT_ALLOWED
    assert answer.headers["content-type"] == c.HTML


def test_head_on_sign_is_405_without_body(wsgi_app):
    answer = call(wsgi_app, "HEAD", c.SIGN_PATH)
    assert answer.status == 405
    assert answer.headers["allow"] == "POST"
    assert answer.body == b""
    assert answer.headers["content-length"] == str(len(c.METHOD_NOT_ALLOWED))


@pytest.mark.parametrize("method, path, allow", [
    ("get", "/json", "GET, HEAD"),
    ("Get", "/", "GET, HEAD"),
    ("post", "/sign", "POST"),
    ("BREW", "/plaintext", "GET, HEAD"),
])
def test_methods_are_case_sensitive_and_unknown_ones_405(wsgi_app, method, path, allow):
    answer = call(wsgi_app, "GET", path, after_validation={"REQUEST_METHOD": method})
    assert answer.status == 405
    assert answer.headers["allow"] == allow
    assert answer.body == c.METHOD_NOT_ALLOWED


# --- POST /sign: credentials ---------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type", [
    (GOOD, c.FORM),
    (b"password=password&username=admin", c.FORM),
    (b"user%6Eame=%61dmin&password=passwor%64", c.FORM),
    (GOOD + b"&remember=on&", c.FORM),
    (GOOD, "application/x-www-form-urlencoded; charset=UTF-8"),
    (GOOD, "Application/X-WWW-Form-URLEncoded"),
])
def test_good_credentials(wsgi_app, body, content_type):
    answer = post(wsgi_app, body, content_type=content_type)
    assert answer.status == 200
    assert answer.body == c.GREETING
    assert answer.headers["content-type"] == c.HTML
    assert answer.bytes_read == len(body)


def test_good_credentials_over_a_trickling_stream(wsgi_app):
    answer = post(wsgi_app, GOOD, trickle=3)
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == len(GOOD)


@pytest.mark.parametrize("body", [
    b"username=admin&password=wrong",
    b"username=root&password=password",
    b"username=Admin&password=password",
    b"username=admin&password=Password",
    b"username=admin&password=passwor",
    b"username=admin&password=password1",
    b"username=admin+&password=password",
    b"username=&password=",
    b"username&password",
    b"username=admin&password=p%C3%A4ssword",
    "username=admin&password=pässword".encode("utf-8"),
    "username=ädmin&password=password".encode("utf-8"),
    b"username=admin&password=password%00",
])
def test_bad_credentials_are_403(wsgi_app, body):
    answer = post(wsgi_app, body)
    assert answer.status == 403
    assert answer.body == c.BAD_CREDENTIALS
    assert answer.headers["content-type"] == c.HTML


# --- POST /sign: unusable forms ------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"",
    b"username=admin",
    b"password=password",
    b"user=admin&pass=password",
    b"username=admin&username=admin&password=password",
    b"username=admin&password=password&password=password",
    b"username=admin&password=x&password=password",
    b"username=admin&password=pass\xffword",
    b"\xff\xfe",
    b"username=admin&password=%ff",
    b"username=%c3&password=password",
    b"username=admin&password=%ED%A0%80",
])
def test_unusable_form_is_400(wsgi_app, body):
    answer = post(wsgi_app, body)
    assert answer.status == 400
    assert answer.body == c.BAD_FORM
    assert answer.headers["content-type"] == c.HTML


@pytest.mark.parametrize("content_type", [
    None, "", "text/plain", "application/json", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencodedX",
])
def test_wrong_content_type_is_400(wsgi_app, content_type):
    answer = post(wsgi_app, GOOD, content_type=content_type)
    assert answer.status == 400
    assert answer.body == c.BAD_FORM


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "0x10", "+5", "1_0", "\u0661\u0662", "5 5"])
def test_bad_content_length_is_400_and_nothing_is_read(wsgi_app, length):
    answer = post(wsgi_app, GOOD, length=None, after_validation={"CONTENT_LENGTH": length})
    assert answer.status == 400
    assert answer.body == c.BAD_FORM
    assert answer.bytes_read == 0


def test_body_shorter_than_content_length_is_400(wsgi_app):
    answer = post(wsgi_app, GOOD, length=str(len(GOOD) + 10))
    assert answer.status == 400
    assert answer.body == c.BAD_FORM


def test_only_content_length_bytes_are_read(wsgi_app):
    answer = post(wsgi_app, GOOD + b"&password=more" * 100, length=str(len(GOOD)))
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == len(GOOD)


def test_missing_content_length_means_empty_body(wsgi_app):
    answer = post(wsgi_app, GOOD, length=None)
    assert (answer.status, answer.body) == (400, c.BAD_FORM)
    assert answer.bytes_read == 0


def test_zero_content_length_reads_nothing(wsgi_app):
    answer = post(wsgi_app, GOOD, length="0")
    assert (answer.status, answer.body) == (400, c.BAD_FORM)
    assert answer.bytes_read == 0


# --- POST /sign: the cap -------------------------------------------------------------------------

def test_body_at_the_cap_is_accepted(wsgi_app):
    body = padded(CAP)
    answer = post(wsgi_app, body)
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == CAP


@pytest.mark.parametrize("length", [str(CAP + 1), str(10**12), "0" + str(CAP + 1), "9" * 5000])
def test_content_length_over_cap_is_413_before_reading(wsgi_app, length):
    # Set after validation: the validator itself int()s CONTENT_LENGTH and chokes on 5000 digits.
    answer = post(wsgi_app, padded(CAP + 1), length=None, after_validation={"CONTENT_LENGTH": length})
    assert answer.status == 413
    assert answer.body == c.TOO_LARGE
    assert answer.headers["content-type"] == c.HTML
    assert answer.bytes_read == 0


def test_leading_zeros_in_content_length_are_fine(wsgi_app):
    answer = post(wsgi_app, GOOD, length="000" + str(len(GOOD)))
    assert (answer.status, answer.body) == (200, c.GREETING)


# --- POST /sign: server-terminated (de-chunked) bodies --------------------------------------------

def test_terminated_body_without_length_is_read(wsgi_app):
    answer = post(wsgi_app, GOOD, length=None, terminated=True, trickle=5)
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == len(GOOD)


def test_terminated_body_at_the_cap_is_accepted(wsgi_app):
    answer = post(wsgi_app, padded(CAP), length=None, terminated=True)
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == CAP


@pytest.mark.parametrize("size", [CAP + 1, CAP * 10])
def test_terminated_body_over_the_cap_is_413_and_bounded(wsgi_app, size):
    answer = post(wsgi_app, padded(size), length=None, terminated=True)
    assert (answer.status, answer.body) == (413, c.TOO_LARGE)
    assert answer.bytes_read <= CAP + 1


def test_terminated_empty_body_is_400(wsgi_app):
    answer = post(wsgi_app, b"", length=None, terminated=True)
    assert (answer.status, answer.body) == (400, c.BAD_FORM)


def test_terminated_body_with_content_length_uses_the_length(wsgi_app):
    answer = post(wsgi_app, GOOD + b"&x=" + b"y" * CAP, length=str(len(GOOD)), terminated=True)
    assert (answer.status, answer.body) == (200, c.GREETING)
    assert answer.bytes_read == len(GOOD)


# --- workload routes: /io, /cpu, /bytes/<kb>, /upload ----------------------------------------------

UPLOAD_CAP = c.UPLOAD_CAP
#: Query values that are not a count.  WSGI strings are latin-1 (one char per byte received), so
#: non-ASCII digits arrive percent-encoded or as their UTF-8 bytes ("\xd9\xa1" is ARABIC-INDIC ONE).
BAD_COUNTS = [
    "abc", "", "-1", "+5", " 5", "5 ", "1.5", "1e3", "0x10", "1_0", "%D9%A1%D9%A2", "\xd9\xa1", "%ff", "%2B5",
    "9" * 5000, "99999999999999999999",
]


@pytest.fixture
def sleeps(monkeypatch):
    """Record ``time.sleep`` calls instead of sleeping (the real sleep is tested in test_app_workloads)."""
    calls = []
    monkeypatch.setattr(time, "sleep", calls.append)
    return calls


def assert_bad_parameter(answer: Answer) -> None:
    assert answer.status == 400
    assert answer.body == c.BAD_PARAMETER
    assert answer.headers["content-type"] == c.HTML
    assert answer.headers["content-length"] == str(len(c.BAD_PARAMETER))


def test_io_default_sleeps_like_a_database_call(wsgi_app, sleeps):
    answer = call(wsgi_app, "GET", c.IO_PATH)
    assert (answer.status, answer.body) == (200, c.io_body(c.IO_DEFAULT_MS))
    assert answer.body == b"waited 20 ms"
    assert answer.headers["content-type"] == c.TEXT
    assert sleeps == [c.IO_DEFAULT_MS / 1000]


def test_io_really_waits(wsgi_app):
    started = time.monotonic()
    answer = call(wsgi_app, "GET", c.IO_PATH, query="ms=5")
    assert (answer.status, answer.body) == (200, b"waited 5 ms")
    assert time.monotonic() - started >= 0.005


@pytest.mark.parametrize("query, ms", [
    ("ms=0", 0), ("ms=1", 1), ("ms=5", 5), (f"ms={c.IO_MAX_MS}", c.IO_MAX_MS), ("ms=0005", 5),
    ("ms=%35", 5), ("a=1&ms=3&b", 3), ("ms=7&&x=y=z", 7), ("MS=5", c.IO_DEFAULT_MS),
    ("ms2=5&xms=6", c.IO_DEFAULT_MS), ("&", c.IO_DEFAULT_MS), ("n=5", c.IO_DEFAULT_MS),
])
def test_io_parameter(wsgi_app, sleeps, query, ms):
    answer = call(wsgi_app, "GET", c.IO_PATH, query=query)
    assert (answer.status, answer.body) == (200, c.io_body(ms))
    assert sleeps == [ms / 1000]


@pytest.mark.parametrize("value", BAD_COUNTS + [str(c.IO_MAX_MS + 1), "0" + str(c.IO_MAX_MS + 1)])
def test_io_bad_parameter_is_400_without_sleeping(wsgi_app, sleeps, value):
    assert_bad_parameter(call(wsgi_app, "GET", c.IO_PATH, query=f"x=1&ms={value}"))
    assert sleeps == []


@pytest.mark.parametrize("query", ["ms=1&ms=1", "ms=1&ms=2", "ms", "ms&ms=5", "m%73=5&ms=5"])
def test_io_missing_or_repeated_value_is_400(wsgi_app, sleeps, query):
    assert_bad_parameter(call(wsgi_app, "GET", c.IO_PATH, query=query))
    assert sleeps == []


def test_head_io(wsgi_app, sleeps):
    answer = call(wsgi_app, "HEAD", c.IO_PATH, query="ms=3")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["content-length"] == str(len(c.io_body(3)))
    assert answer.headers["content-type"] == c.TEXT


@pytest.mark.parametrize("n", sorted(c.CPU_KNOWN_SUMS))
def test_cpu_known_results(wsgi_app, n):
    answer = call(wsgi_app, "GET", c.CPU_PATH, query=f"n={n}")
    assert (answer.status, answer.body) == (200, c.cpu_body(n, c.CPU_KNOWN_SUMS[n]))
    assert answer.headers["content-type"] == c.TEXT


def test_cpu_default(wsgi_app):
    answer = call(wsgi_app, "GET", c.CPU_PATH)
    assert answer.status == 200
    assert answer.body == f"n={c.CPU_DEFAULT_N} sum={c.CPU_KNOWN_SUMS[c.CPU_DEFAULT_N]}".encode()
    assert call(wsgi_app, "GET", c.CPU_PATH, query="ms=3&x").body == answer.body


@pytest.mark.parametrize("value", BAD_COUNTS + [str(c.CPU_MAX_N + 1), str(10 * c.CPU_MAX_N)])
def test_cpu_bad_parameter_is_400(wsgi_app, value):
    assert_bad_parameter(call(wsgi_app, "GET", c.CPU_PATH, query=f"n={value}"))


def test_cpu_repeated_parameter_is_400(wsgi_app):
    assert_bad_parameter(call(wsgi_app, "GET", c.CPU_PATH, query="n=1&n=1"))


def test_head_cpu(wsgi_app):
    answer = call(wsgi_app, "HEAD", c.CPU_PATH, query="n=1000")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["content-length"] == str(len(c.cpu_body(1000, c.CPU_KNOWN_SUMS[1000])))


@pytest.mark.parametrize("kb", [1, 2, 64, 1024, c.BYTES_MAX_KB])
def test_bytes(wsgi_app, kb):
    answer = call(wsgi_app, "GET", f"{c.BYTES_PREFIX}{kb}")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert len(answer.body) == kb * 1024
    assert answer.body == c.bytes_body(kb)
    assert answer.body == (b"0123456789abcdef" * 64 * kb)


def test_bytes_with_leading_zeros_and_a_query(wsgi_app):
    answer = call(wsgi_app, "GET", "/bytes/0002", query="kb=5")
    assert (answer.status, answer.body) == (200, c.bytes_body(2))


def test_head_bytes(wsgi_app):
    answer = call(wsgi_app, "HEAD", "/bytes/64")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["content-length"] == str(64 * 1024)
    assert answer.headers["content-type"] == c.OCTETS


@pytest.mark.parametrize("segment", [
    "0", "00", str(c.BYTES_MAX_KB + 1), "10000000", "abc", "-1", "+1", "1.5", "1k", " 1", "1 ",
    "0x10", "\xd9\xa1", "%31", "\xe9", "9" * 5000,
])
def test_bytes_bad_size_is_400(wsgi_app, segment):
    assert_bad_parameter(call(wsgi_app, "GET", c.BYTES_PREFIX + segment))


def test_head_bytes_bad_size_is_400_without_body(wsgi_app):
    answer = call(wsgi_app, "HEAD", "/bytes/0")
    assert (answer.status, answer.body) == (400, b"")
    assert answer.headers["content-length"] == str(len(c.BAD_PARAMETER))


@pytest.mark.parametrize("path", [
    "/io/", "/cpu/", "/IO", "/io/5", "/bytes", "/bytes/", "/bytes/1/", "/bytes//1", "/bytes/1/2",
    "//bytes/1", "/Bytes/1", "/upload/", "/uploads", "/byte/1",
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_workload_lookalike_paths_are_404(wsgi_app, path, method):
    answer = call(wsgi_app, method, path, content_type=None)
    assert (answer.status, answer.body) == (404, c.NOT_FOUND)


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/io", "GET, HEAD"),
    ("PUT", "/cpu", "GET, HEAD"),
    ("DELETE", "/bytes/1", "GET, HEAD"),
    ("POST", "/bytes/abc", "GET, HEAD"),
    ("OPTIONS", "/io", "GET, HEAD"),
    ("GET", "/upload", "POST"),
    ("HEAD", "/upload", "POST"),
    ("PUT", "/upload", "POST"),
    ("OPTIONS", "/upload", "POST"),
])
def test_workload_wrong_method_is_405_with_allow(wsgi_app, sleeps, method, path, allow):
    answer = call(wsgi_app, method, path, content_type=None, query="ms=abc")
    assert answer.status == 405
    assert answer.headers["allow"] == allow
    assert answer.headers["content-length"] == str(len(c.METHOD_NOT_ALLOWED))
    assert answer.body == (b"" if method == "HEAD" else c.METHOD_NOT_ALLOWED)
    assert answer.bytes_read == 0
    assert sleeps == []


@pytest.mark.parametrize("method, path", [("get", "/io"), ("post", "/upload"), ("head", "/bytes/1")])
def test_workload_methods_are_case_sensitive(wsgi_app, method, path):
    answer = call(wsgi_app, "GET", path, after_validation={"REQUEST_METHOD": method})
    assert (answer.status, answer.body) == (405, c.METHOD_NOT_ALLOWED)


def upload(application, body: bytes, **kwargs) -> Answer:
    kwargs.setdefault("content_type", c.OCTETS)
    return call(application, "POST", c.UPLOAD_PATH, body, **kwargs)


def digest_of(body: bytes) -> bytes:
    return json.dumps({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode()


@pytest.mark.parametrize("body", [b"x", b"hello", bytes(range(256)) * 300, c.bytes_body(64)])
def test_upload_answers_length_and_sha256(wsgi_app, body):
    answer = upload(wsgi_app, body)
    assert answer.status == 200
    assert answer.headers["content-type"] == c.JSON
    assert answer.body == digest_of(body) == c.upload_body(len(body), hashlib.sha256(body).hexdigest())
    assert json.loads(answer.body) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert answer.bytes_read == len(body)


@pytest.mark.parametrize("content_type", [None, c.FORM, "text/plain", "multipart/form-data; boundary=x"])
def test_upload_ignores_the_content_type(wsgi_app, content_type):
    answer = upload(wsgi_app, b"data", content_type=content_type)
    assert (answer.status, answer.body) == (200, digest_of(b"data"))


def test_upload_over_a_trickling_stream(wsgi_app):
    body = c.bytes_body(16)
    answer = upload(wsgi_app, body, trickle=1000)
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(body), len(body))


@pytest.mark.parametrize("length", [None, "0"])
def test_upload_without_length_is_empty(wsgi_app, length):
    answer = upload(wsgi_app, b"unannounced", length=length)
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(b""), 0)


def test_upload_reads_only_content_length_bytes(wsgi_app):
    answer = upload(wsgi_app, b"abcdefgh" * 100, length="8")
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(b"abcdefgh"), 8)


def test_upload_at_the_cap_is_accepted(wsgi_app):
    body = b"u" * UPLOAD_CAP
    answer = upload(wsgi_app, body)
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(body), UPLOAD_CAP)


@pytest.mark.parametrize("length", [str(UPLOAD_CAP + 1), str(10**12), "0" + str(UPLOAD_CAP + 1), "9" * 5000])
def test_upload_over_the_cap_is_413_before_reading(wsgi_app, length):
    answer = upload(wsgi_app, b"u" * 1000, length=None, after_validation={"CONTENT_LENGTH": length})
    assert (answer.status, answer.body) == (413, c.TOO_LARGE)
    assert answer.headers["content-type"] == c.HTML
    assert answer.bytes_read == 0


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "0x10", "+5", "1_0", "\u0661\u0662", "5 5"])
def test_upload_bad_content_length_is_400_and_nothing_is_read(wsgi_app, length):
    answer = upload(wsgi_app, b"data", length=None, after_validation={"CONTENT_LENGTH": length})
    assert (answer.status, answer.body, answer.bytes_read) == (400, c.BAD_BODY, 0)
    assert answer.headers["content-type"] == c.HTML


def test_upload_shorter_than_content_length_is_400(wsgi_app):
    answer = upload(wsgi_app, b"data", length="10")
    assert (answer.status, answer.body) == (400, c.BAD_BODY)


def test_upload_terminated_body_without_length_is_read(wsgi_app):
    body = c.bytes_body(8)
    answer = upload(wsgi_app, body, length=None, terminated=True, trickle=777)
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(body), len(body))


def test_upload_terminated_body_at_the_cap_is_accepted(wsgi_app):
    body = b"t" * UPLOAD_CAP
    answer = upload(wsgi_app, body, length=None, terminated=True)
    assert (answer.status, answer.body, answer.bytes_read) == (200, digest_of(body), UPLOAD_CAP)


def test_upload_terminated_body_over_the_cap_is_413_and_bounded(wsgi_app):
    answer = upload(wsgi_app, b"t" * (UPLOAD_CAP * 2), length=None, terminated=True)
    assert (answer.status, answer.body) == (413, c.TOO_LARGE)
    assert answer.bytes_read <= UPLOAD_CAP + 1


@pytest.mark.parametrize("query", [
    "ms=%", "ms=%%", "ms=%zz", "%ff=1", "ms=\xff", "ms=%D9%A1", "ms=1;ms=2", "=", "==", "&&&", "ms==5", "ms=5=5",
    "n=" + "1" * 100, "ms=%00", "ms=\x00",
])
@pytest.mark.parametrize("path", [c.IO_PATH, c.CPU_PATH])
def test_odd_query_strings_are_200_or_400_never_500(wsgi_app, sleeps, path, query):
    answer = call(wsgi_app, "GET", path, query=query)
    assert answer.status in (200, 400)


def test_workload_answers_are_identical_in_both_flavours(sleeps):
    raw, flask_flavour = load(app.FLAVOURS["raw"]), load(app.FLAVOURS["flask"])
    requests = [
        ("GET", "/io", "ms=3", b""), ("GET", "/io", "ms=x", b""), ("GET", "/cpu", "n=12", b""),
        ("GET", "/cpu", "n=-1", b""), ("GET", "/bytes/3", "", b""), ("GET", "/bytes/x", "", b""),
        ("POST", "/upload", "", b"abc"), ("GET", "/upload", "", b""), ("HEAD", "/bytes/2", "", b""),
    ]
    for method, path, query, body in requests:
        one = call(raw, method, path, body, query=query, content_type=c.OCTETS)
        other = call(flask_flavour, method, path, body, query=query, content_type=c.OCTETS)
        assert (one.status, one.body, one.headers["content-type"], one.headers["content-length"]) == \
            (other.status, other.body, other.headers["content-type"], other.headers["content-length"])
        assert one.headers.get("allow") == other.headers.get("allow")


# --- a real server -------------------------------------------------------------------------------

class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    """No access log on stderr; a socket timeout so an app that over-reads fails instead of hanging."""

    timeout = 5

    def log_message(self, *args):
        pass


def test_served_by_a_real_server(wsgi_app):
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, validator(wsgi_app), handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/plaintext")
        response = connection.getresponse()
        assert response.status == 200
        assert response.read() == c.PLAINTEXT
        assert response.getheader("Content-Type") == c.TEXT
        assert response.getheader("Content-Length") == str(len(c.PLAINTEXT))
        connection.close()

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/sign", body=GOOD, headers={"Content-Type": c.FORM})
        response = connection.getresponse()
        assert response.status == 200
        assert response.read() == c.GREETING
        assert response.getheader("Content-Type") == c.HTML
        connection.close()

        upload_body = c.bytes_body(64)
        for method, path, body, status, expected in [
            ("GET", "/io?ms=1", None, 200, c.io_body(1)),
            ("GET", "/io?ms=abc", None, 400, c.BAD_PARAMETER),
            ("GET", "/cpu?n=1000", None, 200, c.cpu_body(1000, c.CPU_KNOWN_SUMS[1000])),
            ("GET", "/bytes/64", None, 200, upload_body),
            ("POST", "/upload", upload_body, 200, digest_of(upload_body)),
        ]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, body=body, headers={"Content-Type": c.OCTETS} if body else {})
            response = connection.getresponse()
            assert (response.status, response.read()) == (status, expected)
            assert response.getheader("Content-Length") == str(len(expected))
            connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

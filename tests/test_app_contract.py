"""Contract tests: both application flavours answer exactly what ``app.content`` declares.

Every test runs once per flavour in ``app.FLAVOURS`` and calls the WSGI callable directly,
wrapped in ``wsgiref.validate.validator`` (its warnings are errors here), so each answer is also
checked for WSGI conformance.  The request body is a stream that counts the bytes the
application pulled out of it, to prove the body cap holds.
"""

import http.client
import importlib
import io
import threading
import wsgiref.simple_server
import wsgiref.util
from dataclasses import dataclass
from urllib.parse import urlencode
from wsgiref.validate import validator

import pytest

import app
from app import content as c

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
         after_validation: dict | None = None) -> Answer:
    """Run one request through the validated app and check the invariants every answer obeys.

    ``after_validation`` sets environ keys after the validator's environ check, for deliberately
    invalid values (a negative CONTENT_LENGTH, a lower-case method) that the validator would
    reject as a server bug but that the application must still survive.
    """
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": ""}
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

    def inject(env, start_response):
        env.update(after_validation or {})
        return application(env, start_response)

    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))
        return lambda data: pytest.fail("the write() callable must not be used")

    result = validator(inject)(environ, start_response)
    try:
        received = b"".join(result)
    finally:
        result.close()

    assert len(started) == 1
    status_line, header_list = started[0]
    names = [name.lower() for name, _ in header_list]
    assert len(names) == len(set(names)), f"duplicate headers: {header_list}"
    headers = {name.lower(): value for name, value in header_list}
    assert headers["content-type"] in (c.HTML, c.TEXT, c.JSON)
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
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

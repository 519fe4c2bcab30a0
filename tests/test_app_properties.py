"""Property-based tests (hypothesis): both application flavours survive arbitrary requests.

Where ``test_app_contract.py`` pins the answer to each hand-picked request, these tests let
hypothesis generate the requests and check what must hold for *every* one of them:

1. any method, path, query, extra headers and Content-Type: never a 5xx, never an exception, a
   documented status (404 exactly off the routes, 405 with the right ``Allow``), an exact
   ``Content-Length`` (a HEAD's being the GET's);
2. any body and any ``CONTENT_LENGTH`` string on ``POST /sign``: the body cap holds (bytes read
   and the size asked of every ``read()``), an over-cap length is 413 before a single byte is
   read, and only the exact account gets 200;
3. the credential check always runs ``hmac.compare_digest`` on both fields, whatever the
   username, checked structurally by recording the calls (never by timing).

Every request runs once per flavour in ``app.FLAVOURS``, through ``wsgiref.validate.validator``
(its warnings are errors), so each answer is also checked for WSGI conformance.  Generated
environ values are injected after the validator's environ check, as the contract tests do for
deliberately invalid values: the validator would reject a lower-case method or a junk
CONTENT_LENGTH as a server bug, but the application must still answer them.

Generated strings follow PEP 3333: environ values are native strings holding only code points
below 256 (a server hands a UTF-8 path to the app as its bytes decoded as latin-1), so unicode
paths are generated the way every server delivers them, see :func:`as_wsgi`.  (A str beyond
latin-1, which no server produces, makes Werkzeug raise UnicodeEncodeError in the Flask flavour.)
"""

import hmac
import importlib
import io
import math
import string
import wsgiref.util
from collections import Counter
from dataclasses import dataclass
from unittest import mock
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import app
from app import content as c
from app import signin, workloads
from tests.wsgi_call import validated_call

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

CAP = c.FORM_BODY_CAP
DOCUMENTED_STATUSES = {200, 400, 403, 404, 405, 413}
SIGN_STATUSES = {c.SIGN_OK, c.SIGN_REFUSED, c.SIGN_BAD_FORM, c.SIGN_TOO_LARGE}
KNOWN_PATHS = sorted(c.PAGES) + [c.SIGN_PATH]  # the pages and the form
WORKLOAD_PATHS = [c.IO_PATH, c.CPU_PATH, c.UPLOAD_PATH, c.BYTES_PREFIX + "1"]
CONTENT_TYPES = (c.HTML, c.TEXT, c.JSON, c.OCTETS)
FLAVOURS = sorted(app.FLAVOURS)

#: deadline=None: the first Flask request and the long paths are slow, and timing is not a property.
#: (Hypothesis keeps its example database in ``.hypothesis/``, which it git-ignores itself.)
FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(flavour: str):
    """Import a flavour's "module:attribute" WSGI target, as a server would."""
    module, attribute = app.FLAVOURS[flavour].split(":")
    return getattr(importlib.import_module(module), attribute)


# --- calling the application ---------------------------------------------------------------------

class RecordingInput:
    """A ``wsgi.input`` that counts the bytes handed out and records every size asked for.

    ``chunk`` caps what one ``read()`` returns (short reads, like a socket).  ``fail_after``
    makes the stream raise ``ConnectionResetError`` once that many bytes were handed out and
    more are wanted, like a client that went away mid-body.  ``readline``/``readlines``/
    iteration are recorded as unbounded requests: the app has no business calling them.
    """

    def __init__(self, data: bytes, chunk: int | None = None, fail_after: int | None = None):
        self._data = io.BytesIO(data)
        self._size = len(data)
        self._chunk = chunk
        self._fail_after = fail_after
        self.bytes_read = 0
        self.requests: list[float] = []  # size asked of each call; math.inf for "everything"

    def _bounded(self, size) -> float:
        return math.inf if size is None or size < 0 else size

    def read(self, size: int = -1) -> bytes:
        asked = self._bounded(size)
        self.requests.append(asked)
        want = asked
        if self._chunk is not None:
            want = min(want, self._chunk)
        if self._fail_after is not None and self._fail_after < self._size:
            if want > 0 and self.bytes_read >= self._fail_after:
                raise ConnectionResetError("client went away mid-body")
            want = min(want, self._fail_after - self.bytes_read)
        chunk = self._data.read(None if want == math.inf else int(want))
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        self.requests.append(math.inf)
        line = self._data.readline(size)
        self.bytes_read += len(line)
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        self.requests.append(math.inf)
        lines = self._data.readlines(hint)
        self.bytes_read += sum(map(len, lines))
        return lines

    def __iter__(self):
        return iter(self.readline, b"")

    @property
    def largest_request(self) -> float:
        return max(self.requests, default=0)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    stream: RecordingInput


def call(application, environ_overrides: dict, *, body: bytes = b"", chunk: int | None = None,
         fail_after: int | None = None) -> Answer:
    """Run one request through the validated app and check what every answer must obey.

    ``environ_overrides`` is applied after the validator's environ check (a value of None
    removes the key); the body is served by a :class:`RecordingInput`.
    """
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": ""}
    wsgiref.util.setup_testing_defaults(environ)
    stream = RecordingInput(body, chunk, fail_after)
    environ["wsgi.input"] = stream

    def inject(env):
        for key, value in environ_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value

    status_line, header_list, received = validated_call(application, environ, inject)
    status = int(status_line[:3])
    assert status < 500, f"server error {status_line!r}"
    assert status in DOCUMENTED_STATUSES, f"undocumented status {status_line!r}"
    headers = {name.lower(): value for name, value in header_list}
    assert headers["content-type"] in CONTENT_TYPES
    assert headers["content-length"].isascii() and headers["content-length"].isdigit()
    if environ["REQUEST_METHOD"] == "HEAD":  # exactly "HEAD": methods are case-sensitive
        assert received == b""
    else:
        assert int(headers["content-length"]) == len(received)
    if status == 405:
        assert headers.get("allow") in ("GET, HEAD", "POST")
    else:
        assert "allow" not in headers
    return Answer(status, headers, received, stream)


# --- strategies ----------------------------------------------------------------------------------

def route_methods(path: str) -> tuple[str, ...] | None:
    """The methods a path is served for, as ``app.content`` declares the routes; None: not a route."""
    if path in c.PAGES or path in (c.IO_PATH, c.CPU_PATH):
        return c.GET_METHODS
    if path == c.SIGN_PATH:
        return c.SIGN_METHODS
    if path == c.UPLOAD_PATH:
        return c.UPLOAD_METHODS
    kb = path[len(c.BYTES_PREFIX):]
    if path.startswith(c.BYTES_PREFIX) and kb and "/" not in kb:
        return c.GET_METHODS
    return None


def as_wsgi(text: str) -> str:
    """A unicode string as a server hands it to a Python 3 app (PEP 3333): UTF-8 bytes as latin-1."""
    return text.encode("utf-8").decode("latin-1")


#: Any native string a server could put in the environ: every code point below 256, controls included.
latin1_text = st.text(alphabet=st.characters(max_codepoint=0xFF))
#: Arbitrary unicode (anything but lone surrogates), delivered the PEP 3333 way.
unicode_text = st.text().map(as_wsgi)

TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters

segments = st.one_of(
    st.sampled_from(["", ".", "..", "%", "%2", "%2F", "%2f", "%00", "%ff", "%6Ason", "%E2%82%AC",
                     "json", "JSON", "sign", "signin", "plaintext", "static", "index.html",
                     " ", ";", "?", "#", "\x00", "\\", "\xe2\x82\xac"]),
    st.text(max_size=8).map(as_wsgi),
    latin1_text.filter(lambda s: len(s) <= 8),
)

paths = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    st.sampled_from(WORKLOAD_PATHS),
    # Near misses of the known paths: doubled slashes, trailing junk, escapes, case.
    st.builds(lambda before, path, after: before + path + after,
              st.sampled_from(["", "/", "//", "/.", " ", "%2F", "\x00"]),
              st.sampled_from(KNOWN_PATHS + WORKLOAD_PATHS),
              st.sampled_from(["", "/", "//", "%", "%00", "?", "?a=1", ".", "/.", " ", "\x00",
                               "\xe2\x82\xac"])),
    st.sampled_from(KNOWN_PATHS + WORKLOAD_PATHS).map(str.upper),
    st.builds(lambda kb: c.BYTES_PREFIX + kb, st.one_of(
        st.integers(-1, c.BYTES_MAX_KB + 1).map(str),
        st.sampled_from(["", "0", "01", "+1", "1.0", "\xd9\xa1"]),
        latin1_text.filter(lambda s: len(s) <= 8))),
    st.lists(segments, max_size=8).map("/".join),
    st.lists(segments, max_size=8).map(lambda parts: "/" + "/".join(parts)),
    unicode_text.map(lambda s: "/" + s),
    unicode_text,
    latin1_text,
    # Very long paths (a few hundred KiB at most).
    st.builds(lambda unit, count: "/" + unit * count,
              st.sampled_from(["a", "/", "//", "%", "%2F", "json/", "\xe2\x82\xac", "\x00"]),
              st.integers(min_value=1_000, max_value=50_000)),
)

methods = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
                     "PRI", "get", "head", "post", "Get", "Head", "HEAD ", " GET", ""]),
    st.text(alphabet=TCHAR, min_size=1, max_size=20),
    latin1_text.filter(lambda s: len(s) <= 20),
)

INTERESTING_HEADERS = [
    "HTTP_HOST", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "HTTP_TRANSFER_ENCODING",
    "HTTP_EXPECT", "HTTP_CONNECTION", "HTTP_UPGRADE", "HTTP_COOKIE", "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING", "HTTP_ACCEPT_LANGUAGE", "HTTP_AUTHORIZATION", "HTTP_ORIGIN",
    "HTTP_REFERER", "HTTP_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
    "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_PREFIX", "HTTP_X_HTTP_METHOD_OVERRIDE", "HTTP_X_REQUESTED_WITH",
]

header_names = st.one_of(
    st.sampled_from(INTERESTING_HEADERS),
    st.from_regex(r"\AHTTP_[A-Z0-9_]{1,24}\Z"),
)

header_values = st.one_of(
    latin1_text.filter(lambda s: len(s) <= 80),
    unicode_text.filter(lambda s: len(s) <= 80),
    st.sampled_from(["", "upgrade", "websocket", "Upgrade", "chunked", "100-continue", "0", "-1",
                     "99999999999999999999", "a..b", "x" * 70, "[::1", "localhost:notaport",
                     "\xe2\x82\xac.example", "bytes=0-1", "gzip, deflate", "POST", "GET"]),
    st.integers(min_value=1_000, max_value=20_000).map(lambda n: "v" * n),
)

extra_headers = st.dictionaries(header_names, header_values, max_size=8)

queries = st.one_of(
    latin1_text.filter(lambda s: len(s) <= 40),
    # The workload routes' parameters (/io's ms, /cpu's n): in range, over, repeated, malformed.
    st.sampled_from(["ms=0", "ms=1000", "ms=1001", "ms=5&ms=6", "ms=%32", "ms=+5", "ms=", "ms",
                     "n=0", "n=1000", f"n={c.CPU_MAX_N + 1}", "n=-1", "n=1e3", "n=\xd9\xa1",
                     "x=1&ms=3", "ms=9" + "9" * 5000]),
)

content_types = st.one_of(
    st.none(),
    st.sampled_from([c.FORM, c.FORM + "; charset=utf-8", c.FORM.upper(), " " + c.FORM + " ", "",
                     "text/plain", "application/json", "multipart/form-data; boundary=x", ";", "\x00"]),
    latin1_text.filter(lambda s: len(s) <= 60),
    unicode_text.filter(lambda s: len(s) <= 60),
)


# --- 1. any method, path and headers -------------------------------------------------------------

@pytest.mark.parametrize("flavour", FLAVOURS)
@settings(**FAST, max_examples=400)
@given(method=methods, path=paths, headers=extra_headers, content_type=content_types, query=queries)
@example(method="GET", path="/json", headers={}, content_type=None, query="")
@example(method="head", path="/", headers={}, content_type=None, query="")
@example(method="POST", path="/sign", headers={"HTTP_CONTENT_LENGTH": "5"}, content_type=c.FORM, query="")
# Werkzeug refuses these in the Flask flavour (400: bad Host; websocket upgrade on a plain route)
# where the raw flavour answers 200; both are documented statuses.
@example(method="GET", path="/plaintext", headers={"HTTP_HOST": "a..b"}, content_type=None, query="")
@example(method="GET", path="/", headers={"HTTP_CONNECTION": "upgrade", "HTTP_UPGRADE": "websocket"},
         content_type=None, query="")
@example(method="GET", path="//json", headers={}, content_type=None, query="")
@example(method="GET", path="/" + "%" * 60_000, headers={}, content_type=None, query="")
def test_any_request_gets_a_documented_answer(flavour, method, path, headers, content_type, query):
    overrides = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                 "CONTENT_TYPE": content_type, **headers}
    # /io?ms=N sleeps (time.sleep, looked up at call time): record the seconds instead of waiting.
    sleeps = []
    with mock.patch.object(workloads.time, "sleep", sleeps.append):
        answer = call(load(flavour), overrides)  # call() checks status, headers and Content-Length
        get = call(load(flavour), {**overrides, "REQUEST_METHOD": "GET"}) if method == "HEAD" else None

    allowed = route_methods(path)
    if allowed is None:
        assert (answer.status, answer.headers["content-type"]) == (404, c.HTML)
    else:
        assert answer.status != 404
    if answer.status == 405:
        assert method not in allowed
        assert answer.headers["allow"] == ", ".join(sorted(allowed))
    if answer.status == 200:
        assert method in allowed
    # No body was sent: no credentials to refuse, nothing too large.
    assert answer.status not in (403, 413)
    if get is not None:
        # HEAD gets the status and Content-Length the GET would have had.
        assert answer.status == get.status
        assert answer.headers["content-length"] == str(len(get.body))
    assert all(0 <= seconds <= c.IO_MAX_MS / 1000 for seconds in sleeps), sleeps


# --- 2. any body and CONTENT_LENGTH on POST /sign ------------------------------------------------

GOOD_FIELDS = [("username", c.USERNAME), ("password", c.PASSWORD)]

field_values = st.one_of(
    st.sampled_from([c.USERNAME, c.PASSWORD, "", "Admin", "admin ", " admin", "password1", "passwor",
                     "ädmin", "admin\x00", "pass word"]),
    st.text(max_size=12),
)
field_names = st.one_of(
    st.sampled_from(["username", "password", "user", "pass", "Username", "username ", "remember", ""]),
    st.text(max_size=8),
)


@st.composite
def form_bodies(draw) -> bytes:
    """Well-formed urlencoded forms, mostly near the right shape (the two fields, maybe more)."""
    fields = draw(st.one_of(
        st.just(list(GOOD_FIELDS)),
        st.lists(st.sampled_from(GOOD_FIELDS), max_size=4),  # missing or duplicated fields
        st.lists(st.tuples(st.sampled_from(["username", "password"]), field_values), max_size=3),
    ))
    fields += draw(st.lists(st.tuples(field_names, field_values), max_size=3))
    fields = draw(st.permutations(fields))
    encoded = urlencode(fields).encode("ascii")
    if draw(st.booleans()):  # a literal, not urlencode()'s escaping: e.g. "%61dmin", "+", raw UTF-8
        encoded = "&".join(
            f"{quote(name, safe='')}={draw(st.sampled_from([quote(value, safe=''), value]))}"
            for name, value in fields).encode("utf-8")
    return encoded + draw(st.sampled_from([b"", b"&", b"&&", b"&=", b"&pad=" + b"x" * 64]))


@st.composite
def padded_bodies(draw) -> bytes:
    """A form padded to a size around the cap (or far beyond it)."""
    size = draw(st.one_of(st.integers(CAP - 8, CAP + 8), st.integers(0, 4 * CAP)))
    head = draw(form_bodies()) + b"&pad="
    return head + b"x" * max(0, size - len(head))


bodies = st.one_of(
    form_bodies(),
    padded_bodies(),
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda junk: urlencode(GOOD_FIELDS).encode() + b"&" + junk),
    st.builds(lambda junk, size: junk * size, st.binary(min_size=1, max_size=4),
              st.integers(min_value=1, max_value=3 * CAP)),
)

WHITESPACE = [" ", "\t", "  \t", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\r", "\n"]


@st.composite
def content_lengths(draw, body: bytes) -> str | None:
    """A CONTENT_LENGTH for ``body``: absent, right, wrong, over the cap, negative or junk."""
    return draw(st.one_of(
        st.none(),
        st.just(str(len(body))),
        st.integers(0, 3 * CAP).map(str),
        st.integers(CAP - 3, CAP + 3).map(str),
        st.integers(CAP + 1, 10**40).map(str),
        st.integers(-(10**9), -1).map(str),
        st.builds(lambda zeros, n: "0" * zeros + str(n), st.integers(1, 6000), st.integers(0, 2 * CAP)),
        st.integers(1, 6000).map(lambda n: "9" * n),
        st.builds(lambda pad_before, pad_after, n: pad_before + str(n) + pad_after,
                  st.sampled_from(["", *WHITESPACE]), st.sampled_from(["", *WHITESPACE]),
                  st.sampled_from([len(body), 0, CAP + 1])),
        st.sampled_from(["", " ", "+5", "1_0", "0x10", "1e3", "1.5", "5 5", "\u0661\u0662", "\uff15",
                         "\u00b2", "\u0665", "-0", "0" * 5000, "12abc", "NaN", "inf"]),
        latin1_text.filter(lambda s: len(s) <= 12),
        st.text(max_size=12),
    ))


def _strict_length(raw: str | None) -> str | None:
    """CONTENT_LENGTH as HTTP defines it: optional SP/HTAB around 1*DIGIT (ASCII), else junk."""
    if raw is None:
        return None
    return raw.strip(" \t")


def over_cap(digits: str) -> bool:
    """Whether a digit string is over the cap, without int() on thousands of digits (3.11 refuses)."""
    significant = digits.lstrip("0") or "0"
    return len(significant) > len(str(CAP)) or int(significant) > CAP


def accepted(body: bytes, content_type: str | None) -> bool:
    """The one accepted form: form Content-Type, UTF-8, exactly one username=admin and password=password."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != c.FORM:
        return False
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError:
        return False
    usernames = [value for name, value in fields if name == "username"]
    passwords = [value for name, value in fields if name == "password"]
    return usernames == [c.USERNAME] and passwords == [c.PASSWORD]


@st.composite
def sign_requests(draw):
    body = draw(bodies)
    return dict(
        body=body,
        length=draw(content_lengths(body)),
        terminated=draw(st.booleans()),
        content_type=draw(st.one_of(st.just(c.FORM), content_types)),
        chunk=draw(st.one_of(st.none(), st.integers(1, 64), st.integers(65, 2 * CAP))),
        fail_after=draw(st.one_of(st.none(), st.none(), st.integers(0, CAP + 2))),
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
@settings(**FAST, max_examples=400)
@given(post=sign_requests())
@example(post=dict(body=urlencode(GOOD_FIELDS).encode(), length=str(len(urlencode(GOOD_FIELDS))),
                   terminated=False, content_type=c.FORM, chunk=None, fail_after=None))
@example(post=dict(body=b"x" * (CAP + 1), length=None, terminated=True, content_type=c.FORM,
                   chunk=1, fail_after=None))
@example(post=dict(body=b"x" * 10, length="9" * 5000, terminated=True, content_type=c.FORM,
                   chunk=None, fail_after=None))
# A form feed is whitespace to str.strip() but not to HTTP: "\x0c32" is junk, not 32.
@example(post=dict(body=urlencode(GOOD_FIELDS).encode(), length="\x0c32",
                   terminated=False, content_type=c.FORM, chunk=None, fail_after=None))
def test_sign_in_body_is_bounded_and_only_the_account_gets_in(flavour, post):
    body, raw_length, terminated = post["body"], post["length"], post["terminated"]
    content_type, fail_after = post["content_type"], post["fail_after"]
    overrides = {"REQUEST_METHOD": "POST", "PATH_INFO": c.SIGN_PATH, "CONTENT_TYPE": content_type,
                 "CONTENT_LENGTH": raw_length, "wsgi.input_terminated": True if terminated else None}
    answer = call(load(flavour), overrides, body=body, chunk=post["chunk"], fail_after=fail_after)
    stream = answer.stream

    # The bound, whatever happened: never more than the cap (+1 for a terminated, unsized body),
    # neither in bytes handed out nor in the size asked of a single read().
    bound = CAP + 1 if terminated else CAP
    assert stream.bytes_read <= bound
    assert stream.largest_request <= bound
    assert answer.status in SIGN_STATUSES
    assert answer.headers["content-type"] == c.HTML

    available = len(body) if fail_after is None else min(len(body), fail_after)
    broken = available < len(body)
    declared = _strict_length(raw_length)
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            assert (answer.status, answer.body) == (400, c.BAD_FORM)
            assert stream.requests == []
            return
        if over_cap(declared):
            assert (answer.status, answer.body) == (413, c.TOO_LARGE)
            assert stream.requests == []  # refused before touching the body
            return
        length = int(declared.lstrip("0") or "0")
        assert stream.bytes_read == min(length, available)
        if available < length:  # short body or broken stream
            assert (answer.status, answer.body) == (400, c.BAD_FORM)
            return
        received = body[:length]
    elif terminated:
        assert stream.bytes_read == min(CAP + 1, available)
        if min(CAP + 1, available) > CAP:
            assert (answer.status, answer.body) == (413, c.TOO_LARGE)
            return
        if broken:
            assert (answer.status, answer.body) == (400, c.BAD_FORM)
            return
        received = body
    else:  # no Content-Length and not terminated: the body is empty
        assert stream.requests == []
        received = b""

    if accepted(received, content_type):
        assert (answer.status, answer.body) == (200, c.GREETING)
    else:
        assert answer.status in (400, 403)
        assert answer.body == (c.BAD_CREDENTIALS if answer.status == 403 else c.BAD_FORM)


# --- 3. the credential check always compares both fields -----------------------------------------

credentials_text = st.one_of(
    st.sampled_from([c.USERNAME, c.PASSWORD, "", "Admin", "admin ", "admi", "adminn", "password1",
                     "Password", "\x00", "ädmin"]),
    st.text(max_size=40),
)


ACCOUNT_USERNAME = c.USERNAME.encode("utf-8")
ACCOUNT_PASSWORD = c.PASSWORD.encode("utf-8")


class CompareRecorder:
    """Stands in for ``hmac.compare_digest``: records every call, answers with the real one."""

    def __init__(self):
        self.calls: list[tuple] = []
        self._real = hmac.compare_digest

    def __call__(self, a, b):
        self.calls.append((a, b))
        return self._real(a, b)

    def patch(self):
        # app.signin calls ``hmac.compare_digest`` through the module, so patch it there; were it
        # to bind the function at import (or compare another way) no call would be recorded and
        # assert_compared_both would fail.
        return mock.patch.object(signin.hmac, "compare_digest", self)

    def assert_compared_both(self, username: bytes, password: bytes):
        """Exactly two comparisons, of bytes: the username with the account's, the password with its."""
        assert all(type(a) is bytes and type(b) is bytes for a, b in self.calls), self.calls
        compared = Counter(tuple(sorted(pair)) for pair in self.calls)  # either argument order
        expected = Counter([tuple(sorted((username, ACCOUNT_USERNAME))),
                            tuple(sorted((password, ACCOUNT_PASSWORD)))])
        assert compared == expected, f"expected one comparison per field, got {self.calls!r}"


@settings(**FAST, max_examples=300)
@given(username=credentials_text, password=credentials_text)
@example(username=c.USERNAME, password=c.PASSWORD)
@example(username=c.USERNAME, password="wrong")
@example(username="wrong", password=c.PASSWORD)
@example(username="wrong", password="wrong")
@example(username="", password="")
def test_credential_check_compares_both_fields_every_time(username, password):
    user, secret = username.encode("utf-8"), password.encode("utf-8")
    recorder = CompareRecorder()
    with recorder.patch():
        ok = signin._is_the_account(user, secret)
    assert ok == (username == c.USERNAME and password == c.PASSWORD)
    recorder.assert_compared_both(user, secret)


@pytest.mark.parametrize("flavour", FLAVOURS)
@settings(**FAST, max_examples=150)
@given(username=credentials_text, password=credentials_text, swapped=st.booleans())
@example(username=c.USERNAME, password=c.PASSWORD, swapped=False)
@example(username=c.USERNAME, password="wrong", swapped=False)
@example(username="wrong", password=c.PASSWORD, swapped=True)
def test_sign_in_request_compares_both_fields_every_time(flavour, username, password, swapped):
    fields = [("username", username), ("password", password)]
    body = urlencode(fields[::-1] if swapped else fields).encode("ascii")
    recorder = CompareRecorder()
    with recorder.patch():
        answer = call(load(flavour), {"REQUEST_METHOD": "POST", "PATH_INFO": c.SIGN_PATH,
                                      "CONTENT_TYPE": c.FORM, "CONTENT_LENGTH": str(len(body))},
                      body=body)
    if username == c.USERNAME and password == c.PASSWORD:
        assert (answer.status, answer.body) == (200, c.GREETING)
    else:
        assert (answer.status, answer.body) == (403, c.BAD_CREDENTIALS)
    recorder.assert_compared_both(username.encode("utf-8"), password.encode("utf-8"))

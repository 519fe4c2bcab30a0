"""What the application answers, declared once.

Both flavours (raw WSGI in ``app.raw`` and Flask in ``app.flask_app``) serve exactly these bytes,
and the lab's verify step and the locust scenarios check answers against the same constants, so a
server that garbles a response can never be measured as if it were correct.
"""

import json

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: Largest form body, in bytes, that ``POST /sign`` reads; a larger ``Content-Length`` gets 413
#: before a single byte of the body is read.
FORM_BODY_CAP = 4096

#: The one account the sign-in form accepts (the classic sample's credentials).
USERNAME = "admin"
PASSWORD = "password"


def sign_in_form(username: str = USERNAME, password: str = PASSWORD) -> bytes:
    """A ``POST /sign`` body, form-encoded (the account's credentials by default)."""
    return f"username={username}&password={password}".encode()

HOME_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Home</title></head><body>\n"
    b"<h1>Home</h1>\n<ul>\n"
    b'<li><a href="/signin">Sign in</a></li>\n'
    b'<li><a href="/plaintext">Plaintext</a></li>\n'
    b'<li><a href="/json">JSON</a></li>\n'
    b"</ul>\n</body></html>\n"
)

SIGNIN_FORM = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>\n"
    b'<form action="/sign" method="post">\n'
    b'<p><input name="username" type="text"></p>\n'
    b'<p><input name="password" type="password"></p>\n'
    b'<p><button type="submit">Sign In</button></p>\n'
    b"</form>\n</body></html>\n"
)

PLAINTEXT = b"Hello, World!"
JSON_BODY = json.dumps({"message": "Hello, World!"}).encode()

GREETING = b"<h3>hello, admin</h3>"
BAD_CREDENTIALS = b"<h3>Bad user name or password</h3>"
BAD_FORM = b"<h3>Bad request: the form needs one username and one password</h3>"
TOO_LARGE = b"<h3>Request body too large</h3>"
NOT_FOUND = b"<h3>Not found</h3>"
METHOD_NOT_ALLOWED = b"<h3>Method not allowed</h3>"

#: Status of each sign-in outcome: accepted, wrong credentials, unusable form, body over the cap.
SIGN_OK, SIGN_REFUSED, SIGN_BAD_FORM, SIGN_TOO_LARGE = 200, 403, 400, 413

#: GET (and HEAD) routes: path -> (body, content type).  ``/sign`` answers POST only.
PAGES = {
    "/": (HOME_PAGE, HTML),
    "/signin": (SIGNIN_FORM, HTML),
    "/plaintext": (PLAINTEXT, TEXT),
    "/json": (JSON_BODY, JSON),
}
GET_METHODS = ("GET", "HEAD")
SIGN_PATH = "/sign"
SIGN_METHODS = ("POST",)

# --- workload routes (logic in app.workloads) ----------------------------------------------------
#
# Routes that make a request cost something, so servers are compared on more than "hello world":
# waiting like a database call (/io), burning CPU (/cpu), sending a large body (/bytes/<kb>) and
# receiving one (/upload).  Statuses, shared by every one of them:
#
# * 400 BAD_PARAMETER: a parameter that is not plain ASCII decimal digits, is repeated, or is out of
#   range (over a cap, or a zero size).  Never 413 for a GET: nothing too large was *sent*.
# * 405 with ``Allow`` for a wrong method; HEAD answers the GET's headers with no body.
# * 404 for paths that are not exactly a route (``/io/``, ``/bytes/``, ``/bytes/1/``).
#
# Query strings: parameters other than the route's own are ignored; the route's parameter may
# appear at most once (``?ms=5&ms=6`` is 400); an absent parameter takes its default.  Values are
# percent-decoded first (``%32%30`` is 20) and leading zeros are fine (``0005`` is 5), but ``+``,
# spaces, signs, decimals, exponents and non-ASCII digits are 400.

OCTETS = "application/octet-stream"

BAD_PARAMETER = b"<h3>Bad request: a parameter is malformed, repeated or out of range</h3>"
BAD_BODY = b"<h3>Bad request: the body does not match its Content-Length</h3>"

#: Status of a refused workload request: bad parameter or unusable body; upload over its cap.
WORKLOAD_BAD_REQUEST, UPLOAD_TOO_LARGE = 400, 413

IO_PATH = "/io"
#: ``GET /io?ms=N`` sleeps N milliseconds with ``time.sleep`` (looked up at call time, so a
#: gevent-patched server yields to its other requests), the way a database call waits, then
#: answers ``waited N ms`` as text/plain.  N defaults to 20 and may be 0..IO_MAX_MS; above the cap,
#: 400: the cap keeps a request from tying up a worker for long.
IO_DEFAULT_MS = 20
IO_MAX_MS = 1000

CPU_PATH = "/cpu"
#: ``GET /cpu?n=N`` runs N steps of a 32-bit linear congruential generator in pure Python and
#: answers ``n=N sum=S`` (S: the sum of the generated values mod 2**32) as text/plain.  The
#: default N costs about 1 ms of one core (timeit on the lab's 2-core machine, CPython 3.11,
#: idle: 0.93-0.98 ms; it grows when other processes share the core); N may be 0..CPU_MAX_N
#: (100 x the default, about 0.1 s); above, 400.
CPU_DEFAULT_N = 8000
CPU_MAX_N = 100 * CPU_DEFAULT_N
#: Known results (n -> sum), so checkers need not trust the code that computes them.
CPU_KNOWN_SUMS = {CPU_DEFAULT_N: 2641351648, 1000: 662615452, 1: 1103527590, 0: 0}

BYTES_PREFIX = "/bytes/"
#: ``GET /bytes/<kb>`` answers kb * 1024 bytes of BYTES_PATTERN repeated, as
#: application/octet-stream; kb is 1..BYTES_MAX_KB (4 MiB).  0, over the cap or not a decimal
#: integer: 400.
BYTES_PATTERN = b"0123456789abcdef"
BYTES_MAX_KB = 4096

UPLOAD_PATH = "/upload"
#: ``POST /upload`` reads the body (any Content-Type), bounded by ``CONTENT_LENGTH`` exactly as
#: ``POST /sign`` is, and answers ``{"length": N, "sha256": "<hex>"}`` as application/json.
#: Content-Length over UPLOAD_CAP (8 MiB): 413 before a byte is read; a server-terminated
#: (de-chunked) body without Content-Length: read up to the cap + 1 byte, 413 past the cap;
#: malformed Content-Length or a body shorter than announced: 400 BAD_BODY; no Content-Length on
#: a body the server does not terminate: empty body.
UPLOAD_CAP = 8 * 1024 * 1024
UPLOAD_METHODS = ("POST",)


def io_body(ms: int) -> bytes:
    return f"waited {ms} ms".encode()


def cpu_body(n: int, total: int) -> bytes:
    return f"n={n} sum={total}".encode()


def bytes_body(kb: int) -> bytes:
    """kb KiB of the pattern (16 divides 1024, so the repetition is never cut)."""
    return BYTES_PATTERN * (kb * 1024 // len(BYTES_PATTERN))


def upload_body(length: int, sha256_hex: str) -> bytes:
    return json.dumps({"length": length, "sha256": sha256_hex}).encode()

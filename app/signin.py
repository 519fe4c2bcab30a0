"""The ``POST /sign`` logic, shared by both flavours so they cannot drift apart.

Two steps, kept separate on purpose:

* :func:`read_form_body` decides from ``CONTENT_LENGTH`` (and ``wsgi.input_terminated``) how much
  of ``wsgi.input`` may be read, and never reads more than :data:`~app.content.FORM_BODY_CAP`
  (+1 for an unsized, server-terminated body, to tell "exactly the cap" from "too much").
  ``POST /upload`` reuses it with its own cap (:data:`~app.content.UPLOAD_CAP`).
* :func:`check_sign_in` is pure: bytes and a Content-Type in, ``(status, body)`` out.

Every refusal is a 4xx: a malformed request is the client's fault, never a 500.

Choices worth knowing:

* ``Content-Length`` must be plain ASCII digits (the HTTP grammar is ``1*DIGIT``), so ``+5``,
  ``1_0``, ``-1`` or ``0x10`` are 400 even where Python's ``int()`` would accept them.
* A body shorter than its ``Content-Length`` (client went away) is 400: it is not the form that
  was announced.  A read error from the server's stream is treated the same way.
* The Content-Type must be ``application/x-www-form-urlencoded`` (parameters such as ``charset``
  are ignored; the body is always decoded as UTF-8).  Anything else, including no Content-Type,
  is 400 BAD_FORM: the endpoint only speaks HTML forms.
* Fields other than ``username`` and ``password`` are ignored; each of those two must appear
  exactly once.
"""

import hmac
from urllib.parse import parse_qsl

from app import content as c

Answer = tuple[int, bytes]

BAD_FORM: Answer = (c.SIGN_BAD_FORM, c.BAD_FORM)
TOO_LARGE: Answer = (c.SIGN_TOO_LARGE, c.TOO_LARGE)


class Rejected(Exception):
    """Raised while reading the body when the request must be refused; carries the answer."""

    def __init__(self, answer: Answer):
        super().__init__(answer[0])
        self.answer = answer


def sign_in(environ: dict) -> Answer:
    """Answer a ``POST /sign`` from its WSGI environ: read the body (bounded), then check it."""
    try:
        body = read_form_body(environ)
    except Rejected as refusal:
        return refusal.answer
    return check_sign_in(body, environ.get("CONTENT_TYPE", ""))


def read_form_body(environ: dict, cap: int = c.FORM_BODY_CAP) -> bytes:
    """Return the request body, reading at most ``cap``; raise :class:`Rejected` otherwise.

    ``cap`` defaults to the form's; ``POST /upload`` (:mod:`app.workloads`) passes its own.

    An over-cap ``Content-Length`` is refused before a single byte is read.  Without a
    Content-Length the body is empty, unless the server says it de-chunked the body and will
    signal its end (``wsgi.input_terminated``), in which case one byte past the cap is enough
    to know the body is too large.
    """
    stream = environ["wsgi.input"]
    # Only HTTP's optional whitespace (SP, HTAB) around the digits: str.strip() would also drop
    # "\x0c", "\x1c", "\x85", "\xa0"... and accept "\x0c32" as 32, or take "\xa0" for no length.
    declared = environ.get("CONTENT_LENGTH", "").strip(" \t")
    if not declared:
        if environ.get("wsgi.input_terminated"):
            return _read_terminated(stream, cap)
        return b""
    length = _parse_length(declared, cap)
    if length > cap:
        raise Rejected(TOO_LARGE)
    body = _read(stream, length)
    if len(body) != length:
        raise Rejected(BAD_FORM)
    return body


def _parse_length(declared: str, cap: int) -> int:
    """Parse a Content-Length strictly (ASCII digits only); hopelessly long values count as over the cap."""
    if not (declared.isascii() and declared.isdigit()):
        raise Rejected(BAD_FORM)
    significant = declared.lstrip("0") or "0"
    # More significant digits than the cap has means over the cap whatever it says; checking the
    # count first avoids ``int()`` on a hostile 5,000-digit value (which Python refuses with
    # ValueError since 3.11's integer string conversion limit).
    if len(significant) > len(str(cap)):
        return cap + 1
    return int(significant)


def _read_terminated(stream, cap: int) -> bytes:
    """Read a server-terminated (de-chunked) body: cap + 1 bytes at most, 413 if it got that far."""
    body = _read(stream, cap + 1)
    if len(body) > cap:
        raise Rejected(TOO_LARGE)
    return body


def _read(stream, limit: int) -> bytes:
    """Read up to ``limit`` bytes, looping because ``read(n)`` may legally return fewer than n.

    Never asks for more than what remains, so the stream is never drained past ``limit``; stops
    early at end of stream.  A broken stream (client gone mid-body) is a bad request, not a crash.
    """
    chunks, remaining = [], limit
    try:
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError:
        raise Rejected(BAD_FORM) from None
    return b"".join(chunks)[:limit]


def check_sign_in(body: bytes, content_type: str) -> Answer:
    """Decide a sign-in from the raw body and its Content-Type; pure, so both flavours share it."""
    if _media_type(content_type) != c.FORM:
        return BAD_FORM
    credentials = _credentials(body)
    if credentials is None:
        return BAD_FORM
    if _is_the_account(*credentials):
        return c.SIGN_OK, c.GREETING
    return c.SIGN_REFUSED, c.BAD_CREDENTIALS


def _media_type(content_type: str) -> str:
    """The media type without parameters, lower-cased (media types are case-insensitive)."""
    return content_type.split(";", 1)[0].strip().lower()


def _credentials(body: bytes) -> tuple[bytes, bytes] | None:
    """Extract exactly one username and one password as UTF-8 bytes, or None if the form is unusable.

    Strict UTF-8 both for the raw body and for percent-escapes, so the result can always be
    encoded back to bytes (no surrogates) and compared without raising.
    """
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError:  # UnicodeDecodeError is a ValueError
        return None
    usernames = [value for name, value in fields if name == "username"]
    passwords = [value for name, value in fields if name == "password"]
    if len(usernames) != 1 or len(passwords) != 1:
        return None
    return usernames[0].encode("utf-8"), passwords[0].encode("utf-8")


_USERNAME = c.USERNAME.encode("utf-8")
_PASSWORD = c.PASSWORD.encode("utf-8")


def _is_the_account(username: bytes, password: bytes) -> bool:
    """Constant-time comparison of both fields; both are always compared so timing leaks neither."""
    username_ok = hmac.compare_digest(username, _USERNAME)
    password_ok = hmac.compare_digest(password, _PASSWORD)
    return username_ok and password_ok

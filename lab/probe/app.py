"""The probes' application: it does only the app's job, so every probe measures the server.

The lab's benchmark app (``app/``) is a well-behaved app: it strips HEAD bodies and frames every
answer with its own ``Content-Length``, so a server that would get those wrong never shows it.
Many hand-written WSGI apps do neither, and HTTP gives both jobs to the server.  This app:

* answers every method with its body, HEAD included (the server must drop it);
* under ``/unframed`` sends its body in two parts with no ``Content-Length`` (the server must
  frame it: chunked, or by closing);
* under ``/refuse`` answers 413 without reading the body (the server must still deliver it);
* ``/plaintext`` answers ``Hello, World!`` with a ``Content-Length``, for readiness checks;
* anything else is echoed as JSON: what the app saw (method, target, Host, the headers, the body
  length, the first bytes and a digest of the body, the request's number on its connection), so a
  parsing probe can tell what a request became once the server parsed it.

Served as the WSGI target ``lab.probe.app:application``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections import OrderedDict

PLAINTEXT = b"Hello, World!"
#: The echo's content type: a reply with it came from this app, not from the server.
ECHO_TYPE = "application/x-probe-echo+json"
#: Largest body the echo reads; a probe never needs more.
READ_CAP = 1 << 20
#: Requests counted per connection, keyed by the client's address and port (oldest forgotten).
_CONNECTIONS: OrderedDict = OrderedDict()
_CONNECTIONS_KEPT = 1024
_SEQUENCE = itertools.count(1)


def application(environ, start_response):
    """Route on the path: ``/plaintext``, ``/unframed``, ``/refuse``, anything else the echo."""
    path = environ.get("PATH_INFO", "")
    if path == "/plaintext":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(PLAINTEXT)))])
        return [PLAINTEXT]
    if path == "/refuse":
        body = b"refused before reading the body"
        start_response("413 Request Entity Too Large",
                       [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps(echo(environ), sort_keys=True).encode()
    if path == "/unframed":
        start_response("200 OK", [("Content-Type", ECHO_TYPE)])
        return [body[:10], body[10:]]
    start_response("200 OK", [("Content-Type", ECHO_TYPE), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ) -> dict:
    """What this request looked like from inside the app."""
    body = read_body(environ)
    return {
        "method": environ.get("REQUEST_METHOD"),
        "target": target(environ),
        "path": environ.get("PATH_INFO"),
        "host": environ.get("HTTP_HOST"),
        "headers": {key: value for key, value in environ.items()
                    if key.startswith("HTTP_") or key in ("CONTENT_LENGTH", "CONTENT_TYPE")},
        "body_length": None if body is None else len(body),
        "body_head": None if body is None else body[:64].decode("latin-1"),
        "body_sha256": None if body is None else hashlib.sha256(body).hexdigest(),
        "connection_request": connection_request(environ),
        "sequence": next(_SEQUENCE),
        "pid": os.getpid(),
    }


def target(environ) -> str:
    """The request target as sent when the server tells it (``RAW_URI``, ``REQUEST_URI``), else rebuilt."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw
    query = environ.get("QUERY_STRING")
    return environ.get("PATH_INFO", "") + (f"?{query}" if query else "")


def read_body(environ) -> bytes | None:
    """The body as the server hands it over; None when there is no safe way to read it.

    With a ``CONTENT_LENGTH`` that ``int()`` takes, that many bytes are read (one it does not take
    leaves the body unknown); without one, the stream is read to its end
    only when the server says it ends there (``wsgi.input_terminated``, or a buffered stream that
    is not a socket) -- reading a socket to its end would wait for the client to close.
    """
    stream = environ["wsgi.input"]
    text = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(text) if text else None  # as most apps read it: "+5" is 5
    except ValueError:
        return None  # e.g. "5, 5": no app can tell how long its body is
    if length is not None and length >= 0:
        return stream.read(min(length, READ_CAP))
    if environ.get("wsgi.input_terminated") or hasattr(stream, "getvalue"):
        return stream.read(READ_CAP)
    return None if environ.get("HTTP_TRANSFER_ENCODING") else b""


def connection_request(environ) -> int | None:
    """This request's number on its connection (1 for the first), or None without ``REMOTE_PORT``."""
    port = environ.get("REMOTE_PORT")
    if not port:
        return None
    key = (environ.get("REMOTE_ADDR"), port)
    count = _CONNECTIONS.pop(key, 0) + 1
    _CONNECTIONS[key] = count
    while len(_CONNECTIONS) > _CONNECTIONS_KEPT:
        _CONNECTIONS.popitem(last=False)
    return count

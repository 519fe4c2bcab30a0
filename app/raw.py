"""The application as a bare WSGI callable: no framework, so the lab measures the server alone.

Python 3 WSGI rules followed here: bodies are ``bytes``, header names and values are native
strings, every response carries an exact ``Content-Length`` (so servers need neither chunking
nor connection close to delimit it), and paths match exactly (``/json/`` is not ``/json``).
HTTP methods are case-sensitive: ``get`` is not ``GET`` and gets 405.
"""

from http import HTTPStatus

from app import content as c
from app import workloads
from app.signin import sign_in

#: Status lines built once; WSGI wants "NNN Reason".
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

Headers = list[tuple[str, str]]
Answer = tuple[int, str, bytes, Headers]


def application(environ, start_response):
    """WSGI entry point: route, then answer with Content-Type and Content-Length always set.

    A HEAD request gets the headers the GET would have (Content-Length included) and no body,
    whatever the status, as HTTP requires.
    """
    method = environ.get("REQUEST_METHOD", "")
    status, content_type, body, extra = route(method, environ.get("PATH_INFO", ""), environ)
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
    start_response(_STATUS_LINES[status], headers)
    return [] if method == "HEAD" else [body]


def route(method: str, path: str, environ: dict) -> Answer:
    """Pick the answer: 404 for an unknown path first, then 405 for a known path's wrong method."""
    if path in c.PAGES:
        if method not in c.GET_METHODS:
            return not_allowed(c.GET_METHODS)
        body, content_type = c.PAGES[path]
        return 200, content_type, body, []
    if path == c.SIGN_PATH:
        if method not in c.SIGN_METHODS:
            return not_allowed(c.SIGN_METHODS)
        status, body = sign_in(environ)
        return status, c.HTML, body, []
    workload = workloads.route(path)
    if workload is not None:
        methods, answer = workload
        if method not in methods:
            return not_allowed(methods)
        return *answer(environ), []
    return 404, c.HTML, c.NOT_FOUND, []


def not_allowed(methods) -> Answer:
    """405 with the ``Allow`` header HTTP requires, in a stable order so both flavours agree."""
    return 405, c.HTML, c.METHOD_NOT_ALLOWED, [("Allow", allow_header(methods))]


def allow_header(methods) -> str:
    """The ``Allow`` value: methods sorted and joined with ", " (e.g. "GET, HEAD")."""
    return ", ".join(sorted(methods))

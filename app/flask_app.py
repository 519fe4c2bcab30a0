"""The application as a Flask app, answering exactly what :mod:`app.raw` answers.

Flask/Werkzeug defaults that would make it differ from the raw flavour, and what is done here:

* automatic ``OPTIONS`` routes: off (``provide_automatic_options=False``), so ``Allow`` lists
  only what the route serves;
* the ``/static/<path>`` route: off (``static_folder=None``), or ``POST /static/x`` would be 405
  instead of 404;
* lenient paths: Werkzeug strips leading slashes (``//json`` matches ``/json``), merges slashes
  and redirects or matches around trailing slashes; a request hook answers 404 unless PATH_INFO
  is exactly one of the declared paths, before any of that can happen;
* method case: Werkzeug upper-cases ``REQUEST_METHOD``; the same hook answers 405 to ``get``;
* error pages: replaced by handlers returning the constants, with a sorted ``Allow`` on 405
  (Werkzeug's order comes from a set).

The bodies of ``POST /sign`` and ``POST /upload`` are read straight from the WSGI environ by the
shared bounded reader in :mod:`app.signin`, never through ``request.form``/``request.data``, so
Flask never reads more than the cap either.  The workload routes (:mod:`app.workloads`) parse
their parameters from the environ (``QUERY_STRING``, ``PATH_INFO``) with the shared strict
parsers, never through ``request.args`` or Werkzeug's converters, so both flavours agree on every
malformed value.  Flask upper-cases reason phrases ("404 NOT FOUND"); only the code matters.
"""

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from app import content as c
from app.raw import allow_header
from app import workloads
from app.signin import sign_in

application = Flask(__name__, static_folder=None)

#: The only fixed paths served, compared verbatim with PATH_INFO (see :func:`match_like_raw`);
#: ``/bytes/<kb>`` paths are recognised by :func:`app.workloads.route`.
KNOWN_PATHS = frozenset(c.PAGES) | {c.SIGN_PATH} | frozenset(workloads.FIXED_ROUTES)


def _html(status: int, body: bytes, headers: dict | None = None) -> Response:
    """A response with the constant body and the exact Content-Type string from app.content."""
    return Response(body, status=status, content_type=c.HTML, headers=headers)


def _page_view(body: bytes, content_type: str):
    """Build the view for one static page (one closure per path in ``content.PAGES``)."""

    def view() -> Response:
        return Response(body, status=200, content_type=content_type)

    return view


for _path, (_body, _content_type) in c.PAGES.items():
    application.add_url_rule(
        _path,
        endpoint=f"page {_path}",
        view_func=_page_view(_body, _content_type),
        methods=list(c.GET_METHODS),
        provide_automatic_options=False,
    )


@application.route(c.SIGN_PATH, methods=list(c.SIGN_METHODS), provide_automatic_options=False)
def sign() -> Response:
    """Sign-in via the shared logic; reads ``wsgi.input`` itself, bounded by the cap."""
    status, body = sign_in(request.environ)
    return _html(status, body)


def _workload_view(answer: workloads.Handler):
    """Build the view for one workload route: the shared answer, computed from the raw environ."""

    def view(**_converted) -> Response:
        status, content_type, body = answer(request.environ)
        return Response(body, status=status, content_type=content_type)

    return view


for _path, (_methods, _answer) in workloads.FIXED_ROUTES.items():
    application.add_url_rule(
        _path,
        endpoint=f"workload {_path}",
        view_func=_workload_view(_answer),
        methods=list(_methods),
        provide_automatic_options=False,
    )

# Werkzeug's default converter matches any non-empty segment without "/", exactly the paths
# ``workloads.route`` sends to ``bytes_answer``, which parses ``<kb>`` itself from PATH_INFO.
application.add_url_rule(
    c.BYTES_PREFIX + "<kb>",
    endpoint="workload /bytes",
    view_func=_workload_view(workloads.bytes_answer),
    methods=list(c.GET_METHODS),
    provide_automatic_options=False,
)


@application.before_request
def match_like_raw() -> None:
    """Undo Werkzeug's leniency so a matched route means what it means in the raw flavour.

    Flask runs this hook before it raises the routing error, so an inexact path is 404 here
    whatever Werkzeug matched, redirected or refused.  For an exact path Werkzeug's verdict
    stands, except that a method differing only in case is 405.
    """
    path = request.environ.get("PATH_INFO", "")
    if path not in KNOWN_PATHS and workloads.route(path) is None:
        raise NotFound()
    rule = request.url_rule
    if request.routing_exception is not None or rule is None:
        return
    if request.environ.get("REQUEST_METHOD", "") != request.method:
        raise MethodNotAllowed(valid_methods=sorted(rule.methods or ()))


@application.errorhandler(404)
def not_found(_error: HTTPException) -> Response:
    return _html(404, c.NOT_FOUND)


@application.errorhandler(405)
def method_not_allowed(error: MethodNotAllowed) -> Response:
    """405 with a sorted Allow header (Werkzeug builds its list from a set)."""
    return _html(405, c.METHOD_NOT_ALLOWED, {"Allow": allow_header(error.valid_methods or ())})


@application.errorhandler(413)
def too_large(_error: HTTPException) -> Response:
    return _html(c.SIGN_TOO_LARGE, c.TOO_LARGE)


@application.errorhandler(400)
def bad_request(_error: HTTPException) -> Response:
    return _html(c.SIGN_BAD_FORM, c.BAD_FORM)

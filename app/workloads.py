"""The workload routes' logic, shared by both flavours so they cannot drift apart.

What each route answers, its caps and defaults are declared in :mod:`app.content`; this module
holds the logic, in two layers:

* pure functions of parsed parameters, returning ``(status, content type, body)``:
  :func:`wait`, :func:`compute`, :func:`payload`, :func:`digest` (and :func:`cpu_sum`);
* one ``*_answer(environ)`` per route, which parses the request strictly (400
  ``BAD_PARAMETER`` for anything unusable, never a 500) and calls the pure function.  Both
  flavours call these after checking the method, so a parameter is parsed the same way in each.

:func:`route` maps a PATH_INFO to ``(methods, answer)``, or None if it is not a workload path.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import unquote_plus

from app import content as c
from app.signin import TOO_LARGE as FORM_TOO_LARGE
from app.signin import Rejected, read_form_body

Answer = tuple[int, str, bytes]
Handler = Callable[[dict], Answer]

BAD_PARAMETER: Answer = (c.WORKLOAD_BAD_REQUEST, c.HTML, c.BAD_PARAMETER)
BAD_BODY: Answer = (c.WORKLOAD_BAD_REQUEST, c.HTML, c.BAD_BODY)
TOO_LARGE: Answer = (c.UPLOAD_TOO_LARGE, c.HTML, c.TOO_LARGE)

#: The 32-bit linear congruential generator behind ``/cpu`` (the classic ANSI C ``rand`` constants).
LCG_MULTIPLIER, LCG_INCREMENT, LCG_SEED, MASK_32 = 1103515245, 12345, 1, 0xFFFFFFFF


class BadParameter(ValueError):
    """A request parameter that is malformed, repeated or out of range: the answer is 400."""


# --- pure functions: parsed parameters in, (status, content type, body) out ---------------------

def wait(ms: int) -> Answer:
    """Sleep ``ms`` milliseconds, as a database call waits, then say so.

    ``time.sleep`` is looked up at call time, so under a gevent-patched server the sleep yields
    to the worker's other requests, as a real I/O wait would.
    """
    time.sleep(ms / 1000)
    return 200, c.TEXT, c.io_body(ms)


def cpu_sum(n: int) -> int:
    """The sum, mod 2**32, of the first ``n`` values of the LCG (seed 1); pure Python, O(n)."""
    x, total = LCG_SEED, 0
    for _ in range(n):
        x = (x * LCG_MULTIPLIER + LCG_INCREMENT) & MASK_32
        total = (total + x) & MASK_32
    return total


def compute(n: int) -> Answer:
    """Burn about ``n / CPU_DEFAULT_N`` ms of one core and answer the deterministic result."""
    return 200, c.TEXT, c.cpu_body(n, cpu_sum(n))


def payload(kb: int) -> Answer:
    """``kb`` KiB of known bytes."""
    return 200, c.OCTETS, c.bytes_body(kb)


def digest(body: bytes) -> Answer:
    """The length and SHA-256 of an uploaded body, as JSON."""
    return 200, c.JSON, c.upload_body(len(body), hashlib.sha256(body).hexdigest())


# --- strict parsing -------------------------------------------------------------------------------

def parse_count(text: str, low: int, high: int) -> int:
    """An integer in ``low..high`` written as ASCII decimal digits only, else :class:`BadParameter`.

    Leading zeros are fine; signs, spaces, ``_``, non-ASCII digits are not.  The digit count is
    checked before ``int()``, so a hostile 5,000-digit value is refused without converting it.
    """
    if not (text.isascii() and text.isdigit()):
        raise BadParameter(f"not a decimal integer: {text[:20]!r}")
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(high)):
        raise BadParameter(f"out of range {low}..{high}")
    value = int(significant)
    if not low <= value <= high:
        raise BadParameter(f"{value} out of range {low}..{high}")
    return value


def query_value(query: str, name: str) -> str | None:
    """The one value of ``name`` in a query string (percent-decoded), None if absent.

    Other parameters are ignored; ``name`` given twice raises :class:`BadParameter`.  ``name``
    without ``=`` has the empty value (so it is 400 for a number, not the default).
    """
    values = []
    for field in query.split("&"):
        key, _, value = field.partition("=")
        if unquote_plus(key, errors="replace") == name:
            values.append(unquote_plus(value, errors="replace"))
    if len(values) > 1:
        raise BadParameter(f"{name} given {len(values)} times")
    return values[0] if values else None


def count_parameter(query: str, name: str, default: int, high: int, low: int = 0) -> int:
    """The integer parameter ``name`` of a query string, ``default`` if absent."""
    value = query_value(query, name)
    return default if value is None else parse_count(value, low, high)


def bytes_segment(path: str) -> str | None:
    """The ``<kb>`` of ``/bytes/<kb>``: a non-empty segment without ``/``; None for other paths."""
    if not path.startswith(c.BYTES_PREFIX):
        return None
    segment = path[len(c.BYTES_PREFIX):]
    return segment if segment and "/" not in segment else None


# --- one answer per route, from the WSGI environ --------------------------------------------------

def io_answer(environ: dict) -> Answer:
    try:
        ms = count_parameter(environ.get("QUERY_STRING", ""), "ms", c.IO_DEFAULT_MS, c.IO_MAX_MS)
    except BadParameter:
        return BAD_PARAMETER
    return wait(ms)


def cpu_answer(environ: dict) -> Answer:
    try:
        n = count_parameter(environ.get("QUERY_STRING", ""), "n", c.CPU_DEFAULT_N, c.CPU_MAX_N)
    except BadParameter:
        return BAD_PARAMETER
    return compute(n)


def bytes_answer(environ: dict) -> Answer:
    segment = bytes_segment(environ.get("PATH_INFO", ""))
    try:
        if segment is None:
            raise BadParameter("not a /bytes/<kb> path")
        kb = parse_count(segment, 1, c.BYTES_MAX_KB)
    except BadParameter:
        return BAD_PARAMETER
    return payload(kb)


def upload_answer(environ: dict) -> Answer:
    """Read the body with the sign-in's bounded reader (cap: ``UPLOAD_CAP``), then digest it."""
    try:
        body = read_form_body(environ, cap=c.UPLOAD_CAP)
    except Rejected as refusal:
        return TOO_LARGE if refusal.answer == FORM_TOO_LARGE else BAD_BODY
    return digest(body)


#: Fixed workload paths -> (methods, answer); ``/bytes/<kb>`` is matched by :func:`route`.
FIXED_ROUTES: dict[str, tuple[tuple[str, ...], Handler]] = {
    c.IO_PATH: (c.GET_METHODS, io_answer),
    c.CPU_PATH: (c.GET_METHODS, cpu_answer),
    c.UPLOAD_PATH: (c.UPLOAD_METHODS, upload_answer),
}


def route(path: str) -> tuple[tuple[str, ...], Handler] | None:
    """``(methods, answer)`` for a workload path, matched exactly; None if it is not one."""
    if path in FIXED_ROUTES:
        return FIXED_ROUTES[path]
    if bytes_segment(path) is not None:
        return c.GET_METHODS, bytes_answer
    return None

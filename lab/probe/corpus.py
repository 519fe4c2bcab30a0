"""Replay a folder of raw ``.http`` requests against a server and tally what it did with them.

The files are read as gunicorn's own test reader (``tests/treq.py``) reads its corpus: newlines in
the file are layout and dropped, and the escapes ``\\r\\n``, ``\\0``, ``\\n``, ``\\t`` and ``\\xHH``
written as text become those bytes.  A file's expectation comes from where it lies and what lies next to it:

* under a folder named ``invalid``: the server must refuse it (the app sees no request), unless
  its ``.py`` sets up a non-default gunicorn configuration (``cfg``);
* with a ``.py`` next to it assigning ``request`` a dict or list of dicts (gunicorn's format):
  the app must see that many requests with those methods and bodies;
* anything else, or a ``.py`` that sets up a non-default gunicorn configuration (``cfg``): no
  expectation, the answers are only shown side by side.

The ``.py`` files are read with :mod:`ast`, never executed.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re
from collections import Counter
from pathlib import Path

from lab.probe.client import NoReply, RawConnection, read_replies

FIRST_REPLY_S = 2.0
IDLE_S = 0.5
VALID, INVALID = "valid", "invalid"
HEX_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


@dataclasses.dataclass
class Entry:
    """One corpus file: its bytes and, when the corpus says, what a server should make of it."""

    name: str
    data: bytes
    expect: str | None  # "valid" | "invalid" | None
    requests: list[dict] | None = None  # valid: [{"method": ..., "body": bytes}, ...]


def unescape(raw: bytes) -> bytes:
    """gunicorn's ``treq`` reading: drop real newlines, turn the written escapes into bytes."""
    data = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\000").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    return HEX_ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), data)


def expected_requests(py: Path) -> list[dict] | None:
    """The ``request`` of a gunicorn expectation file as plain data, or None when it has none.

    ``uri("/x")`` calls become their argument; a file that configures gunicorn (``cfg``) describes
    a non-default setup, and a ``request`` that names an exception is an invalid file's: both None.
    """
    tree = ast.parse(py.read_text(encoding="utf-8"))
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    if "request" not in assigned or configures(tree):
        return None

    class Uri(ast.NodeTransformer):
        def visit_Call(self, node):
            return node.args[0] if isinstance(node.func, ast.Name) and node.func.id == "uri" else node

    try:
        value = ast.literal_eval(Uri().visit(assigned["request"]))
    except ValueError:
        return None
    value = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) and "method" in item for item in value):
        return None
    return [{"method": item["method"], "body": item.get("body", b"")} for item in value]


def configures(tree: ast.Module) -> bool:
    """Does a gunicorn expectation file set up a configuration of its own (``cfg``)?"""
    return any(isinstance(node, ast.Name) and node.id == "cfg" for node in ast.walk(tree))


def load(folder: Path) -> list[Entry]:
    """Every ``*.http`` under ``folder``, sorted by path, with its expectation."""
    entries = []
    for path in sorted(Path(folder).rglob("*.http")):
        relative = path.relative_to(folder)
        py = path.with_suffix(".py")
        if INVALID in relative.parts[:-1]:
            default = py.is_file() and configures(ast.parse(py.read_text(encoding="utf-8")))
            entries.append(Entry(str(relative), unescape(path.read_bytes()), None if default else INVALID))
            continue
        requests = expected_requests(py) if py.is_file() else None
        entries.append(Entry(str(relative), unescape(path.read_bytes()), VALID if requests else None, requests))
    return entries


def replay(entry: Entry, server) -> dict:
    """Send one file on a fresh connection; what came back, and whether it is what the corpus expects."""
    replies, ended = [], None
    wanted = len(entry.requests) if entry.requests else None
    try:
        with RawConnection(server.host, server.port, FIRST_REPLY_S) as conn:
            conn.send(entry.data)
            replies, ended = read_replies(conn, FIRST_REPLY_S, IDLE_S,
                                          lambda got: wanted is not None and len(got) >= wanted)
    except NoReply as exc:
        ended = exc
    echoes = [reply.echo() for reply in replies if reply.echo()]
    answers = [f"app {echo.get('method')}" for echo in echoes] or [str(r.status) for r in replies[:1]]
    kind = "accepted" if echoes else "rejected" if replies or (ended and ended.kind != "timeout") else "stalled"
    return {"file": entry.name, "expect": entry.expect, "kind": kind,
            "answers": answers or [ended.word() if ended else "nothing"],
            "as_expected": as_expected(entry, echoes)}


def as_expected(entry: Entry, echoes: list[dict]) -> bool | None:
    """Invalid: the app saw nothing.  Valid: the app saw each request's method and body, in order."""
    if entry.expect == INVALID:
        return not echoes
    if entry.expect != VALID:
        return None
    seen = [(echo.get("method"), echo.get("body_sha256")) for echo in echoes]
    want = [(item["method"], hashlib.sha256(item["body"]).hexdigest()) for item in entry.requests]
    return seen == want


def tally(results: list[dict]) -> dict:
    """Counts of one server's replay: as expected / not / no expectation, and by kind."""
    verdicts = Counter({True: "as_expected", False: "unexpected", None: "no_expectation"}[r["as_expected"]]
                       for r in results)
    return {"files": len(results), "as_expected": verdicts["as_expected"], "unexpected": verdicts["unexpected"],
            "no_expectation": verdicts["no_expectation"], "kinds": dict(Counter(r["kind"] for r in results))}

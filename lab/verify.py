"""Check every route of a running server before any load, as TechEmpower does.

A server whose answers differ from the application's (status, content type, length, body) is
recorded as failed with every problem found and is never measured: a broken server must not "win".
Differences that do not make an answer wrong (no ``Date`` or ``Server`` header) are kept as
warnings and shown in the report.
"""

from __future__ import annotations

import dataclasses
import http.client
import socket
import time

from app import content

TIMEOUT_S = 5.0


@dataclasses.dataclass(frozen=True)
class Expectation:
    """One request and the answer the application gives to it."""

    method: str
    path: str
    status: int
    body: bytes
    content_type: str | None = content.HTML
    form: bytes | None = None
    allow: str | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def form(username: str, password: str) -> bytes:
    return f"username={username}&password={password}".encode()


def expectations() -> list[Expectation]:
    """Every route of the application, and its error answers."""
    checks = [Expectation("GET", path, 200, body, ctype) for path, (body, ctype) in content.PAGES.items()]
    checks += [
        Expectation("HEAD", "/plaintext", 200, b"", content.TEXT),
        Expectation("POST", content.SIGN_PATH, content.SIGN_OK, content.GREETING,
                    form=form(content.USERNAME, content.PASSWORD)),
        Expectation("POST", content.SIGN_PATH, content.SIGN_REFUSED, content.BAD_CREDENTIALS,
                    form=form(content.USERNAME, "wrong")),
        Expectation("GET", "/no-such-page", 404, content.NOT_FOUND),
        Expectation("GET", content.SIGN_PATH, 405, content.METHOD_NOT_ALLOWED,
                    allow=", ".join(content.SIGN_METHODS)),
    ]
    return checks


@dataclasses.dataclass
class Verification:
    problems: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def send(host: str, port: int, check: Expectation) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    headers = {"Content-Type": content.FORM} if check.form is not None else {}
    conn.request(check.method, check.path, body=check.form, headers=headers)
    return conn.getresponse()


def compare(check: Expectation, response: http.client.HTTPResponse, body: bytes) -> list[str]:
    """Everything in one answer that differs from what the application sends."""
    problems = []
    if response.status != check.status:
        problems.append(f"status {response.status}, expected {check.status}")
    if check.content_type and response.getheader("Content-Type") != check.content_type:
        problems.append(f"Content-Type {response.getheader('Content-Type')!r}, expected {check.content_type!r}")
    if body != check.body:
        problems.append(f"body {body[:60]!r} differs from the expected {check.body[:60]!r}")
    length = response.getheader("Content-Length")
    expected_length = len(content.PAGES[check.path][0]) if check.method == "HEAD" else len(body)
    if length is None or not length.isdigit() or int(length) != expected_length:
        problems.append(f"Content-Length {length!r}, expected {expected_length}")
    if check.allow is not None and response.getheader("Allow") != check.allow:
        problems.append(f"Allow {response.getheader('Allow')!r}, expected {check.allow!r}")
    return [f"{check.label}: {problem}" for problem in problems]


def verify(host: str, port: int) -> Verification:
    """Send every expectation once, on a fresh connection each, and collect what differs."""
    result = Verification()
    for check in expectations():
        try:
            response = send(host, port, check)
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            result.problems.append(f"{check.label}: no valid answer ({exc.__class__.__name__}: {exc})")
            continue
        result.problems += compare(check, response, body)
        for header in ("Date", "Server"):
            note = f"no {header} header"
            if response.getheader(header) is None and note not in result.warnings:
                result.warnings.append(note)
    return result


def wait_until_answering(host: str, port: int, deadline: float, still_running) -> None:
    """Poll ``GET /plaintext`` until it answers, the deadline passes or the process dies."""
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pass
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/plaintext")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            if not still_running():
                raise TimeoutError("exited before answering") from None
            if time.monotonic() > deadline:
                raise TimeoutError("did not answer before the start timeout") from None
            time.sleep(0.1)

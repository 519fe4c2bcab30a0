"""Check every route of a running server before any load, as TechEmpower does.

A server whose answers differ from the application's (status, content type, length, body) is
recorded as failed with every problem found and is never measured: a broken server must not "win".
Differences that do not make an answer wrong (no ``Date`` or ``Server`` header) are kept as
warnings and shown in the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
    #: A request body sent as ``application/octet-stream`` (``form`` is sent as a form instead).
    data: bytes | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


#: The body ``POST /upload`` is checked with: 4 KiB holding every byte value, so a server that
#: mangles any byte (or stops early) changes the SHA-256.
UPLOAD_SAMPLE = bytes(range(256)) * 16
#: A short ``/io`` wait and a second ``/cpu`` size besides the default, to keep verify fast.
VERIFY_IO_MS = 5
VERIFY_CPU_N = 1000


def workload_expectations() -> list[Expectation]:
    """The workload routes, each once with a known answer, and one error each."""
    default_n = content.CPU_DEFAULT_N
    upload_answer = content.upload_body(len(UPLOAD_SAMPLE), hashlib.sha256(UPLOAD_SAMPLE).hexdigest())
    return [
        Expectation("GET", f"{content.IO_PATH}?ms={VERIFY_IO_MS}", 200, content.io_body(VERIFY_IO_MS),
                    content.TEXT),
        Expectation("GET", f"{content.IO_PATH}?ms=abc", 400, content.BAD_PARAMETER),
        Expectation("GET", content.CPU_PATH, 200,
                    content.cpu_body(default_n, content.CPU_KNOWN_SUMS[default_n]), content.TEXT),
        Expectation("GET", f"{content.CPU_PATH}?n={VERIFY_CPU_N}", 200,
                    content.cpu_body(VERIFY_CPU_N, content.CPU_KNOWN_SUMS[VERIFY_CPU_N]), content.TEXT),
        Expectation("GET", f"{content.CPU_PATH}?n={content.CPU_MAX_N + 1}", 400, content.BAD_PARAMETER),
        Expectation("GET", f"{content.BYTES_PREFIX}1", 200, content.bytes_body(1), content.OCTETS),
        Expectation("GET", f"{content.BYTES_PREFIX}64", 200, content.bytes_body(64), content.OCTETS),
        Expectation("GET", f"{content.BYTES_PREFIX}0", 400, content.BAD_PARAMETER),
        Expectation("POST", content.UPLOAD_PATH, 200, upload_answer, content.JSON, data=UPLOAD_SAMPLE),
        Expectation("GET", content.UPLOAD_PATH, 405, content.METHOD_NOT_ALLOWED,
                    allow=", ".join(content.UPLOAD_METHODS)),
    ]


def expectations() -> list[Expectation]:
    """Every route of the application, and its error answers."""
    checks = [Expectation("GET", path, 200, body, ctype) for path, (body, ctype) in content.PAGES.items()]
    checks += [
        Expectation("HEAD", "/plaintext", 200, b"", content.TEXT),
        Expectation("POST", content.SIGN_PATH, content.SIGN_OK, content.GREETING,
                    form=content.sign_in_form()),
        Expectation("POST", content.SIGN_PATH, content.SIGN_REFUSED, content.BAD_CREDENTIALS,
                    form=content.sign_in_form(password="wrong")),
        Expectation("GET", "/no-such-page", 404, content.NOT_FOUND),
        Expectation("GET", content.SIGN_PATH, 405, content.METHOD_NOT_ALLOWED,
                    allow=", ".join(content.SIGN_METHODS)),
    ]
    return checks + workload_expectations()


@dataclasses.dataclass
class Verification:
    problems: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def send(host: str, port: int, check: Expectation) -> tuple[http.client.HTTPResponse, bytes]:
    """One request on its own connection, closed afterwards (an idle keep-alive connection left
    open would hold up a graceful shutdown of the server)."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
    body, headers = None, {}
    if check.form is not None:
        body, headers = check.form, {"Content-Type": content.FORM}
    elif check.data is not None:
        body, headers = check.data, {"Content-Type": content.OCTETS}
    try:
        conn.request(check.method, check.path, body=body, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


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
            response, body = send(host, port, check)
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
            try:
                conn.request("GET", "/plaintext")
                conn.getresponse().read()
            finally:
                conn.close()
            return
        except (OSError, http.client.HTTPException):
            if not still_running():
                raise TimeoutError("exited before answering") from None
            if time.monotonic() > deadline:
                raise TimeoutError("did not answer before the start timeout") from None
            time.sleep(0.1)

"""Every scenario as data: the requests it sends and the exact answers it expects.

Declared once, with no locust import, so that each load generator reads the same plan: the lean
locust client (``loadtests.lean``), locust's ``FastHttpUser`` (``loadtests.scenarios``) and wrk's
generated Lua scripts (``lab.wrk.script``).  A scenario is a list of weighted *flows*; a flow is a
sequence of *steps* a user runs in order (sign-in fetches the form, then posts it); a user picks
its next flow by weight.  Every expected answer comes from ``app.content``, the app's own bytes.

The workload scenarios make each request cost something on the server: ``io`` waits like a
database call (``GET /io?ms=20``), ``cpu`` burns about 1 ms of CPU (``GET /cpu``), ``large``
downloads 64 KiB (``GET /bytes/64``) and ``upload`` posts 64 KiB (``POST /upload``).
"""

from __future__ import annotations

import dataclasses
import hashlib

from app import content


@dataclasses.dataclass(frozen=True)
class Step:
    """One request and the one answer that counts as a success."""

    method: str
    path: str
    status: int
    body: bytes
    data: bytes = b""  # the request body
    content_type: str | None = None  # of the request body

    @property
    def headers(self) -> dict[str, str]:
        """Request headers beyond Host (and the Content-Length every client adds for a body)."""
        return {"Content-Type": self.content_type} if self.content_type else {}


@dataclasses.dataclass(frozen=True)
class Flow:
    """Steps one user runs in a row, picked ``weight`` times in ``sum(weights)``."""

    name: str
    steps: tuple[Step, ...]
    weight: int = 1


def page(path: str) -> Step:
    return Step("GET", path, 200, content.PAGES[path][0])


SIGN_IN_FORM = content.sign_in_form()
SIGN = Step("POST", content.SIGN_PATH, content.SIGN_OK, content.GREETING, SIGN_IN_FORM, content.FORM)

IO_MS = 20
IO_PATH = f"{content.IO_PATH}?ms={IO_MS}"
CPU_ANSWER = content.cpu_body(content.CPU_DEFAULT_N, content.CPU_KNOWN_SUMS[content.CPU_DEFAULT_N])
LARGE_KB = 64
LARGE_PATH = f"{content.BYTES_PREFIX}{LARGE_KB}"
LARGE_BODY = content.bytes_body(LARGE_KB)
#: A fixed 64 KiB upload: every byte value, repeated, so a corrupted byte changes the digest.
UPLOAD = bytes(range(256)) * 256
UPLOAD_ANSWER = content.upload_body(len(UPLOAD), hashlib.sha256(UPLOAD).hexdigest())

PLAINTEXT = Flow("plaintext", (page("/plaintext"),))
JSON = Flow("json", (page("/json"),))
HOME = Flow("home", (page("/"),))
#: The classic sample's flow: fetch the form, post the credentials, read the greeting.
SIGNIN = Flow("signin", (page("/signin"), SIGN))

SCENARIOS: dict[str, tuple[Flow, ...]] = {
    "plaintext": (PLAINTEXT,),
    "json": (JSON,),
    "home": (HOME,),
    "signin": (SIGNIN,),
    # A weighted blend: mostly the cheap API paths, some pages and sign-ins.
    "mixed": (dataclasses.replace(PLAINTEXT, weight=4), dataclasses.replace(JSON, weight=3),
              dataclasses.replace(HOME, weight=2), SIGNIN),
    "io": (Flow("io", (Step("GET", IO_PATH, 200, content.io_body(IO_MS)),)),),
    "cpu": (Flow("cpu", (Step("GET", content.CPU_PATH, 200, CPU_ANSWER),)),),
    "large": (Flow("large", (Step("GET", LARGE_PATH, 200, LARGE_BODY),)),),
    "upload": (Flow("upload", (Step("POST", content.UPLOAD_PATH, 200, UPLOAD_ANSWER, UPLOAD,
                                    content.OCTETS),)),),
}


def steps(scenario: str) -> list[Step]:
    """The scenario's distinct requests, in the order its flows first send them."""
    seen: list[Step] = []
    for flow in SCENARIOS[scenario]:
        seen.extend(step for step in flow.steps if step not in seen)
    return seen


def schedule(scenario: str) -> list[Step]:
    """One weighted cycle of the scenario's requests (mixed: 4 plaintext, 3 json, 2 home, 1 sign-in
    of two requests), which is what wrk sends in turn."""
    return [step for flow in SCENARIOS[scenario] for _ in range(flow.weight) for step in flow.steps]

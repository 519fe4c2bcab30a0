"""The locust scenarios, one ``FastHttpUser`` class each, registered in ``SCENARIOS``.

Users run a closed loop with no wait time: each user sends its next request as soon as the last
one is answered, so ``--users`` is the number of requests in flight.  Every answer is checked
against the application's own bytes (``app.content``); a wrong status or body counts as a failure,
never as a fast success.  Adding a scenario is adding a class, one line in ``SCENARIOS`` and its
name in ``loadtests.NAMES`` (a test checks they agree).

The workload scenarios make each request cost something on the server: ``io`` waits like a
database call (``GET /io?ms=20``), ``cpu`` burns about 1 ms of CPU (``GET /cpu``), ``large``
downloads 64 KiB (``GET /bytes/64``) and ``upload`` posts 64 KiB (``POST /upload``).
"""

import hashlib

from locust import FastHttpUser, constant, task

from app import content

SIGN_IN_FORM = content.sign_in_form()

IO_MS = 20
IO_PATH = f"{content.IO_PATH}?ms={IO_MS}"
CPU_ANSWER = content.cpu_body(content.CPU_DEFAULT_N, content.CPU_KNOWN_SUMS[content.CPU_DEFAULT_N])
LARGE_KB = 64
LARGE_PATH = f"{content.BYTES_PREFIX}{LARGE_KB}"
LARGE_BODY = content.bytes_body(LARGE_KB)
#: A fixed 64 KiB upload: every byte value, repeated, so a corrupted byte changes the digest.
UPLOAD = bytes(range(256)) * 256
UPLOAD_ANSWER = content.upload_body(len(UPLOAD), hashlib.sha256(UPLOAD).hexdigest())


def expect(client, method: str, path: str, status: int, body: bytes, **kwargs) -> None:
    """Send one request and mark it failed unless status and body are exactly the app's."""
    with client.request(method, path, catch_response=True, **kwargs) as response:
        if response.status_code != status:
            response.failure(f"status {response.status_code}, expected {status}")
        elif response.content != body:
            response.failure(f"body of {len(response.content or b'')} bytes differs from the app's "
                             f"({len(body)} bytes expected)")
        else:
            response.success()


def get_page(client, path: str) -> None:
    expect(client, "GET", path, 200, content.PAGES[path][0])


def sign_in(client) -> None:
    """The classic sample's flow: fetch the form, post the credentials, read the greeting."""
    get_page(client, "/signin")
    expect(client, "POST", content.SIGN_PATH, content.SIGN_OK, content.GREETING, data=SIGN_IN_FORM,
           headers={"Content-Type": content.FORM})


class LabUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)


class PlaintextUser(LabUser):
    @task
    def plaintext(self):
        get_page(self.client, "/plaintext")


class JsonUser(LabUser):
    @task
    def json(self):
        get_page(self.client, "/json")


class HomeUser(LabUser):
    @task
    def home(self):
        get_page(self.client, "/")


class SigninUser(LabUser):
    @task
    def signin(self):
        sign_in(self.client)


class MixedUser(LabUser):
    """A weighted blend: mostly the cheap API paths, some pages and sign-ins."""

    @task(4)
    def plaintext(self):
        get_page(self.client, "/plaintext")

    @task(3)
    def json(self):
        get_page(self.client, "/json")

    @task(2)
    def home(self):
        get_page(self.client, "/")

    @task(1)
    def signin(self):
        sign_in(self.client)


class IoUser(LabUser):
    """Each request waits 20 ms on the server, as for a database call: tests concurrency, not CPU."""

    @task
    def io(self):
        expect(self.client, "GET", IO_PATH, 200, content.io_body(IO_MS))


class CpuUser(LabUser):
    """Each request burns about 1 ms of pure-Python CPU on the server."""

    @task
    def cpu(self):
        expect(self.client, "GET", content.CPU_PATH, 200, CPU_ANSWER)


class LargeUser(LabUser):
    """Each answer is 64 KiB of known bytes, checked whole (length and content)."""

    @task
    def large(self):
        expect(self.client, "GET", LARGE_PATH, 200, LARGE_BODY)


class UploadUser(LabUser):
    """Each request posts the same 64 KiB; the server's length and SHA-256 must match."""

    @task
    def upload(self):
        expect(self.client, "POST", content.UPLOAD_PATH, 200, UPLOAD_ANSWER, data=UPLOAD,
               headers={"Content-Type": content.OCTETS})


SCENARIOS = {
    "plaintext": PlaintextUser,
    "json": JsonUser,
    "home": HomeUser,
    "signin": SigninUser,
    "mixed": MixedUser,
    "io": IoUser,
    "cpu": CpuUser,
    "large": LargeUser,
    "upload": UploadUser,
}

"""The locust scenarios, one ``FastHttpUser`` class each, registered in ``SCENARIOS``.

Users run a closed loop with no wait time: each user sends its next request as soon as the last
one is answered, so ``--users`` is the number of requests in flight.  Every answer is checked
against the application's own bytes (``app.content``); a wrong status or body counts as a failure,
never as a fast success.  Adding a scenario is adding a class and one line in ``SCENARIOS``.
"""

from locust import FastHttpUser, constant, task

from app import content

SIGN_IN_FORM = f"username={content.USERNAME}&password={content.PASSWORD}".encode()


def expect(client, method: str, path: str, status: int, body: bytes, **kwargs) -> None:
    """Send one request and mark it failed unless status and body are exactly the app's."""
    with client.request(method, path, catch_response=True, **kwargs) as response:
        if response.status_code != status:
            response.failure(f"status {response.status_code}, expected {status}")
        elif response.content != body:
            response.failure(f"body of {len(response.content or b'')} bytes differs from the app's")
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


SCENARIOS = {
    "plaintext": PlaintextUser,
    "json": JsonUser,
    "home": HomeUser,
    "signin": SigninUser,
    "mixed": MixedUser,
}

"""locust user classes for every scenario of ``loadtests.catalog``, one per client.

The scenarios are data (``catalog.SCENARIOS``); a small adapter per client runs them:

* ``lean`` (the default): ``loadtests.lean``, raw HTTP/1.1 over gevent sockets;
* ``fasthttp``: locust's ``FastHttpUser``, kept to compare against and as a reference.

Users run a closed loop with no wait time: each user sends its next request as soon as the last
one is answered, so ``--users`` is the number of requests in flight.  Every answer is checked
against the application's own bytes; a wrong status or body counts as a failure, never as a fast
success.  With a pace (``paced``), each request waits for its intended start (``loadtests.pacing``)
and carries ``intended_start`` and ``lateness_ms`` in its context.

``SCENARIOS[client][scenario]`` is the user class; adding a scenario is adding it to the catalog
and its name to ``loadtests.NAMES`` (a test checks they agree).
"""

from __future__ import annotations

import time

import gevent
from locust import FastHttpUser, User, constant

from loadtests import catalog
from loadtests.lean import LeanSession
from loadtests.pacing import Pacer

CLIENTS = ("lean", "fasthttp")


class FlowUser:
    """What both clients share: run a flow's steps in order, each on its own intended start."""

    abstract = True
    wait_time = constant(0)
    pace_s: float | None = None  # seconds between one user's intended starts; None = closed loop

    def on_start(self):
        self.pacer = Pacer(self.pace_s, time.perf_counter()) if self.pace_s else None

    def run_flow(self, flow: catalog.Flow) -> None:
        for step in flow.steps:
            self.send(step, self.wait_for_slot())

    def wait_for_slot(self) -> dict:
        """Sleep until this request's intended start; its context says how late it starts."""
        if self.pacer is None:
            return {}
        intended = self.pacer.claim()
        delay = intended - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        return {"intended_start": intended, "lateness_ms": max(0.0, -delay * 1000)}

    def send(self, step: catalog.Step, context: dict) -> None:
        raise NotImplementedError


class LeanUser(FlowUser, User):
    abstract = True

    def on_start(self):
        super().on_start()
        self.session = LeanSession(self.host, self.environment.events)

    def on_stop(self):
        self.session.close()

    def send(self, step: catalog.Step, context: dict) -> None:
        self.session.send(step, context)


class FastUser(FlowUser, FastHttpUser):
    abstract = True

    def send(self, step: catalog.Step, context: dict) -> None:
        """Mark the request failed unless status and body are exactly the app's."""
        with self.client.request(step.method, step.path, catch_response=True, data=step.data or None,
                                 headers=step.headers, context=context) as response:
            if response.status_code != step.status:
                response.failure(f"status {response.status_code}, expected {step.status}")
            elif response.content != step.body:
                response.failure(f"body of {len(response.content or b'')} bytes differs from the app's "
                                 f"({len(step.body)} bytes expected)")
            else:
                response.success()


BASES = {"lean": LeanUser, "fasthttp": FastUser}


def flow_task(flow: catalog.Flow):
    def task(user):
        user.run_flow(flow)

    task.__name__ = flow.name
    return task


def user_class(scenario: str, client: str) -> type:
    """``PlaintextLeanUser``, ``SigninFastHttpUser``...: one concrete class per scenario and client,
    named uniquely so that locust workers find the class a master asks for."""
    name = f"{scenario.capitalize()}{'Lean' if client == 'lean' else 'FastHttp'}User"
    tasks = {flow_task(flow): flow.weight for flow in catalog.SCENARIOS[scenario]}
    return type(name, (BASES[client],), {"tasks": tasks, "abstract": False, "__module__": __name__})


def paced(user_class: type, interval_s: float) -> type:
    """The same user, sending one request every ``interval_s`` (the rate divided by the users)."""
    return type(user_class.__name__, (user_class,), {"pace_s": interval_s, "__module__": __name__})


SCENARIOS = {client: {scenario: user_class(scenario, client) for scenario in catalog.SCENARIOS}
             for client in CLIENTS}

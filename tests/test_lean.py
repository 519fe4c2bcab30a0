"""The lean client against real servers: exact success and failure counts, reconnects, pacing.

Each case runs in a subprocess (``import locust`` patches the process with gevent) that sends a
fixed number of flows through ``loadtests.lean`` and counts what locust's own ``request`` event
saw: no timing is asserted, only counts, reasons and the pacer's schedule.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
SESSIONS, FLOWS = 3, 10  # signin: 2 requests a flow, so 60 requests per case

DRIVER = textwrap.dedent("""
    import json, sys
    import gevent
    from locust.env import Environment
    from gevent.server import StreamServer
    from loadtests import catalog
    from loadtests.lean import SILENT_CLOSE_RETRY, LeanSession

    url, scenario, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    kind = url
    steps = {step.path: step for flow in catalog.SCENARIOS[scenario] for step in flow.steps}
    # the app's answer to one request, in HTTP/1.1 without Connection: close; then, once the client
    # has sent its next request on the connection, a close with no answer (a FIN: all was read)
    def answer_once(sock):
        step = steps[sock.recv(65536).split(b" ")[1].decode()]
        sock.sendall(b"HTTP/1.1 %%d OK\\r\\nContent-Length: %%d\\r\\n\\r\\n" %% (step.status, len(step.body)) + step.body)
        sock.recv(65536)
    if kind in ("closed", "silent", "once"):  # a raw server that reads the request, then closes,
        def handle(sock, address):           # never answers, or answers once then closes
            if kind == "once":
                answer_once(sock)
            else:
                sock.recv(65536)
            if kind == "silent":
                gevent.sleep(30)
            sock.close()
        server = StreamServer(("127.0.0.1", 0), handle)
        server.start()
        url = f"http://127.0.0.1:{server.server_port}"
    env = Environment()
    seen = {"ok": 0, "failures": {}, "retries": 0}
    def record(name, exception=None, context=None, **_):
        seen["retries"] += SILENT_CLOSE_RETRY in context
        if exception is None:
            seen["ok"] += 1
        else:
            kind = f"{name}: {type(exception).__name__}: {exception}"
            seen["failures"][kind] = seen["failures"].get(kind, 0) + 1
    env.events.request.add_listener(record)
    sessions = [LeanSession(url, env.events, timeout) for _ in range(%(sessions)d)]
    def user(session):
        for _ in range(%(flows)d):
            for flow in catalog.SCENARIOS[scenario]:
                for step in flow.steps:
                    session.send(step, {})
    gevent.joinall([gevent.spawn(user, s) for s in sessions], timeout=120, raise_error=True)
    seen["opened"] = sum(s.connection.opened for s in sessions)
    print(json.dumps(seen))
""" % {"sessions": SESSIONS, "flows": FLOWS})


def drive(url: str, scenario: str = "signin", timeout: float = 10.0) -> dict:
    done = subprocess.run([sys.executable, "-c", DRIVER, url, scenario, str(timeout)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name, connections", [
    ("bjoern", SESSIONS),  # keep-alive: one connection per user
    ("gunicorn", SESSIONS * FLOWS * 2),  # sync worker: Connection: close, a new one per request
    ("wsgiref", SESSIONS * FLOWS * 2),  # HTTP/1.0: closes after every answer
])
def test_every_answer_counts_once_and_closing_servers_are_reconnected(serve, name, connections):
    seen = drive(serve(name))
    assert seen == {"ok": SESSIONS * FLOWS * 2, "failures": {}, "opened": connections, "retries": 0}


def test_a_wrong_body_is_a_failure_with_its_reason(serve):
    seen = drive(serve("bjoern", "tests.fixtureapps.wrong_body:application"))
    assert seen["ok"] == 0
    assert seen["failures"] == {
        "/signin: AnswerError: body of 13 bytes differs from the app's (259 bytes expected)": SESSIONS * FLOWS,
        "/sign: AnswerError: body of 13 bytes differs from the app's (21 bytes expected)": SESSIONS * FLOWS,
    }


def test_a_close_before_the_answer_is_a_failure_and_the_next_request_reconnects():
    seen = drive("closed", scenario="plaintext")
    assert seen["ok"] == 0
    assert seen["failures"] == {"/plaintext: ConnectionResetError: the server closed the connection before a "
                                "whole answer": SESSIONS * FLOWS}
    assert seen["opened"] == SESSIONS * FLOWS
    assert seen["retries"] == 0  # a new connection closed before an answer is not sent again


def test_a_get_on_a_kept_alive_connection_uwsgi_closed_is_sent_again_once(serve):
    """uWSGI's --http-socket answers HTTP/1.1 without Connection: close, then closes: every request
    after a user's first finds its connection closed, is sent again on a new one, and succeeds."""
    seen = drive(serve("uwsgi"), scenario="plaintext")
    assert seen == {"ok": SESSIONS * FLOWS, "failures": {}, "retries": SESSIONS * (FLOWS - 1),
                    "opened": SESSIONS * FLOWS}


def test_a_post_on_a_kept_alive_connection_closed_silently_is_not_sent_again():
    """Sign-in is GET then POST: the GET, on a new connection, is answered; the POST, on that kept-alive
    connection the server then closes, fails (not idempotent); the next GET opens a new connection."""
    seen = drive("once", scenario="signin")
    assert seen == {"ok": SESSIONS * FLOWS, "retries": 0, "opened": SESSIONS * FLOWS, "failures": {
        "/sign: ConnectionResetError: the server closed the connection before a whole answer": SESSIONS * FLOWS}}


def test_a_get_on_a_kept_alive_connection_closed_silently_is_sent_again_once():
    """The same with the raw server that answers once per connection, which closes deterministically
    after the next request was read: each GET after a user's first is sent twice, and succeeds."""
    seen = drive("once", scenario="plaintext")
    assert seen == {"ok": SESSIONS * FLOWS, "failures": {}, "retries": SESSIONS * (FLOWS - 1),
                    "opened": SESSIONS * FLOWS}


def test_no_answer_is_a_timeout_failure():
    seen = drive("silent", scenario="plaintext", timeout=0.5)
    assert seen["ok"] == 0
    assert seen["failures"] == {"/plaintext: TimeoutError: no whole answer within 0.5 s": SESSIONS * FLOWS}


PACED = textwrap.dedent("""
    import json, sys
    import gevent
    from locust.env import Environment
    from loadtests.scenarios import SCENARIOS, paced

    url, client = sys.argv[1], sys.argv[2]
    starts = []
    env = Environment(user_classes=[paced(SCENARIOS[client]["signin"], interval_s=0.02)], host=url)
    env.events.request.add_listener(lambda context=None, **_: starts.append(context["intended_start"]))
    runner = env.create_local_runner()
    runner.start(1, spawn_rate=1)
    deadline = gevent.get_hub().loop.now() + 30
    while len(starts) < 20 and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.05)
    runner.quit()
    print(json.dumps(starts[:20]))
""")


@pytest.mark.parametrize("client", ["lean", "fasthttp"])
def test_rate_paces_every_request_not_every_task(serve, client):
    """Sign-in sends two requests a task: each must get its own slot on the schedule, so one user
    at 0.02 s per request has intended starts exactly 0.02 s apart, GET and POST alike."""
    url = serve("bjoern")
    done = subprocess.run([sys.executable, "-c", PACED, url, client], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    starts = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(starts) == 20
    assert [round(b - a, 9) for a, b in zip(starts, starts[1:])] == [0.02] * 19


def test_distributed_window_counts_only_what_workers_saw_complete_inside_it(serve, tmp_path):
    """A master and two workers: the figures are the workers' own windows, opened after the warm-up
    and closed at the end, and every request counted completed inside its worker's window."""
    url = serve("bjoern")
    workers = [subprocess.Popen([sys.executable, "-m", "lab.locust_worker", "--once", "--master-host", "127.0.0.1"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        master = subprocess.run(
            [sys.executable, "-m", "lab.locust_child", "--host", url, "--scenario", "signin", "--users", "4",
             "--warmup", "1", "--duration", "1", "--summary", str(tmp_path / "summary.json"),
             "--csv-prefix", str(tmp_path / "locust"), "--expect-workers", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert master.returncode == 0, master.stderr[-2000:]
    finally:
        for worker in workers:
            worker.wait(timeout=30)
    summary = json.loads((tmp_path / "summary.json").read_text())
    windows = summary["windows"]
    assert len(windows) == 2
    assert summary["requests"] == sum(w["requests"] for w in windows) > 0
    assert summary["failures"] == 0
    for window in windows:
        assert window["requests"] > 0
        assert window["opened"] <= window["first_done"] <= window["last_done"] <= window["closed"]
        assert window["opened"] >= summary["measure_start"] - 1  # opened by the master, after the warm-up

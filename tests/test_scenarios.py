"""The scenarios agree with ``loadtests.NAMES`` and with the application's answers, for both clients.

``import locust`` monkey-patches the importing process with gevent, so ``loadtests.scenarios`` is
only ever imported in a subprocess here; this process imports the locust-free modules alone
(``loadtests``, ``loadtests.catalog``, ``loadtests.pacing``).
"""

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import loadtests
from app import content, workloads
from loadtests import catalog
from loadtests.pacing import Pacer

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent("""
    import json
    from locust import FastHttpUser, User
    from loadtests import scenarios as s

    print(json.dumps({
        "clients": {client: list(users) for client, users in s.SCENARIOS.items()},
        "fast_http": all(issubclass(u, FastHttpUser) for u in s.SCENARIOS["fasthttp"].values()),
        "lean": all(issubclass(u, User) and not issubclass(u, FastHttpUser) for u in s.SCENARIOS["lean"].values()),
        "abstract": [u.__name__ for users in s.SCENARIOS.values() for u in users.values() if u.abstract],
        "names": sorted(u.__name__ for users in s.SCENARIOS.values() for u in users.values()),
        "mixed_tasks": sorted(task.__name__ for task in s.SCENARIOS["lean"]["mixed"].tasks),
    }))
""")


@pytest.fixture(scope="module")
def probed() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_locust_is_not_imported_here():
    assert "locust" not in sys.modules
    assert "loadtests.scenarios" not in sys.modules


def test_scenarios_are_exactly_the_names_for_both_clients(probed):
    assert list(catalog.SCENARIOS) == list(loadtests.NAMES)
    assert probed["clients"] == {"lean": list(loadtests.NAMES), "fasthttp": list(loadtests.NAMES)}
    assert len(set(loadtests.NAMES)) == len(loadtests.NAMES)


def test_default_is_the_original_five_and_a_subset():
    assert loadtests.DEFAULT == ("plaintext", "json", "home", "signin", "mixed")
    assert set(loadtests.NAMES) - set(loadtests.DEFAULT) == {"io", "cpu", "large", "upload"}


def test_every_scenario_is_a_concrete_class_of_its_client_with_a_unique_name(probed):
    assert probed["fast_http"] and probed["lean"]
    assert probed["abstract"] == []
    assert len(set(probed["names"])) == 2 * len(loadtests.NAMES)  # workers find classes by name


def test_mixed_keeps_the_weights_and_sign_in_posts_after_the_form(probed):
    # locust expands {task: weight} into repeated entries.
    assert probed["mixed_tasks"] == sorted(["plaintext"] * 4 + ["json"] * 3 + ["home"] * 2 + ["signin"])
    assert [(s.method, s.path) for s in catalog.SIGNIN.steps] == [("GET", "/signin"), ("POST", "/sign")]
    cycle = catalog.schedule("mixed")
    assert len(cycle) == 11 and [s.path for s in cycle].count("/plaintext") == 4
    assert catalog.steps("mixed") == [catalog.page("/plaintext"), catalog.page("/json"), catalog.page("/"),
                                      catalog.page("/signin"), catalog.SIGN]


def test_every_expected_answer_is_the_apps():
    assert catalog.SIGN.body == content.GREETING and catalog.SIGN.data == content.sign_in_form()
    io = catalog.SCENARIOS["io"][0].steps[0]
    assert io.path == "/io?ms=20" and workloads.wait(20) == (200, content.TEXT, io.body)
    assert workloads.compute(content.CPU_DEFAULT_N)[2] == catalog.CPU_ANSWER
    assert catalog.LARGE_PATH == "/bytes/64" and workloads.payload(64)[2] == catalog.LARGE_BODY
    assert len(catalog.LARGE_BODY) == 65536
    assert workloads.digest(catalog.UPLOAD)[2] == catalog.UPLOAD_ANSWER
    assert json.loads(catalog.UPLOAD_ANSWER) == {"length": 65536,
                                                 "sha256": hashlib.sha256(catalog.UPLOAD).hexdigest()}


def test_pacer_gives_every_request_its_own_slot():
    pacer = Pacer(0.25, now=100.0)
    first = pacer.claim()
    assert 100.0 <= first <= 100.25
    assert [pacer.claim() - first for _ in range(3)] == [0.25, 0.5, 0.75]

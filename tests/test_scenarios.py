"""The locust scenarios agree with ``loadtests.NAMES`` and with the application's answers.

``import locust`` monkey-patches the importing process with gevent, so ``loadtests.scenarios`` is
only ever imported in a subprocess here; this process imports ``loadtests`` (no locust) alone.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import loadtests

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent("""
    import hashlib, json
    from locust import FastHttpUser
    from app import content, workloads
    from loadtests import scenarios as s

    print(json.dumps({
        "keys": list(s.SCENARIOS),
        "fast_http": all(issubclass(user, FastHttpUser) for user in s.SCENARIOS.values()),
        "abstract": [name for name, user in s.SCENARIOS.items() if getattr(user, "abstract", False)],
        "tasks": {name: len(user.tasks) for name, user in s.SCENARIOS.items()},
        "mixed_tasks": sorted(task.__name__ for task in s.MixedUser.tasks),
        "io_path": s.IO_PATH,
        "io_answer_ok": workloads.wait(s.IO_MS) == (200, content.TEXT, content.io_body(s.IO_MS)),
        "cpu_answer_ok": workloads.compute(content.CPU_DEFAULT_N)[2] == s.CPU_ANSWER,
        "large_path": s.LARGE_PATH,
        "large_ok": workloads.payload(64)[2] == s.LARGE_BODY and len(s.LARGE_BODY) == 65536,
        "upload_size": len(s.UPLOAD),
        "upload_ok": workloads.digest(s.UPLOAD)[2] == s.UPLOAD_ANSWER,
        "upload_json": json.loads(s.UPLOAD_ANSWER),
        "upload_sha256": hashlib.sha256(s.UPLOAD).hexdigest(),
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


def test_scenarios_are_exactly_the_names(probed):
    assert probed["keys"] == list(loadtests.NAMES)
    assert len(set(loadtests.NAMES)) == len(loadtests.NAMES)


def test_default_is_the_original_five_and_a_subset():
    assert loadtests.DEFAULT == ("plaintext", "json", "home", "signin", "mixed")
    assert set(loadtests.DEFAULT) < set(loadtests.NAMES)
    assert set(loadtests.NAMES) - set(loadtests.DEFAULT) == {"io", "cpu", "large", "upload"}


def test_every_scenario_is_a_concrete_fast_http_user(probed):
    assert probed["fast_http"]
    assert probed["abstract"] == []
    assert all(count >= 1 for count in probed["tasks"].values())


def test_mixed_keeps_home_the_sign_in_form_and_sign(probed):
    # locust expands @task(weight) into repeated entries; the sign-in task fetches /signin and posts /sign.
    assert set(probed["mixed_tasks"]) == {"plaintext", "json", "home", "signin"}


def test_workload_scenarios_expect_the_app_answers(probed):
    assert probed["io_path"] == "/io?ms=20"
    assert probed["io_answer_ok"]
    assert probed["cpu_answer_ok"]
    assert probed["large_path"] == "/bytes/64"
    assert probed["large_ok"]
    assert probed["upload_size"] == 64 * 1024
    assert probed["upload_ok"]
    assert probed["upload_json"] == {"length": 65536, "sha256": probed["upload_sha256"]}
